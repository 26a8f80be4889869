// scan_delta_backward.cpp — the backward of the delta rule on the CPU.
//
// Work unit: one (sequence, q/k head); the value heads sharing that q/k head
// run one after the other on the same worker, so dq and dk (sums over them)
// accumulate in a fixed order without races: bit-identical for any thread
// count. Per value head, a forward pass of the recurrence (delta_step) keeps
// the state at every chunk start; then, chunk by chunk from the end, the
// chunk's token states are recomputed from the checkpoint with the same fp32
// operations and the recurrence is run backwards token by token. With
// P = a S_{t-1}, pred = P^T k, u = b (v - pred), S_t = P + k u^T and
// o_t = S_t^T q~ (q~ = scale * normalised q):
//   dS += q~ do^T;  dq~ = S_t do;  du = dS^T k;  dk = dS u;  dv = b du;
//   db = du . (v - pred);  dpred = -b du;  dk += a S_{t-1} dpred;
//   dg = a (sum(dS . S_{t-1}) + dpred . S_{t-1}^T k);  dS <- a (dS + k dpred^T)
// and d_initial_state = dS after the sequence's first token. The L2
// normalisation's backward (x^ = x r, r = 1/sqrt(|x|^2 + eps)):
// dx = r (dx^ - x^ (x^ . dx^)), applied once to the group's summed dq^ / dk^.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/op_stats.hpp"
#include "ops/scan/cpu/scan_delta_head.hpp"

namespace engram::cpu {

namespace {

inline void axpy(float w, const float* src, float* dst, int64_t n) { delta_axpy(w, src, dst, n); }
inline float dot(const float* a, const float* b, int64_t n) { return delta_dot(a, b, n); }

struct DeltaBackwardBuffers {
    float* checkpoints;  // [ceil(L / C), K, V]
    float* tok;          // [C, K, V]: the chunk's token states S_t
    float* ds;           // [K, V]
    float* dq;           // [L, K] fp32 sums over the group's value heads (d q^)
    float* dk;           // [L, K]
    float *q, *k, *dqt, *dkt;               // [K] each
    float *v, *u, *dov, *du, *dpred, *pk;   // [V] each

    static uint64_t floats(int64_t len, int64_t chunk, int64_t kd, int64_t vd) {
        const int64_t nch = (len + chunk - 1) / chunk;
        return uint64_t((nch + chunk + 1) * kd * vd + 2 * len * kd + 4 * kd + 6 * vd);
    }
    static DeltaBackwardBuffers carve(float* base, int64_t len, int64_t chunk, int64_t kd,
                                      int64_t vd) {
        const int64_t nch = (len + chunk - 1) / chunk, kv = kd * vd;
        DeltaBackwardBuffers b;
        float* p = base;
        auto take = [&](int64_t n) {
            float* at = p;
            p += n;
            return at;
        };
        b.checkpoints = take(nch * kv);
        b.tok = take(chunk * kv);
        b.ds = take(kv);
        b.dq = take(len * kd);
        b.dk = take(len * kd);
        b.q = take(kd);
        b.k = take(kd);
        b.dqt = take(kd);
        b.dkt = take(kd);
        b.v = take(vd);
        b.u = take(vd);
        b.dov = take(vd);
        b.du = take(vd);
        b.dpred = take(vd);
        b.pk = take(vd);
        return b;
    }
};

// dx = r (dx^ - x^ (x^ . dx^)) in place on d, x^ = the normalised row.
void l2norm_backward(const float* xhat, float r, float* d, int64_t n) {
    const float s = dot(xhat, d, n);
    for (int64_t c = 0; c < n; ++c) d[c] = r * (d[c] - xhat[c] * s);
}

// One value head of a unit: adds its share of dq^ / dk^ to b.dq / b.dk and
// writes its dv, dg, dbeta, d_initial_state.
void head_backward(const DeltaProblem& p, const DeltaHeadView& hv, DeltaBackwardBuffers& b,
                   int64_t chunk, const void* grad_o, const float* grad_final_state,
                   const DeltaGrads& grads) {
    const int64_t kd = p.k_dim, vd = p.v_dim, kv = kd * vd;
    const int64_t begin = hv.begin(), len = hv.length();
    const float* g_at = nullptr;
    auto load_token = [&](int64_t tau) {
        delta_load_q(p, hv, tau, b.q);
        delta_load_k(p, hv, tau, b.k);
        load_row(p.v, p.dtype, hv.v_row(tau), vd, b.v);
        g_at = p.g ? p.g + hv.gate(tau) : nullptr;
    };

    // Forward: checkpoint the state at each chunk start (b.ds is free now).
    float* S = b.ds;
    if (p.initial_state)
        std::memcpy(S, p.initial_state + hv.state(), size_t(kv) * sizeof(float));
    else
        std::memset(S, 0, size_t(kv) * sizeof(float));
    for (int64_t t = 0; t < len; ++t) {
        if (t % chunk == 0)
            std::memcpy(b.checkpoints + (t / chunk) * kv, S, size_t(kv) * sizeof(float));
        load_token(begin + t);
        delta_step(S, S, b.q, b.k, b.v, p.beta[hv.gate(begin + t)], g_at, kd, vd, b.dov, b.u);
    }

    float* dS = b.ds;
    if (grad_final_state)
        std::memcpy(dS, grad_final_state + hv.state(), size_t(kv) * sizeof(float));
    else
        std::memset(dS, 0, size_t(kv) * sizeof(float));
    const int64_t nch = (len + chunk - 1) / chunk;
    for (int64_t ch = nch - 1; ch >= 0; --ch) {
        const int64_t t0 = ch * chunk, n = std::min(chunk, len - t0);
        const float* ckpt = b.checkpoints + ch * kv;
        for (int64_t i = 0; i < n; ++i) {
            load_token(begin + t0 + i);
            delta_step(i ? b.tok + (i - 1) * kv : ckpt, b.tok + i * kv, b.q, b.k, b.v,
                       p.beta[hv.gate(begin + t0 + i)], g_at, kd, vd, b.dov, b.u);
        }
        for (int64_t i = n - 1; i >= 0; --i) {
            const int64_t t = t0 + i, tau = begin + t;
            load_token(tau);
            const float beta = p.beta[hv.gate(tau)];
            const float a = g_at ? std::exp(*g_at) : 1.0f;
            const float* Sp = i ? b.tok + (i - 1) * kv : ckpt;
            const float* St = b.tok + i * kv;
            load_row(grad_o, p.out_dtype, hv.v_row(tau), vd, b.dov);
            // dS += q~ do^T; dq^ = scale * S_t do.
            for (int64_t c = 0; c < kd; ++c) {
                axpy(b.q[c], b.dov, dS + c * vd, vd);
                b.dq[t * kd + c] += p.scale * dot(St + c * vd, b.dov, vd);
            }
            // pk = S_{t-1}^T k; u = b (v - a pk); du = dS^T k.
            std::memset(b.pk, 0, size_t(vd) * sizeof(float));
            std::memset(b.du, 0, size_t(vd) * sizeof(float));
            delta_combine(b.pk, b.k, Sp, vd, kd, vd);
            delta_combine(b.du, b.k, dS, vd, kd, vd);
            float dbeta = 0.0f, dgs = 0.0f;
            for (int64_t x = 0; x < vd; ++x) {
                const float r = b.v[x] - a * b.pk[x];
                b.u[x] = beta * r;
                dbeta += b.du[x] * r;
                b.dpred[x] = -beta * b.du[x];
                dgs += b.dpred[x] * b.pk[x];
            }
            // dk^ = dS u + a S_{t-1} dpred; dg's sum(dS . S_{t-1}); then dS.
            for (int64_t c = 0; c < kd; ++c) {
                float* dsc = dS + c * vd;
                const float* spc = Sp + c * vd;
                b.dk[t * kd + c] += dot(dsc, b.u, vd) + a * dot(spc, b.dpred, vd);
                dgs += dot(dsc, spc, vd);
                for (int64_t x = 0; x < vd; ++x) dsc[x] = a * (dsc[x] + b.k[c] * b.dpred[x]);
            }
            if (grads.dv) {
                for (int64_t x = 0; x < vd; ++x) b.du[x] *= beta;
                store_row(b.du, vd, grads.dtype, grads.dv, hv.v_row(tau));
            }
            if (grads.dbeta) grads.dbeta[hv.gate(tau)] = dbeta;
            if (grads.dg) grads.dg[hv.gate(tau)] = a * dgs;
        }
    }
    if (grads.d_initial_state)
        std::memcpy(grads.d_initial_state + hv.state(), dS, size_t(kv) * sizeof(float));
}

}  // namespace

void scan_delta_backward(engram_context& ctx, const DeltaProblem& p, const void* grad_o,
                         const float* grad_final_state, const DeltaGrads& grads) {
    const int64_t kd = p.k_dim, vd = p.v_dim, units = p.seqs() * p.qk_heads;
    int64_t longest = 0;
    for (int64_t n = 0; n < p.seqs(); ++n)
        longest = std::max(longest, p.offsets[size_t(n + 1)] - p.offsets[size_t(n)]);
    const int64_t chunk = std::min<int64_t>(p.chunk, longest);
    const uint64_t per_worker = DeltaBackwardBuffers::floats(longest, chunk, kd, vd) * sizeof(float);
    const int workers = unit_workers(ctx, units);
    HostScratch scratch(ctx, per_worker * uint64_t(workers));
    for_each_unit(ctx, units, [&](int64_t unit, int w) {
        const int64_t n = unit / p.qk_heads, hk = unit % p.qk_heads;
        DeltaHeadView first{p, n, hk * p.group()};
        const int64_t len = first.length(), begin = first.begin();
        DeltaBackwardBuffers b = DeltaBackwardBuffers::carve(
            scratch.at<float>(per_worker * uint64_t(w)), len, chunk, kd, vd);
        std::memset(b.dq, 0, size_t(2 * len * kd) * sizeof(float));  // dq, dk adjacent
        for (int64_t j = 0; j < p.group(); ++j)
            head_backward(p, DeltaHeadView{p, n, hk * p.group() + j}, b, chunk, grad_o,
                          grad_final_state, grads);
        // d q^ / d k^ to the raw q, k (normalisation) and the caller's dtype.
        for (int64_t t = 0; t < len; ++t) {
            float* dq = b.dq + t * kd;
            float* dk = b.dk + t * kd;
            if (p.l2norm) {
                float rq, rk;
                delta_load_q(p, first, begin + t, b.q, &rq);
                delta_load_k(p, first, begin + t, b.k, &rk);
                // q^ itself (b.q holds scale * q^, rounded): raw q times rq.
                load_row(p.q, p.dtype, first.qk_row(begin + t), kd, b.dqt);
                for (int64_t c = 0; c < kd; ++c) b.dqt[c] *= rq;
                l2norm_backward(b.dqt, rq, dq, kd);
                l2norm_backward(b.k, rk, dk, kd);
            }
            if (grads.dq) store_row(dq, kd, grads.dtype, grads.dq, first.qk_row(begin + t));
            if (grads.dk) store_row(dk, kd, grads.dtype, grads.dk, first.qk_row(begin + t));
        }
    });
    uint64_t total = 0;
    for (int64_t n = 0; n < p.seqs(); ++n)
        total += uint64_t((p.offsets[size_t(n + 1)] - p.offsets[size_t(n)] + chunk - 1) / chunk);
    op_stats_set(ctx.last_op, "chunks", total * uint64_t(p.heads));
}

}  // namespace engram::cpu
