// qmatmul_kernels.hpp — the per-ISA inner kernel of the CPU 2-bit product.
// qmatmul_cpu.cpp owns threading, activation conversion and output rounding;
// the kernel computes one block of 4 weight rows against up to 4 activation
// rows, unpacking the codes in vector registers. It is written once
// (qmatmul_tiles.hpp) and instantiated per ISA (qmatmul_scalar.cpp,
// avx2/qmatmul_avx2.cpp, avx512/qmatmul_avx512.cpp).
#pragma once

#include <cstdint>

#include "engram.h"

namespace engram::cpu {

// Weight rows of a block and activation rows per kernel call.
constexpr int kQmRows = 4;
constexpr int kQmBatch = 4;

struct QmatmulKernels {
    engram_cpu_isa isa;
    // out[i * kQmRows + r] = sum_c x[i * k + c] * fma(q_r[c], s_r[c / group], z_r[c / group])
    // for i < mb (1..kQmBatch) and r < kQmRows, accumulated in fp32 in a
    // fixed order. Row r's code word w is rows[r][w * step]; its scales and
    // zero points (fp32, one per group) are s[r][g], z[r][g].
    void (*block)(const float* x, int mb, int64_t k, int64_t group, const uint32_t* const* rows,
                  int64_t step, const float* const* s, const float* const* z, float* out);
};

// Best kernels for this CPU (respecting the ENGRAM_CPU_ISA override).
const QmatmulKernels& qmatmul_kernels();

const QmatmulKernels& qmatmul_kernels_scalar();
const QmatmulKernels& qmatmul_kernels_avx2();
const QmatmulKernels& qmatmul_kernels_avx512();

}  // namespace engram::cpu
