// qmatmul_common.cuh — device helpers of the 2-bit product kernels: reading
// scales, activations and code words in any layout and dtype, and rounding y.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common/elem.cuh"
#include "qmatmul/qmatmul_launch.cuh"

namespace engram::kernels {

__device__ __forceinline__ float qm_scale(const void* base, int f16, int64_t i) {
    return f16 ? f16_to_f32(static_cast<const uint16_t*>(base)[i])
               : static_cast<const float*>(base)[i];
}

__device__ __forceinline__ float qm_load_x(const void* x, int dtype, int64_t i) {
    if (dtype == kF32) return static_cast<const float*>(x)[i];
    const uint16_t v = static_cast<const uint16_t*>(x)[i];
    return dtype == kF16 ? f16_to_f32(v) : bf16_to_f32(v);
}

// out[0..15] = x[off .. off + 15] as fp32, x of element type X (F32, F16 or
// BF16 of elem.cuh). vec: x is 16-byte aligned and off a multiple of 16
// elements, so 16-byte loads are aligned (4 for f32, 2 for 16-bit dtypes).
template <class X>
__device__ __forceinline__ void qm_load_x16(const void* x, int64_t off, int vec, float (&out)[16]) {
    const auto* p = static_cast<const typename X::T*>(x) + off;
    if (vec) {
        if constexpr (X::kDtype == kF32) {
            const float4* q = reinterpret_cast<const float4*>(p);
#pragma unroll
            for (int t = 0; t < 4; ++t) {
                const float4 v = q[t];
                out[4 * t] = v.x, out[4 * t + 1] = v.y, out[4 * t + 2] = v.z, out[4 * t + 3] = v.w;
            }
        } else {
            const uint4* q = reinterpret_cast<const uint4*>(p);
#pragma unroll
            for (int t = 0; t < 2; ++t) {
                const uint4 v = q[t];
                const uint32_t u[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    out[8 * t + 2 * e] = X::to_f32(uint16_t(u[e] & 0xffffu));
                    out[8 * t + 2 * e + 1] = X::to_f32(uint16_t(u[e] >> 16));
                }
            }
        }
        return;
    }
#pragma unroll
    for (int j = 0; j < 16; ++j) out[j] = X::to_f32(p[j]);
}

// Index of word w (0 <= w < k / 16) of weight row r in the code array.
__device__ __forceinline__ int64_t qm_word_index(const QmatmulDev& d, int64_t r, int64_t w,
                                                 int64_t words_per_row) {
    if (!d.prepared) return r * words_per_row + w;
    // prepared[((r / 4) * W + w) * 4 + r % 4] = plain[r * W + w]
    return ((r / 4) * words_per_row + w) * 4 + (r % 4);
}

__device__ __forceinline__ void qm_store_y(void* y, int dtype, int64_t i, float v) {
    if (dtype == kF32)
        static_cast<float*>(y)[i] = v;
    else
        static_cast<uint16_t*>(y)[i] = dtype == kF16 ? f32_to_f16(v) : f32_to_bf16(v);
}

// The weight of code q: one fp32 fma, as engram_qmatmul.h specifies.
__device__ __forceinline__ float qm_dequant(uint32_t word, int j, float s, float z) {
    return fmaf(float((word >> (2 * j)) & 3u), s, z);
}

}  // namespace engram::kernels
