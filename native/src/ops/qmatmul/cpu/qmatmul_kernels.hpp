// qmatmul_kernels.hpp — the per-ISA inner kernels of the CPU 2-bit product.
// qmatmul_cpu.cpp owns threading, activation conversion and output rounding.
// Small m (<= kQmSmallM): `block` computes 4 weight rows against up to 4
// activation rows, unpacking the codes in vector registers. Large m: a
// dequantise-tile GEMM — `dequant_panel` expands a tile of weight rows to
// fp32 and `gemm_panel` multiplies it with cpu/microkernel.hpp. Written once
// (qmatmul_tiles.hpp) and instantiated per ISA (qmatmul_scalar.cpp,
// avx2/qmatmul_avx2.cpp, avx512/qmatmul_avx512.cpp).
#pragma once

#include <cstdint>

#include "engram.h"

namespace engram::cpu {

// Weight rows of a block and activation rows per kernel call.
constexpr int kQmRows = 4;
constexpr int kQmBatch = 4;
// Up to this many activation rows use `block`; more use the tile GEMM.
constexpr int64_t kQmSmallM = 16;

struct QmatmulKernels {
    engram_cpu_isa isa;
    // out[i * kQmRows + r] = sum_c x[i * k + c] * fma(q_r[c], s_r[c / group], z_r[c / group])
    // for i < mb (1..kQmBatch) and r < kQmRows, accumulated in fp32 in a
    // fixed order. Row r's code word w is rows[r][w * step]; its scales and
    // zero points (fp32, one per group) are s[r][g], z[r][g].
    void (*block)(const float* x, int mb, int64_t k, int64_t group, const uint32_t* const* rows,
                  int64_t step, const float* const* s, const float* const* z, float* out);

    int gemm_mr;  // activation rows per micro-tile
    int gemm_nr;  // weight rows per panel
    // panel[c - k0][j] = fma(q_j[c], s_j[c / group], z_j[c / group]) for
    // columns c in [k0, k0 + kc) (k0, kc multiples of 16) and weight rows
    // j < nr (rows and s, z as for `block`); columns j >= nr are zero.
    void (*dequant_panel)(int64_t k0, int64_t kc, int64_t group, const uint32_t* const* rows,
                          int nr, int64_t step, const float* const* s, const float* const* z,
                          float* panel);
    // c[i][j] (+)= sum_{t < kc} x[i * ldx + t] * panel[t][j] for i < m_pad
    // (m rounded up to gemm_mr; rows past m repeat row m - 1), j < gemm_nr;
    // c has gemm_nr columns. acc: add to c instead of overwriting it.
    void (*gemm_panel)(const float* x, int64_t ldx, int64_t m, int64_t kc, const float* panel,
                       float* c, bool acc);
};

// Best kernels for this CPU (respecting the ENGRAM_CPU_ISA override).
const QmatmulKernels& qmatmul_kernels();

const QmatmulKernels& qmatmul_kernels_scalar();
const QmatmulKernels& qmatmul_kernels_avx2();
const QmatmulKernels& qmatmul_kernels_avx512();

}  // namespace engram::cpu
