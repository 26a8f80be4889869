// cce_common.cuh — device helpers shared by the CCE kernels: element types,
// target loading and warp/block reductions. The loss and gradient arithmetic
// itself comes from shared/cce_math.h, the same code the CPU backend runs.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cce/cce_launch.cuh"
#include "ops/cce/cce_math.h"
#include "shared/half.h"

namespace engram::kernels {

// Element types of e, c and bias: storage type and conversion to fp32.
struct F32 {
    using T = float;
    static constexpr int kDtype = kF32;
    __device__ static float to_f32(float x) { return x; }
};

struct BF16 {
    using T = uint16_t;
    static constexpr int kDtype = kBF16;
    __device__ static float to_f32(uint16_t x) { return bf16_to_f32(x); }
    __device__ static uint16_t from_f32(float x) { return f32_to_bf16(x); }
};

struct F16 {
    using T = uint16_t;
    static constexpr int kDtype = kF16;
    __device__ static float to_f32(uint16_t x) { return f16_to_f32(x); }
    __device__ static uint16_t from_f32(float x) { return f32_to_f16(x); }
};

// 16-byte vector loads of e and c are allowed when every row starts on a
// 16-byte boundary: d a multiple of 16 bytes' worth of elements and both base
// pointers aligned. Otherwise the tiles load element by element.
inline bool use_vec_loads(const CceDev& p) {
    const int per_16_bytes = p.dtype == kF32 ? 4 : 8;
    const auto aligned = [](const void* q) { return (reinterpret_cast<uintptr_t>(q) & 15u) == 0; };
    return p.d % per_16_bytes == 0 && aligned(p.e) && aligned(p.c);
}

// 2^k as a float, for k in [-126, 127] (a normal number: exact scaling).
__device__ __forceinline__ float exp2_int(int k) { return __uint_as_float(uint32_t(k + 127) << 23); }

// Placement of backward gradients in f16's range (see cce_backward.cu): for
// the float bits of a largest finite magnitude M (0 if none), the k with
// M / 2^k in [2^14, 2^15) — the top of f16's range, below its maximum 65504
// — clamped so that 2^k and 2^-k stay normal floats.
__device__ __forceinline__ int f16_scale_exp(uint32_t max_bits) {
    const int k = int(max_bits >> 23) - 127 - 14;  // max_bits < 0x7f800000: finite
    return k < -126 ? -126 : k;
}

__device__ __forceinline__ int64_t load_target(const void* targets, int32_t i64, int64_t i) {
    return i64 ? int64_t(static_cast<const long long*>(targets)[i])
               : int64_t(static_cast<const int*>(targets)[i]);
}

__device__ __forceinline__ float shfl_xor(float x, int lane_mask) {
    return __shfl_xor_sync(0xffffffffu, x, lane_mask);
}

// Online log-sum-exp state merged across lanes (lane ^ mask).
__device__ __forceinline__ LseState shfl_xor(LseState st, int lane_mask) {
    return LseState{shfl_xor(st.m, lane_mask), shfl_xor(st.s, lane_mask)};
}

__device__ __forceinline__ double warp_sum(double x) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}

__device__ __forceinline__ int warp_inclusive_scan(int x) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
        const int y = __shfl_up_sync(0xffffffffu, x, o);
        if (lane >= o) x += y;
    }
    return x;
}

// Exclusive prefix sum over a block of kThreads (a multiple of 32, at most
// 1024); `total` receives the block's sum. warp_sums: 32 ints of shared memory.
template <int kThreads>
__device__ __forceinline__ int block_exclusive_scan(int x, int* warp_sums, int* total) {
    static_assert(kThreads % 32 == 0 && kThreads <= 1024, "block scan size");
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int inclusive = warp_inclusive_scan(x);
    if (lane == 31) warp_sums[warp] = inclusive;
    __syncthreads();
    if (warp == 0) {
        const int w = lane < kThreads / 32 ? warp_sums[lane] : 0;
        warp_sums[lane] = warp_inclusive_scan(w);  // inclusive scan of warp totals
    }
    __syncthreads();
    const int before = warp == 0 ? 0 : warp_sums[warp - 1];
    *total = warp_sums[kThreads / 32 - 1];
    __syncthreads();  // warp_sums may be reused by the caller's next scan
    return before + inclusive - x;
}

}  // namespace engram::kernels
