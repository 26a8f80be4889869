// elem.cuh — device-side element types (storage type and conversion to and
// from fp32) that the tile cores are templated over, and exact power-of-two
// scaling for placing values in f16's range.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common/dtype.cuh"
#include "shared/half.h"

namespace engram::kernels {

// Element types of the tile operands: storage type and conversion to fp32.
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

// 2^k as a float, for k in [-126, 127] (a normal number: exact scaling).
__device__ __forceinline__ float exp2_int(int k) { return __uint_as_float(uint32_t(k + 127) << 23); }

// Placement of fp32 values in f16's range before rounding them to f16 (see
// MmaCore::backward_products): for the float bits of a largest finite
// magnitude M (0 if none), the k with M / 2^k in [2^14, 2^15) — the top of
// f16's range, below its maximum 65504 — clamped so that 2^k and 2^-k stay
// normal floats.
__device__ __forceinline__ int f16_scale_exp(uint32_t max_bits) {
    const int k = int(max_bits >> 23) - 127 - 14;  // max_bits < 0x7f800000: finite
    return k < -126 ? -126 : k;
}

}  // namespace engram::kernels
