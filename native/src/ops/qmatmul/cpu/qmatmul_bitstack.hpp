// qmatmul_bitstack.hpp — BitStack sign planes on the CPU (engram_qmatmul.h,
// "BitStack: sign planes"): the residual sign decomposition and the product
// over the first p planes. Inputs arrive validated (qmatmul_bitstack_api.cpp).
#pragma once

#include <cstdint>

#include "core/context.hpp"
#include "engram.h"

namespace engram::cpu {

struct BitstackPlanes {
    int64_t n_out = 0, k = 0;
    int planes = 0;
    const uint32_t* signs = nullptr;
    const float* u = nullptr;  // [planes, n_out]
    const float* v = nullptr;  // [planes, k]
};

void bitstack_decompose(engram_context& ctx, int64_t n_out, int64_t k, engram_dtype w_dtype,
                        const void* w, int planes, uint32_t* signs, float* u, float* v);

// y [m, n_out] over planes 0 .. p - 1.
void bitstack_product(engram_context& ctx, const BitstackPlanes& b, int p, int64_t m,
                      engram_dtype x_dtype, const void* x, engram_dtype y_dtype, void* y);

// sum_c (bit c of signs ? +1 : -1) * xv[c] over words * 32 columns: 16 lanes
// (lane l takes columns 16 i + l in order), then the lanes summed 0..15.
// The AVX-512 version (avx512/qmatmul_bitstack_avx512.cpp) gives the same
// bits as the portable one.
float bitstack_row_sum_avx512(const uint32_t* signs, const float* xv, int64_t words);

}  // namespace engram::cpu
