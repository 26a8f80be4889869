// scan_based.cpp — BASED on the CPU: the Taylor feature map and its backward
// (row by row), and BASED linear attention per (sequence, value head), chunk
// by chunk: within a chunk the scores 1 + s + s^2/2 come straight from
// s = q.k / sqrt(d) (C^2 d work instead of C^2 F), between chunks the fp32
// state S = sum phi(k) v^T [F, V] and normaliser z = sum phi(k) [F].
#include <cmath>
#include <cstring>

#include "core/op_stats.hpp"
#include "ops/scan/cpu/scan_rows.hpp"
#include "ops/scan/scan_based_backend.hpp"

namespace engram::cpu {

namespace {

// phi(x) [1 + d + d^2] of one fp32 row.
void phi_row(const float* x, int64_t d, float* phi) {
    const float lin = float(1.0 / std::pow(double(d), 0.25));
    const float quad = float(1.0 / (std::sqrt(2.0) * std::sqrt(double(d))));
    phi[0] = 1.0f;
    for (int64_t i = 0; i < d; ++i) phi[1 + i] = x[i] * lin;
    float* q = phi + 1 + d;
    for (int64_t i = 0; i < d; ++i)
        for (int64_t j = 0; j < d; ++j) q[i * d + j] = x[i] * x[j] * quad;
}

void feature_map(engram_context& ctx, engram_dtype dt, int64_t rows, int64_t d, const void* x,
                 float* phi) {
    const int64_t f = 1 + d + d * d;
    HostScratch scratch(ctx, uint64_t(d) * 4 * uint64_t(unit_workers(ctx, rows)));
    for_each_unit(ctx, rows, [&](int64_t r, int w) {
        float* xr = scratch.at<float>(uint64_t(d) * 4 * uint64_t(w));
        load_row(x, dt, r * d, d, xr);
        phi_row(xr, d, phi + r * f);
    });
}

void feature_map_backward(engram_context& ctx, engram_dtype dt, int64_t rows, int64_t d,
                          const void* x, const float* d_phi, float* dx) {
    const int64_t f = 1 + d + d * d;
    const float lin = float(1.0 / std::pow(double(d), 0.25));
    const float quad = float(1.0 / (std::sqrt(2.0) * std::sqrt(double(d))));
    HostScratch scratch(ctx, uint64_t(d) * 4 * uint64_t(unit_workers(ctx, rows)));
    for_each_unit(ctx, rows, [&](int64_t r, int w) {
        float* xr = scratch.at<float>(uint64_t(d) * 4 * uint64_t(w));
        load_row(x, dt, r * d, d, xr);
        const float* g = d_phi + r * f;
        const float* gq = g + 1 + d;
        for (int64_t i = 0; i < d; ++i) {
            float acc = 0.0f;  // d(x_i x_j)/dx_i = x_j, from both (i, j) and (j, i)
            for (int64_t j = 0; j < d; ++j) acc += (gq[i * d + j] + gq[j * d + i]) * xr[j];
            dx[r * d + i] = g[1 + i] * lin + acc * quad;
        }
    });
}

// Per-worker scratch of BASED: chunk rows of q, k (fp32), phi of q and k,
// v, the numerators, the scores, the state and normaliser.
struct BasedBuffers {
    float *q, *k, *pq, *pk, *v, *num, *den, *a, *s, *z;
    static uint64_t floats(int64_t c, int64_t d, int64_t f, int64_t vd) {
        return uint64_t(2 * c * d + 2 * c * f + 2 * c * vd + c + c * c + f * vd + f);
    }
    static BasedBuffers carve(float* base, int64_t c, int64_t d, int64_t f, int64_t vd) {
        BasedBuffers b;
        b.q = base;
        b.k = b.q + c * d;
        b.pq = b.k + c * d;
        b.pk = b.pq + c * f;
        b.v = b.pk + c * f;
        b.num = b.v + c * vd;
        b.den = b.num + c * vd;
        b.a = b.den + c;
        b.s = b.a + c * c;
        b.z = b.s + f * vd;
        return b;
    }
};

void based_forward(engram_context& ctx, const BasedProblem& p, void* o) {
    const int64_t d = p.k_dim, vd = p.v_dim, f = p.features(), pairs = p.batch * p.heads;
    const int64_t c = std::min<int64_t>(p.chunk, p.t);
    const float inv_sqrt_d = float(1.0 / std::sqrt(double(d)));
    const uint64_t per = BasedBuffers::floats(c, d, f, vd) * 4;
    HostScratch scratch(ctx, per * uint64_t(unit_workers(ctx, pairs)));
    for_each_unit(ctx, pairs, [&](int64_t pair, int w) {
        const int64_t b = pair / p.heads, h = pair % p.heads, hq = h / p.group();
        BasedBuffers bf = BasedBuffers::carve(scratch.at<float>(per * uint64_t(w)), c, d, f, vd);
        std::memset(bf.s, 0, size_t(f * vd) * 4);
        std::memset(bf.z, 0, size_t(f) * 4);
        for (int64_t t0 = 0; t0 < p.t; t0 += c) {
            const int64_t n = std::min(c, p.t - t0);
            for (int64_t i = 0; i < n; ++i) {
                const int64_t tok = b * p.t + t0 + i;
                load_row(p.q, p.dtype, (tok * p.qk_heads + hq) * d, d, bf.q + i * d);
                load_row(p.k, p.dtype, (tok * p.qk_heads + hq) * d, d, bf.k + i * d);
                load_row(p.v, p.dtype, (tok * p.heads + h) * vd, vd, bf.v + i * vd);
                phi_row(bf.q + i * d, d, bf.pq + i * f);
                phi_row(bf.k + i * d, d, bf.pk + i * f);
            }
            for (int64_t i = 0; i < n; ++i) {
                // Inter-chunk: phi(q_i)^T S and phi(q_i) . z.
                float* num = bf.num + i * vd;
                std::memset(num, 0, size_t(vd) * 4);
                float den = 0.0f;
                const float* pq = bf.pq + i * f;
                for (int64_t e = 0; e < f; ++e) {
                    const float a = pq[e];
                    const float* srow = bf.s + e * vd;
                    for (int64_t x = 0; x < vd; ++x) num[x] += a * srow[x];
                    den += a * bf.z[e];
                }
                // Intra-chunk: scores 1 + s + s^2/2 for j <= i.
                for (int64_t j = 0; j <= i; ++j) {
                    float s = 0.0f;
                    for (int64_t e = 0; e < d; ++e) s += bf.q[i * d + e] * bf.k[j * d + e];
                    s *= inv_sqrt_d;
                    const float a = 1.0f + s + 0.5f * s * s;
                    den += a;
                    const float* vr = bf.v + j * vd;
                    for (int64_t x = 0; x < vd; ++x) num[x] += a * vr[x];
                }
                for (int64_t x = 0; x < vd; ++x) num[x] /= den;
                store_row(num, vd, p.out_dtype, o, ((b * p.t + t0 + i) * p.heads + h) * vd);
            }
            // State update: S += phi(K)^T V, z += sum phi(k).
            for (int64_t j = 0; j < n; ++j) {
                const float* pk = bf.pk + j * f;
                const float* vr = bf.v + j * vd;
                for (int64_t e = 0; e < f; ++e) {
                    float* srow = bf.s + e * vd;
                    for (int64_t x = 0; x < vd; ++x) srow[x] += pk[e] * vr[x];
                    bf.z[e] += pk[e];
                }
            }
        }
    });
    op_stats_set(ctx.last_op, "chunks", uint64_t(pairs * ((p.t + c - 1) / c)));
}

// Sliding window: per (sequence, q head, token) a softmax over at most w keys,
// max-subtracted, in fp32.
void window_forward(engram_context& ctx, const BasedProblem& p, void* o) {
    const int64_t d = p.k_dim, vd = p.v_dim, w = p.window, pairs = p.batch * p.heads;
    const int64_t row_len = std::max(d, vd);  // a k row, then a v row
    const uint64_t per = uint64_t(d + row_len + w + vd) * 4;
    HostScratch scratch(ctx, per * uint64_t(unit_workers(ctx, pairs)));
    for_each_unit(ctx, pairs, [&](int64_t pair, int wk) {
        const int64_t b = pair / p.heads, h = pair % p.heads, hk = h / p.group();
        float* q = scratch.at<float>(per * uint64_t(wk));
        float* row = q + d;
        float* sc = row + row_len;
        float* acc = sc + w;
        for (int64_t t = 0; t < p.t; ++t) {
            load_row(p.q, p.dtype, ((b * p.t + t) * p.heads + h) * d, d, q);
            const int64_t j0 = std::max<int64_t>(0, t - w + 1);
            float mx = -INFINITY;
            bool nan = false;
            for (int64_t j = j0; j <= t; ++j) {
                load_row(p.k, p.dtype, ((b * p.t + j) * p.qk_heads + hk) * d, d, row);
                float s = 0.0f;
                for (int64_t e = 0; e < d; ++e) s += q[e] * row[e];
                s *= p.scale;
                sc[j - j0] = s;
                nan |= std::isnan(s);
                mx = std::max(mx, s);
            }
            if (nan) mx = NAN;  // softmax of a row with NaN is NaN everywhere
            float sum = 0.0f;
            std::memset(acc, 0, size_t(vd) * 4);
            for (int64_t j = j0; j <= t; ++j) {
                const float e = std::exp(sc[j - j0] - mx);
                sum += e;
                load_row(p.v, p.dtype, ((b * p.t + j) * p.qk_heads + hk) * vd, vd, row);
                for (int64_t x = 0; x < vd; ++x) acc[x] += e * row[x];
            }
            for (int64_t x = 0; x < vd; ++x) acc[x] /= sum;
            store_row(acc, vd, p.out_dtype, o, ((b * p.t + t) * p.heads + h) * vd);
        }
    });
}

}  // namespace

}  // namespace engram::cpu

namespace engram {

const BasedBackend& scan_based_cpu_backend() {
    static const BasedBackend table{cpu::feature_map, cpu::feature_map_backward,
                                    cpu::based_forward, cpu::window_forward};
    return table;
}

}  // namespace engram
