// qmatmul_tiles.hpp — the 2-bit product block, written once over an unpacker
// U: U::V is a float vector wrapper (cpu/simd_*.hpp) and U::codes(word, p)
// gives codes p*L .. p*L+L-1 of a 16-code word as floats (L = V::lanes).
// Include only from the per-ISA files.
//
// Why this shape: the product is bound by reading the weights, so every code
// word is loaded once per block and unpacked in registers (shift by a per-lane
// amount, mask with 3, convert), dequantised with one fma (s q + z, the same
// W_hat as the reference), and used for every activation row of the call
// while it is in a register. Activation loads are shared by the block's 4
// weight rows; accumulators are kQmBatch x kQmRows vectors, summed across
// lanes once at the end.
#pragma once

#include <algorithm>
#include <cmath>

#include "cpu/microkernel.hpp"
#include "ops/qmatmul/cpu/qmatmul_kernels.hpp"

namespace engram::cpu {

// MR x (NV vectors): the micro-tile of the large-m GEMM (as CCE's per ISA).
template <class U, int MR, int NV>
struct QmatmulTiles {
    using V = typename U::V;
    static constexpr int L = V::lanes;
    static constexpr int P = 16 / L;  // vectors per code word
    static_assert(16 % L == 0, "a code word fills whole vectors");

    template <int MB>
    static void block_mb(const float* x, int64_t k, int64_t group, const uint32_t* const* rows,
                         int64_t step, const float* const* s, const float* const* z, float* out) {
        V acc[MB][kQmRows];
        for (int i = 0; i < MB; ++i)
            for (int r = 0; r < kQmRows; ++r) acc[i][r] = V::zero();
        const int64_t words_per_group = group / 16, groups = k / group;
        for (int64_t g = 0; g < groups; ++g) {
            V sv[kQmRows], zv[kQmRows];
            for (int r = 0; r < kQmRows; ++r) {
                sv[r] = V::set1(s[r][g]);
                zv[r] = V::set1(z[r][g]);
            }
            const int64_t w_end = (g + 1) * words_per_group;
            for (int64_t w = g * words_per_group; w < w_end; ++w) {
                uint32_t word[kQmRows];
                for (int r = 0; r < kQmRows; ++r) word[r] = rows[r][w * step];
                const float* xw = x + w * 16;
                for (int p = 0; p < P; ++p) {
                    V wv[kQmRows];
                    for (int r = 0; r < kQmRows; ++r) wv[r] = V::fma(U::codes(word[r], p), sv[r], zv[r]);
                    for (int i = 0; i < MB; ++i) {
                        const V xv = V::load(xw + i * k + p * L);
                        for (int r = 0; r < kQmRows; ++r) acc[i][r] = V::fma(xv, wv[r], acc[i][r]);
                    }
                }
            }
        }
        for (int i = 0; i < MB; ++i)
            for (int r = 0; r < kQmRows; ++r) out[i * kQmRows + r] = acc[i][r].reduce_add();
    }

    static void block(const float* x, int mb, int64_t k, int64_t group, const uint32_t* const* rows,
                      int64_t step, const float* const* s, const float* const* z, float* out) {
        switch (mb) {
            case 1: return block_mb<1>(x, k, group, rows, step, s, z, out);
            case 2: return block_mb<2>(x, k, group, rows, step, s, z, out);
            case 3: return block_mb<3>(x, k, group, rows, step, s, z, out);
            default: return block_mb<4>(x, k, group, rows, step, s, z, out);
        }
    }

    // Large m: the weights are expanded once per tile into an L2-sized fp32
    // panel and multiplied by the register-blocked micro-kernel, which reads
    // the activation rows in place (no packing of x). The same fma(q, s, z)
    // as `block` gives the same W_hat.
    using Micro = MicroKernel<V, MR, NV>;
    static constexpr int NR = Micro::NR;

    static void dequant_panel(int64_t k0, int64_t kc, int64_t group, const uint32_t* const* rows,
                              int nr, int64_t step, const float* const* s, const float* const* z,
                              float* panel) {
        for (int j = 0; j < nr; ++j) {
            for (int64_t w = k0 / 16; w < (k0 + kc) / 16; ++w) {
                const uint32_t word = rows[j][w * step];
                const int64_t g = w * 16 / group;
                const float sg = s[j][g], zg = z[j][g];
                float* dst = panel + (w * 16 - k0) * NR + j;
                for (int t = 0; t < 16; ++t)
                    dst[t * NR] = std::fma(float((word >> (2 * t)) & 3u), sg, zg);
            }
        }
        for (int64_t t = 0; t < kc; ++t)
            for (int j = nr; j < NR; ++j) panel[t * NR + j] = 0.0f;
    }

    static void gemm_panel(const float* x, int64_t ldx, int64_t m, int64_t kc, const float* panel,
                           float* c, bool acc) {
        for (int64_t i0 = 0; i0 < m; i0 += MR) {
            const float* a_rows[MR];
            for (int i = 0; i < MR; ++i) a_rows[i] = x + std::min<int64_t>(i0 + i, m - 1) * ldx;
            Micro::run_rows(kc, a_rows, panel, NR, c + i0 * NR, NR, acc);
        }
    }

    static QmatmulKernels table(engram_cpu_isa isa) {
        return QmatmulKernels{isa, &block, MR, NR, &dequant_panel, &gemm_panel};
    }
};

}  // namespace engram::cpu
