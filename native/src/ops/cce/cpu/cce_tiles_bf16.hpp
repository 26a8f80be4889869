// cce_tiles_bf16.hpp — the logits product of the CPU CCE for bf16 inputs on
// a CPU with VDPBF16PS (cpu/microkernel_bf16.hpp): the same tiles, panels and
// chunking as cce_tiles.hpp, with bf16 pairs along d instead of f32 and fp32
// accumulators. Only the logits product uses it; the softmax, the gradient
// epilogue and the two gradient products stay in f32 (see cce_kernels.hpp for
// why). Included only by avx512_bf16/cce_avx512_bf16.cpp.
#pragma once

#include <algorithm>

#include "cpu/microkernel_bf16.hpp"
#include "ops/cce/cpu/cce_kernels.hpp"

namespace engram::cpu {

template <int MR, int NV>
struct CceTilesBf16 {
    using Micro = MicroKernelBf16<MR, NV>;
    static constexpr int NR = Micro::NR;
    // 256 pairs (512 bf16) of depth: the packed MR x KCP A micro-panel is
    // 12 KB for MR = 12, the size of the f32 kernel's, and stays in L1.
    static constexpr int KCP = 256;

    static int64_t pairs(int64_t d) { return (d + 1) / 2; }

    // Token rows -> pair panels: for each KCP chunk of pairs, for each panel
    // of NR tokens, [kp][NR] (chunk c at panels + c*KCP*m_pad, panel of token
    // p at chunk + p*kp). rows[t]: the bf16 row (d elements) of token
    // p_begin*NR + t, or nullptr for a padding token (zeros).
    static void pack_token_panels(const uint16_t* const* rows, int64_t d, int64_t m_pad,
                                  int64_t p_begin, int64_t p_end, uint32_t* panels) {
        const int64_t dp = pairs(d);
        for (int64_t k0 = 0; k0 < dp; k0 += KCP) {
            const int64_t kp = std::min<int64_t>(KCP, dp - k0);
            const bool half_last = (d & 1) && k0 + kp == dp;
            uint32_t* chunk = panels + k0 * m_pad;
            for (int64_t p = p_begin * NR; p < p_end * NR; p += NR) {
                uint32_t* dst = chunk + p * kp;
                for (int j = 0; j < NR; ++j) {
                    const uint16_t* src = rows[p - p_begin * NR + j];
                    if (!src) {
                        for (int64_t k = 0; k < kp; ++k) dst[k * NR + j] = 0u;
                        continue;
                    }
                    src += 2 * k0;
                    for (int64_t k = 0; k < kp; ++k)
                        dst[k * NR + j] = Micro::pair_at(src + 2 * k, half_last && k == kp - 1);
                }
            }
        }
    }

    // zt[vt_pad x m_pad] = c_rows[vt x d] . tokens^T; apack: KCP*MR words.
    static void logits_tile(const uint16_t* c_rows, int64_t vt, int64_t d, const uint32_t* panels,
                            int64_t m_pad, float* zt, uint32_t* apack) {
        const int64_t dp = pairs(d);
        for (int64_t k0 = 0; k0 < dp; k0 += KCP) {
            const int64_t kp = std::min<int64_t>(KCP, dp - k0);
            const bool half_last = (d & 1) && k0 + kp == dp;
            const uint32_t* chunk = panels + k0 * m_pad;
            for (int64_t ir = 0; ir < vt; ir += MR) {
                Micro::pack_a(c_rows + ir * d + 2 * k0, d, int(std::min<int64_t>(MR, vt - ir)), kp,
                              half_last, apack);
                for (int64_t p = 0; p < m_pad; p += NR)
                    Micro::run(kp, apack, MR, chunk + p * kp, NR, zt + ir * m_pad + p, m_pad, k0 > 0);
            }
        }
    }

    // logits_tile without packing the classifier rows, bit for bit the same.
    static void logits_tile_unpacked(const uint16_t* c_rows, int64_t vt, int64_t d,
                                     const uint32_t* panels, int64_t m_pad, float* zt) {
        const int64_t dp = pairs(d);
        for (int64_t k0 = 0; k0 < dp; k0 += KCP) {
            const int64_t kp = std::min<int64_t>(KCP, dp - k0);
            const bool half_last = (d & 1) && k0 + kp == dp;
            const uint32_t* chunk = panels + k0 * m_pad;
            for (int64_t ir = 0; ir < vt; ir += MR) {
                // Rows past vt repeat the last row: their results are unspecified.
                const uint16_t* rows[MR];
                for (int i = 0; i < MR; ++i)
                    rows[i] = c_rows + std::min<int64_t>(ir + i, vt - 1) * d + 2 * k0;
                for (int64_t p = 0; p < m_pad; p += NR)
                    Micro::run_rows(kp, rows, half_last, chunk + p * kp, NR, zt + ir * m_pad + p,
                                    m_pad, k0 > 0);
            }
        }
    }

    // The f32 table of the same CPU with the bf16 logits product added.
    static CceKernels table(const CceKernels& f32, engram_cpu_isa isa) {
        CceKernels k = f32;
        k.isa = isa;
        k.pack_token_panels_bf16 = &pack_token_panels;
        k.logits_tile_bf16 = &logits_tile;
        k.logits_tile_unpacked_bf16 = &logits_tile_unpacked;
        return k;
    }
};

}  // namespace engram::cpu
