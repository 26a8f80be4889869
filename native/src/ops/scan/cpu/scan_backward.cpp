// scan_backward.cpp — the backward of the linear-attention forward on the CPU.
//
// Work unit: one (sequence, q/k head) — the value heads sharing that q/k head
// run one after the other on the same worker, so dq and dk (sums over them)
// are accumulated in a fixed order without races: bit-identical results for
// any thread count.
//
// Per value head: a forward pass of the recurrence keeps the state at every
// chunk start (a checkpoint); then, chunk by chunk from the end, the chunk's
// token states are recomputed from its checkpoint and the recurrence is run
// backwards token by token (engram_scan.h gives the formulas). Recomputing
// with the same fp32 operations gives exactly the states the first pass saw.
// O(T K V) per head; scratch per worker in the header.
#include <cmath>
#include <cstring>

#include "core/op_stats.hpp"
#include "ops/scan/cpu/scan_rows.hpp"

namespace engram::cpu {

namespace {

inline void axpy(float w, const float* src, float* dst, int64_t n) {
    for (int64_t x = 0; x < n; ++x) dst[x] += w * src[x];
}

inline float dot(const float* a, const float* b, int64_t n) {
    float s = 0.0f;
    for (int64_t x = 0; x < n; ++x) s += a[x] * b[x];
    return s;
}

// Per-worker scratch, carved from one block.
struct BackwardBuffers {
    float* checkpoints;  // [ceil(T / C), K, V]
    float* tok;          // [C + 1, K, V]: S_{t0-1} .. S_{t0+n-1}
    float* ds;           // [K, V]
    float* dq;           // [T, K] fp32 sums over the group's value heads
    float* dk;           // [T, K]
    float *q, *k, *a, *row_k;  // [K] each
    float *v, *dov, *row_v;    // [V] each

    static uint64_t floats(int64_t t, int64_t chunk, int64_t kd, int64_t vd) {
        const int64_t nch = (t + chunk - 1) / chunk;
        return uint64_t((nch + chunk + 2) * kd * vd + 2 * t * kd + 4 * kd + 3 * vd);
    }
    static BackwardBuffers carve(float* base, int64_t t, int64_t chunk, int64_t kd, int64_t vd) {
        const int64_t nch = (t + chunk - 1) / chunk, kv = kd * vd;
        BackwardBuffers b;
        float* p = base;
        auto take = [&](int64_t n) {
            float* at = p;
            p += n;
            return at;
        };
        b.checkpoints = take(nch * kv);
        b.tok = take((chunk + 1) * kv);
        b.ds = take(kv);
        b.dq = take(t * kd);
        b.dk = take(t * kd);
        b.q = take(kd);
        b.k = take(kd);
        b.a = take(kd);
        b.row_k = take(kd);
        b.v = take(vd);
        b.dov = take(vd);
        b.row_v = take(vd);
        return b;
    }
};

// Decay factors a_t (K entries; all equal for the scalar gate, 1 for none).
void load_decay(const ScanProblem& p, const HeadView& hv, int64_t t, float* a) {
    if (p.gate == ENGRAM_SCAN_GATE_NONE) {
        for (int64_t c = 0; c < p.k_dim; ++c) a[c] = 1.0f;
        return;
    }
    const float* g = p.g + hv.g_row(t);
    for (int64_t c = 0; c < p.k_dim; ++c)
        a[c] = std::exp(p.gate == ENGRAM_SCAN_GATE_SCALAR ? g[0] : g[c]);
}

// dst = diag(a_t) src + k_t v_t^T (dst may be src).
void step(const ScanProblem& p, const HeadView& hv, int64_t t, BackwardBuffers& b, const float* src,
          float* dst) {
    const int64_t kd = p.k_dim, vd = p.v_dim;
    load_row(p.k, p.dtype, hv.qk_row(t), kd, b.k);
    load_row(p.v, p.dtype, hv.v_row(t), vd, b.v);
    load_decay(p, hv, t, b.a);
    for (int64_t c = 0; c < kd; ++c) {
        const float* s = src + c * vd;
        float* d = dst + c * vd;
        for (int64_t x = 0; x < vd; ++x) d[x] = b.a[c] * s[x] + b.k[c] * b.v[x];
    }
}

void head_backward(const ScanProblem& p, const HeadView& hv, const void* grad_o,
                   const float* grad_final_state, const ScanGrads& gr, BackwardBuffers& b,
                   int64_t chunk) {
    const int64_t kd = p.k_dim, vd = p.v_dim, kv = kd * vd, T = p.t;
    const int64_t nch = (T + chunk - 1) / chunk;
    // Forward: checkpoints at chunk starts.
    float* S = b.tok;  // running state (tok is free until the backward pass)
    if (p.initial_state)
        std::memcpy(S, p.initial_state + hv.state(), size_t(kv) * sizeof(float));
    else
        std::memset(S, 0, size_t(kv) * sizeof(float));
    for (int64_t t = 0; t < T; ++t) {
        if (t % chunk == 0) std::memcpy(b.checkpoints + (t / chunk) * kv, S, size_t(kv) * sizeof(float));
        step(p, hv, t, b, S, S);
    }
    // Backward.
    if (grad_final_state)
        std::memcpy(b.ds, grad_final_state + hv.state(), size_t(kv) * sizeof(float));
    else
        std::memset(b.ds, 0, size_t(kv) * sizeof(float));
    for (int64_t c = nch - 1; c >= 0; --c) {
        const int64_t t0 = c * chunk, n = std::min(chunk, T - t0);
        std::memcpy(b.tok, b.checkpoints + c * kv, size_t(kv) * sizeof(float));
        for (int64_t i = 0; i < n; ++i) step(p, hv, t0 + i, b, b.tok + i * kv, b.tok + (i + 1) * kv);
        for (int64_t i = n - 1; i >= 0; --i) {
            const int64_t t = t0 + i;
            const float* s_t = b.tok + (i + 1) * kv;
            const float* s_prev = b.tok + i * kv;
            load_row(p.q, p.dtype, hv.qk_row(t), kd, b.q);
            load_row(p.k, p.dtype, hv.qk_row(t), kd, b.k);
            load_row(p.v, p.dtype, hv.v_row(t), vd, b.v);
            load_row(grad_o, p.out_dtype, hv.v_row(t), vd, b.dov);
            load_decay(p, hv, t, b.a);
            // o_t = scale S_t^T q_t: dS_t += scale q_t do_t^T, dq_t = scale S_t do_t.
            float* dq = b.dq + t * kd;
            for (int64_t r = 0; r < kd; ++r) {
                axpy(p.scale * b.q[r], b.dov, b.ds + r * vd, vd);
                dq[r] += p.scale * dot(s_t + r * vd, b.dov, vd);
            }
            // S_t = diag(a_t) S_{t-1} + k_t v_t^T.
            float* dk = b.dk + t * kd;
            std::memset(b.row_v, 0, size_t(vd) * sizeof(float));
            for (int64_t r = 0; r < kd; ++r) {
                dk[r] += dot(b.ds + r * vd, b.v, vd);
                axpy(b.k[r], b.ds + r * vd, b.row_v, vd);
            }
            if (gr.dv) store_row(b.row_v, vd, gr.dtype, gr.dv, hv.v_row(t));
            if (p.gate != ENGRAM_SCAN_GATE_NONE) {
                // d a_t[r] = sum_x dS_t[r, x] S_{t-1}[r, x]; dg = a * d a.
                float total = 0.0f;
                for (int64_t r = 0; r < kd; ++r) {
                    b.row_k[r] = b.a[r] * dot(b.ds + r * vd, s_prev + r * vd, vd);
                    total += b.row_k[r];
                }
                if (gr.dg) {
                    float* dg = gr.dg + hv.g_row(t);
                    if (p.gate == ENGRAM_SCAN_GATE_SCALAR)
                        dg[0] = total;
                    else
                        std::memcpy(dg, b.row_k, size_t(kd) * sizeof(float));
                }
                for (int64_t r = 0; r < kd; ++r)
                    for (int64_t x = 0; x < vd; ++x) b.ds[r * vd + x] *= b.a[r];
            }
        }
    }
    if (gr.d_initial_state)
        std::memcpy(gr.d_initial_state + hv.state(), b.ds, size_t(kv) * sizeof(float));
}

}  // namespace

void scan_linear_backward(engram_context& ctx, const ScanProblem& p, const void* grad_o,
                          const float* grad_final_state, const ScanGrads& gr) {
    const int64_t kd = p.k_dim, T = p.t;
    const int64_t chunk = std::min<int64_t>(p.chunk, T);
    const int64_t units = p.batch * p.qk_heads;
    const uint64_t per_worker = (BackwardBuffers::floats(T, chunk, kd, p.v_dim) * 4 + 63) & ~uint64_t(63);
    const int workers = unit_workers(ctx, units);
    HostScratch scratch(ctx, per_worker * uint64_t(workers));
    for_each_unit(ctx, units, [&](int64_t unit, int w) {
        BackwardBuffers b = BackwardBuffers::carve(scratch.at<float>(per_worker * uint64_t(w)), T, chunk,
                                                   kd, p.v_dim);
        const int64_t bi = unit / p.qk_heads, hk = unit % p.qk_heads;
        std::memset(b.dq, 0, size_t(T * kd) * sizeof(float));
        std::memset(b.dk, 0, size_t(T * kd) * sizeof(float));
        for (int64_t h = hk * p.group(); h < (hk + 1) * p.group(); ++h)
            head_backward(p, HeadView{p, bi, h}, grad_o, grad_final_state, gr, b, chunk);
        for (int64_t t = 0; t < T; ++t) {
            const int64_t row = ((bi * T + t) * p.qk_heads + hk) * kd;
            if (gr.dq) store_row(b.dq + t * kd, kd, gr.dtype, gr.dq, row);
            if (gr.dk) store_row(b.dk + t * kd, kd, gr.dtype, gr.dk, row);
        }
    });
    op_stats_set(ctx.last_op, "chunks", uint64_t(p.batch * p.heads * ((T + chunk - 1) / chunk)));
}

}  // namespace engram::cpu
