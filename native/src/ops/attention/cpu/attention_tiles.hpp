// attention_tiles.hpp — the CPU attention kernels, written once over a vector
// wrapper V (cpu/simd_*.hpp) and instantiated per ISA. Include only from the
// per-ISA translation units.
//
// decode_group: one KV head, its G query heads. Keys and values are read once
// per block of kAttentionBlock tokens (converted to f32 there for 16-bit
// storage) and used by all G heads, so a KV head costs one pass over its rows
// whatever the GQA ratio. Within a block: scores (dot over D, vector lanes
// along D), block maximum, exp of the shifted scores (vector lanes along the
// tokens), then acc = acc * rescale + sum_t p_t v_t (lanes along D). Sums run
// in a fixed order, so a result depends only on the ISA.
#pragma once

#include <cmath>

#include "cpu/convert.hpp"
#include "ops/attention/attention_math.h"
#include "ops/attention/cpu/attention_kernels.hpp"

namespace engram::cpu {

template <class V>
struct AttentionTiles {
    static constexpr int L = V::lanes;
    static constexpr int T = kAttentionBlock;

    static float dot(const float* a, const float* b, int64_t n) {
        V s0 = V::zero(), s1 = V::zero();
        int64_t i = 0;
        for (; i + 2 * L <= n; i += 2 * L) {
            s0 = V::fma(V::load(a + i), V::load(b + i), s0);
            s1 = V::fma(V::load(a + i + L), V::load(b + i + L), s1);
        }
        for (; i + L <= n; i += L) s0 = V::fma(V::load(a + i), V::load(b + i), s0);
        if (i < n) {
            const int r = int(n - i);
            s1 = V::fma(V::load_partial(a + i, r), V::load_partial(b + i, r), s1);
        }
        return (s0 + s1).reduce_add();
    }

    // p[t] = exp(s[t] - shift) in place for t < n.
    static void exp_shifted(float* s, int n, float shift) {
        const V sh = V::set1(shift);
        int t = 0;
        for (; t + L <= n; t += L) V::exp(V::load(s + t) - sh).store(s + t);
        if (t < n) V::exp(V::load_partial(s + t, n - t) - sh).store_partial(s + t, n - t);
    }

    // acc[0..D) = acc * alpha + sum_t p[t] v[t]
    static void accumulate(float* acc, float alpha, const float* p, const float* v, int nt,
                           int64_t D) {
        const V a = V::set1(alpha);
        int64_t d = 0;
        for (; d + L <= D; d += L) {
            V x = V::load(acc + d) * a;
            for (int t = 0; t < nt; ++t) x = V::fma(V::set1(p[t]), V::load(v + t * D + d), x);
            x.store(acc + d);
        }
        if (d < D) {
            const int r = int(D - d);
            V x = V::load_partial(acc + d, r) * a;
            for (int t = 0; t < nt; ++t)
                x = V::fma(V::set1(p[t]), V::load_partial(v + t * D + d, r), x);
            x.store_partial(acc + d, r);
        }
    }

    static void block(const AttentionDecodeGroup& g, const float* k, const float* v, int nt,
                      float* m, float* l, float* acc, float* s) {
        const int64_t D = g.head_dim;
        for (int64_t h = 0; h < g.group; ++h) {
            float* sh = s + h * T;
            const float* qh = g.q + h * D;
            float bm = -INFINITY;
            for (int t = 0; t < nt; ++t) {
                sh[t] = dot(qh, k + t * D, D) * g.scale;
                bm = attention_max_nan(bm, sh[t]);
            }
            const float m_new = attention_max_nan(m[h], bm);
            const float alpha = attention_rescale(m[h], m_new);
            exp_shifted(sh, nt, attention_shift(m_new));
            float sum = 0.0f;
            for (int t = 0; t < nt; ++t) sum += sh[t];
            l[h] = l[h] * alpha + sum;
            accumulate(acc + h * D, alpha, sh, v, nt, D);
            m[h] = m_new;
        }
    }

    // The online softmax over g's segments into the state (m, l, acc).
    static void run(const AttentionDecodeGroup& g, float* m, float* l, float* acc, float* s) {
        const int64_t G = g.group, D = g.head_dim;
        float* kf = s + G * T;
        float* vf = kf + T * D;
        for (int64_t h = 0; h < G; ++h) {
            m[h] = -INFINITY;
            l[h] = 0.0f;
        }
        for (int64_t i = 0; i < G * D; ++i) acc[i] = 0.0f;
        const uint64_t rb = uint64_t(D) * (g.storage == ENGRAM_DTYPE_F32 ? 4 : 2);
        for (int si = 0; si < g.nsegs; ++si) {
            const AttentionSegment& seg = g.segs[si];
            for (int64_t t0 = 0; t0 < seg.count; t0 += T) {
                const int nt = int(seg.count - t0 < T ? seg.count - t0 : T);
                const char* kr = static_cast<const char*>(seg.k) + uint64_t(t0) * rb;
                const char* vr = static_cast<const char*>(seg.v) + uint64_t(t0) * rb;
                const float* kb = reinterpret_cast<const float*>(kr);
                const float* vb = reinterpret_cast<const float*>(vr);
                if (g.storage != ENGRAM_DTYPE_F32) {
                    Convert<V>::to_f32(kr, g.storage, nt * D, kf);
                    Convert<V>::to_f32(vr, g.storage, nt * D, vf);
                    kb = kf;
                    vb = vf;
                }
                block(g, kb, vb, nt, m, l, acc, s);
            }
        }
    }

    static void decode_partial(const AttentionDecodeGroup& g) {
        const int64_t G = g.group;
        run(g, g.out, g.out + G, g.out + 2 * G, g.work + G * (g.head_dim + 2));
    }

    static void decode_group(const AttentionDecodeGroup& g) {
        const int64_t G = g.group, D = g.head_dim;
        float* m = g.work;
        float* l = m + G;
        float* acc = l + G;
        run(g, m, l, acc, acc + G * D);
        for (int64_t h = 0; h < G; ++h) {
            // (IEEE division: the same result in any lane width.)
            const float* a = acc + h * D;
            float* o = g.out + h * D;
            for (int64_t d = 0; d < D; ++d) o[d] = a[d] / l[h];
        }
    }

    static void to_f32(const void* src, engram_dtype dt, int64_t n, float* dst) {
        Convert<V>::to_f32(src, dt, n, dst);
    }
    static void from_f32(const float* src, int64_t n, engram_dtype dt, void* dst) {
        Convert<V>::from_f32(src, n, dt, dst);
    }

    static AttentionKernels table(engram_cpu_isa isa) {
        return AttentionKernels{isa, &to_f32, &from_f32, &decode_group, &decode_partial};
    }
};

}  // namespace engram::cpu
