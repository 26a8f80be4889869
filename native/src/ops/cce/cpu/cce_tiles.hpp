// cce_tiles.hpp — the tile arithmetic of the CPU CCE, written once over a
// vector wrapper V (simd_*.hpp) and a micro-tile of MR x (NV * V::lanes).
// Included only by the per-ISA translation units, which instantiate it with
// their compiler flags. See cce_kernels.hpp for the contract of each function.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>

#include "cpu/convert.hpp"
#include "cpu/microkernel.hpp"
#include "ops/cce/cpu/cce_kernels.hpp"

namespace engram::cpu {

template <class V, int MR, int NV>
struct CceTiles {
    static constexpr int L = V::lanes;
    static constexpr int NR = NV * L;
    // 256 floats of depth: an MR x KC A micro-panel (12 KB for MR = 12) stays
    // in L1 while it sweeps the token panels, which stream from L2.
    static constexpr int KC = 256;

    using Micro = MicroKernel<V, MR, NV>;
    static void micro(int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                      float* c, int64_t ldc, bool acc) {
        Micro::run(k, a, lda, b, ldb, c, ldc, acc);
    }
    static void micro_rows(int64_t k, const float* const* a_rows, const float* b, int64_t ldb,
                           float* c, int64_t ldc, bool acc) {
        Micro::run_rows(k, a_rows, b, ldb, c, ldc, acc);
    }
    static void micro_edge(int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                           float* c, int64_t ldc, int m_eff, int n_eff) {
        Micro::run_edge(k, a, lda, b, ldb, c, ldc, m_eff, n_eff);
    }
    static void to_f32(const void* src, engram_dtype dt, int64_t n, float* dst) {
        Convert<V>::to_f32(src, dt, n, dst);
    }
    static void from_f32(const float* src, int64_t n, engram_dtype dt, void* dst) {
        Convert<V>::from_f32(src, n, dt, dst);
    }

    // ---- packing -------------------------------------------------------------

    static void pack_token_panels(const float* rows, int64_t ld, int64_t m_pad, int64_t d,
                                  int64_t p_begin, int64_t p_end, float* panels) {
        for (int64_t k0 = 0; k0 < d; k0 += KC) {
            const int64_t kc = std::min<int64_t>(KC, d - k0);
            float* chunk = panels + k0 * m_pad;
            for (int64_t p = p_begin * NR; p < p_end * NR; p += NR) {
                float* dst = chunk + p * kc;
                for (int j = 0; j < NR; ++j) {
                    const float* src = rows + (p - p_begin * NR + j) * ld + k0;
                    for (int64_t k = 0; k < kc; ++k) dst[k * NR + j] = src[k];
                }
            }
        }
    }

    // MR rows (stride ld) x kc columns -> [kc][MR], rows >= m_eff zero.
    static void pack_a_rows(const float* src, int64_t ld, int m_eff, int64_t kc, float* dst) {
        V::template pack_rows<MR>(src, ld, m_eff, kc, dst);
    }

    // ---- the three products ----------------------------------------------------

    static void logits_tile(const float* c_rows, int64_t vt, int64_t d, const float* panels,
                            int64_t m_pad, float* zt, float* apack) {
        for (int64_t k0 = 0; k0 < d; k0 += KC) {
            const int64_t kc = std::min<int64_t>(KC, d - k0);
            const float* chunk = panels + k0 * m_pad;
            for (int64_t ir = 0; ir < vt; ir += MR) {
                pack_a_rows(c_rows + ir * d + k0, d, int(std::min<int64_t>(MR, vt - ir)), kc, apack);
                for (int64_t p = 0; p < m_pad; p += NR)
                    micro(kc, apack, MR, chunk + p * kc, NR, zt + ir * m_pad + p, m_pad, k0 > 0);
            }
        }
    }

    // logits_tile without packing the classifier rows (see micro_rows): the
    // same logits bit for bit, faster for token blocks of a panel or two.
    static void logits_tile_unpacked(const float* c_rows, int64_t vt, int64_t d,
                                     const float* panels, int64_t m_pad, float* zt) {
        for (int64_t k0 = 0; k0 < d; k0 += KC) {
            const int64_t kc = std::min<int64_t>(KC, d - k0);
            const float* chunk = panels + k0 * m_pad;
            for (int64_t ir = 0; ir < vt; ir += MR) {
                // Rows past vt repeat the last row: their results are unspecified.
                const float* rows[MR];
                for (int i = 0; i < MR; ++i) rows[i] = c_rows + std::min<int64_t>(ir + i, vt - 1) * d + k0;
                for (int64_t p = 0; p < m_pad; p += NR)
                    micro_rows(kc, rows, chunk + p * kc, NR, zt + ir * m_pad + p, m_pad, k0 > 0);
            }
        }
    }

    static void grad_e_tile(const float* c_rows, int64_t vt, int64_t d, const float* zt,
                            int64_t m_pad, const uint8_t* skip, float* det, float* apad) {
        const int64_t panels = m_pad / NR;
        for (int64_t ir = 0; ir < d; ir += MR) {
            const int m_eff = int(std::min<int64_t>(MR, d - ir));
            const float* a = c_rows + ir;
            int64_t lda = d;
            if (m_eff < MR) {  // ragged last rows: do not read past the row's end
                for (int64_t k = 0; k < vt; ++k)
                    for (int i = 0; i < MR; ++i) apad[k * MR + i] = i < m_eff ? a[k * d + i] : 0.0f;
                a = apad;
                lda = MR;
            }
            for (int64_t p = 0; p < panels; ++p) {
                if (skip[p]) continue;
                micro(vt, a, lda, zt + p * NR, m_pad, det + ir * m_pad + p * NR, m_pad, true);
            }
        }
    }

    static void grad_c_tile(const float* gp, int64_t vt, int64_t m_pad, const uint8_t* skip,
                            const float* rows, int64_t ld, int64_t d, float* dc) {
        const int64_t panels = m_pad / NR;
        for (int64_t ir = 0; ir < vt; ir += MR) {
            const int m_eff = int(std::min<int64_t>(MR, vt - ir));
            const float* a = gp + ir * m_pad;  // micro-panel ir/MR: [m_pad][MR]
            for (int64_t p0 = 0; p0 < panels;) {
                if (skip[p0]) {
                    ++p0;
                    continue;
                }
                int64_t p1 = p0 + 1;  // contiguous run of kept panels = one K range
                while (p1 < panels && !skip[p1]) ++p1;
                const int64_t k0 = p0 * NR, klen = (p1 - p0) * NR;
                for (int64_t jr = 0; jr < d; jr += NR) {
                    const int n_eff = int(std::min<int64_t>(NR, d - jr));
                    float* c = dc + ir * d + jr;
                    const float* b = rows + k0 * ld + jr;
                    if (m_eff == MR && n_eff == NR)
                        micro(klen, a + k0 * MR, MR, b, ld, c, d, true);
                    else
                        micro_edge(klen, a + k0 * MR, MR, b, ld, c, d, m_eff, n_eff);
                }
                p0 = p1;
            }
        }
    }

    // ---- epilogues --------------------------------------------------------------

    static void tile_transform(float* zt, int64_t vt, int64_t m_pad, const float* bias,
                               float softcap) {
        if (!bias && softcap <= 0.0f) return;
        const V cap = V::set1(softcap), inv_cap = V::set1(softcap > 0.0f ? 1.0f / softcap : 0.0f);
        for (int64_t j = 0; j < vt; ++j) {
            float* row = zt + j * m_pad;
            const V b = V::set1(bias ? bias[j] : 0.0f);
            for (int64_t i = 0; i < m_pad; i += L) {
                V z = V::load(row + i) + b;
                if (softcap > 0.0f) z = cap * V::tanh(z * inv_cap);
                z.store(row + i);
            }
        }
    }

    static void tile_stats(const float* zt, int64_t vt, int64_t m_pad, const int32_t* tgt_row,
                           float* run_m, float* run_s, float* tgt, float* lsum, float* colbuf) {
        float* colmax = colbuf;
        float* colsum = colbuf + m_pad;
        // Pass 1: column maxima, rows streamed contiguously.
        for (int64_t i = 0; i < m_pad; i += L) V::set1(-INFINITY).store(colmax + i);
        for (int64_t j = 0; j < vt; ++j) {
            const float* row = zt + j * m_pad;
            for (int64_t i = 0; i < m_pad; i += L)
                V::max(V::load(colmax + i), V::load(row + i)).store(colmax + i);
        }
        // New running maximum per token; rescale the old sums to its shift
        // (cce_math.h: the maximum when finite, else 0, so that +-inf logits
        // give torch.logsumexp's +-inf and exp never sees inf - inf). colmax
        // then holds the shift. An empty sum stays 0, a NaN sum stays NaN.
        const V inf = V::set1(INFINITY), zero = V::zero();
        auto shift = [&](V m) { return V::select_lt(V::abs(m), inf, m, zero); };
        for (int64_t i = 0; i < m_pad; i += L) {
            const V old_m = V::load(run_m + i);
            const V new_m = V::max(old_m, V::load(colmax + i));
            const V sh = shift(new_m);
            const V s = V::load(run_s + i);
            V::select_eq(s, zero, zero, s * V::exp(shift(old_m) - sh)).store(run_s + i);
            new_m.store(run_m + i);
            sh.store(colmax + i);
            zero.store(colsum + i);
        }
        // Pass 2: sum of exp(z - shift) (and of z, for label smoothing). A NaN
        // logit makes its column's sum NaN here, whatever the maxima did.
        for (int64_t j = 0; j < vt; ++j) {
            const float* row = zt + j * m_pad;
            for (int64_t i = 0; i < m_pad; i += L) {
                const V z = V::load(row + i);
                (V::load(colsum + i) + V::exp(z - V::load(colmax + i))).store(colsum + i);
                if (lsum) (V::load(lsum + i) + z).store(lsum + i);
            }
        }
        for (int64_t i = 0; i < m_pad; i += L)
            (V::load(run_s + i) + V::load(colsum + i)).store(run_s + i);
        for (int64_t i = 0; i < m_pad; ++i)
            if (tgt_row[i] >= 0 && tgt_row[i] < vt) tgt[i] = zt[tgt_row[i] * m_pad + i];
    }

    static void tile_grads(float* zt, int64_t vt, int64_t m_pad, float softcap, const float* lse,
                           const float* prob_scale, const float* up, const int32_t* tgt_row,
                           float offset, float target_weight, float filter_eps, uint8_t* skip,
                           float* dbias, float* gp) {
        const V off = V::set1(offset), tw = V::set1(target_weight), eps = V::set1(filter_eps);
        const V inv_cap = V::set1(softcap > 0.0f ? 1.0f / softcap : 0.0f), one = V::set1(1.0f);
        const int64_t vt_pad = (vt + MR - 1) / MR * MR;
        alignas(64) float trow[NR];
        for (int64_t p = 0; p < m_pad / NR; ++p) {
            const int64_t i0 = p * NR;
            V lse_v[NV], scale_v[NV], up_v[NV], row_v[NV];
            V up_mag = V::zero();
            for (int v = 0; v < NV; ++v) {
                lse_v[v] = V::load(lse + i0 + v * L);
                scale_v[v] = V::load(prob_scale + i0 + v * L);
                up_v[v] = V::load(up + i0 + v * L);
                up_mag = V::max_nan(up_mag, V::abs(up_v[v]));
                for (int l = 0; l < L; ++l) trow[v * L + l] = float(tgt_row[i0 + v * L + l]);
                row_v[v] = V::load(trow + v * L);
            }
            // max |dloss/dz| over the block, for the filter; NaN sticks, so a
            // block holding a NaN (or inf) is never skipped.
            V big = V::zero();
            for (int64_t j = 0; j < vt; ++j) {
                float* row = zt + j * m_pad + i0;
                const V jv = V::set1(float(j));
                for (int v = 0; v < NV; ++v) {
                    const V y = V::load(row + v * L);
                    V g = V::fma(V::exp(y - lse_v[v]), scale_v[v], V::zero() - off);
                    g = V::select_eq(row_v[v], jv, g - tw, g);
                    big = V::max_nan(big, V::abs(g));
                    V chain = up_v[v];
                    if (softcap > 0.0f) {
                        const V t = y * inv_cap;
                        chain = chain * (one - t * t);
                    }
                    (g * chain).store(row + v * L);
                }
            }
            // Skipped only when filtering is on, every entry is below eps and
            // no upstream gradient is NaN or inf (which must reach the output).
            skip[p] = filter_eps > 0.0f && big.all_lt(eps) && up_mag.all_lt(V::set1(INFINITY)) ? 1 : 0;
            if (skip[p]) continue;
            for (int64_t j = 0; j < vt_pad; ++j) {
                float* dst = gp + (j / MR) * m_pad * MR + (j % MR);
                if (j >= vt) {
                    for (int i = 0; i < NR; ++i) dst[(i0 + i) * MR] = 0.0f;
                    continue;
                }
                const float* row = zt + j * m_pad + i0;
                V s = V::zero();
                for (int v = 0; v < NV; ++v) s = s + V::load(row + v * L);
                if (dbias) dbias[j] += s.reduce_add();
                for (int i = 0; i < NR; ++i) dst[(i0 + i) * MR] = row[i];
            }
        }
    }

    static CceKernels table(engram_cpu_isa isa) {
        return CceKernels{isa,          MR,          NR,         KC,           &to_f32,
                          &from_f32,    &pack_token_panels,      &logits_tile, &logits_tile_unpacked,
                          &tile_transform, &tile_stats, &tile_grads, &grad_e_tile,
                          &grad_c_tile};
    }
};

}  // namespace engram::cpu
