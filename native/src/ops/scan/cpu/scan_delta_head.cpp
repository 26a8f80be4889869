// scan_delta_head.cpp — the delta rule on one (sequence, value head).
//
// Chunk form (UT transform). With S the state at the chunk's start, c_i the
// cumulative log-decay over tokens 0..i of the chunk (float64) and
// f(i, j) = exp(c_i - c_j) the decay from token j (exclusive) to i, the
// recurrence S_i = a_i S_{i-1} + k_i u_i^T with pseudo-values
// u_i = b_i (v_i - a_i S_{i-1}^T k_i) unrolls to
//   u_i + sum_{j<i} b_i f(i, j) (k_i . k_j) u_j = b_i (v_i - exp(c_i) S^T k_i)
// — a unit lower-triangular system (I + A) U = R, solved by forward
// substitution (applying the UT transform T = (I + A)^{-1} to R). Then
//   o_i = exp(c_i) S^T q_i + sum_{j<=i} f(i, j) (q_i . k_j) u_j
//   S  <- exp(c_last) S + sum_j f(last, j) k_j u_j^T.
// Every exponent is a difference of nearby sums, never exp(-cumsum): no
// overflow for any T. A gate of -inf is a reset: c restarts after it and
// factors spanning it are 0, multiplied (never skipped) so NaN already in
// the state or a row spreads as 0 * NaN does in the recurrence.
#include "ops/scan/cpu/scan_delta_head.hpp"

#include <cmath>
#include <cstring>
#include <limits>

namespace engram::cpu {

namespace {

constexpr uint64_t align64(uint64_t bytes) { return (bytes + 63) & ~uint64_t(63); }

inline float dot(const float* a, const float* b, int64_t n) { return delta_dot(a, b, n); }

// 1 / sqrt(sum(x^2) + eps), the sum in double (K <= 256 terms).
float inv_l2(const float* x, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i) s += double(x[i]) * double(x[i]);
    return float(1.0 / std::sqrt(s + double(kDeltaL2Eps)));
}

// The chunk's scalar decay: b since the chunk start or the last reset, r the reset.
struct ChunkDecay {
    const double* b;
    const int32_t* r;
    bool gated;

    float between(int64_t i, int64_t j) const {  // j <= i
        if (!gated) return 1.0f;
        const double bi = b[i];
        if (j >= r[i]) return float(std::exp(bi - b[j]));
        return std::isnan(bi) ? std::numeric_limits<float>::quiet_NaN() : 0.0f;
    }
    float from_start(int64_t i) const {
        if (!gated) return 1.0f;
        const double bi = b[i];
        if (r[i] < 0) return float(std::exp(bi));
        return std::isnan(bi) ? std::numeric_limits<float>::quiet_NaN() : 0.0f;
    }
};

void cumulate(const float* g_rows, int64_t g_stride, int64_t n, double* b, int32_t* r) {
    double acc = 0.0;
    int32_t reset = -1;
    for (int64_t i = 0; i < n; ++i) {
        const double gi = double(g_rows[i * g_stride]);
        if (gi == -std::numeric_limits<double>::infinity() && std::isfinite(acc)) {
            acc = 0.0;  // S_i = 0 * S_{i-1} + k_i u_i^T
            reset = int32_t(i);
        } else {
            acc += gi;  // NaN (or +inf) stays non-finite, even across a later reset
        }
        b[i] = acc;
        r[i] = reset;
    }
}

}  // namespace

void delta_load_q(const DeltaProblem& p, const DeltaHeadView& hv, int64_t tau, float* q,
                  float* inv_norm) {
    load_row(p.q, p.dtype, hv.qk_row(tau), p.k_dim, q);
    const float inv = p.l2norm ? inv_l2(q, p.k_dim) : 1.0f;
    if (inv_norm) *inv_norm = inv;
    // Normalise, then scale: two roundings, as x / norm * scale in PyTorch.
    for (int64_t c = 0; c < p.k_dim; ++c) q[c] = (p.l2norm ? q[c] * inv : q[c]) * p.scale;
}

void delta_load_k(const DeltaProblem& p, const DeltaHeadView& hv, int64_t tau, float* k,
                  float* inv_norm) {
    load_row(p.k, p.dtype, hv.qk_row(tau), p.k_dim, k);
    const float inv = p.l2norm ? inv_l2(k, p.k_dim) : 1.0f;
    if (inv_norm) *inv_norm = inv;
    if (p.l2norm)
        for (int64_t c = 0; c < p.k_dim; ++c) k[c] *= inv;
}

uint64_t DeltaChunkBuffers::bytes(int64_t chunk, int64_t k, int64_t v) {
    const uint64_t c = uint64_t(chunk);
    return align64(c * k * 4) * 2 + align64(c * v * 4) * 3 + align64(c * c * 4) +
           align64(c * 4) * 2 + align64((c + uint64_t(k)) * 4) + align64(c * 8) +
           align64(uint64_t(k) * v * 4);
}

DeltaChunkBuffers DeltaChunkBuffers::carve(void* base, int64_t chunk, int64_t k, int64_t v) {
    const uint64_t c = uint64_t(chunk);
    auto* p = static_cast<unsigned char*>(base);
    auto take = [&](uint64_t bytes) {
        void* at = p;
        p += align64(bytes);
        return at;
    };
    DeltaChunkBuffers s;
    s.q = static_cast<float*>(take(c * k * 4));
    s.k = static_cast<float*>(take(c * k * 4));
    s.v = static_cast<float*>(take(c * v * 4));
    s.u = static_cast<float*>(take(c * v * 4));
    s.o = static_cast<float*>(take(c * v * 4));
    s.a = static_cast<float*>(take(c * c * 4));
    s.beta = static_cast<float*>(take(c * 4));
    s.w = static_cast<float*>(take((c + uint64_t(k)) * 4));
    s.b = static_cast<double*>(take(c * 8));
    s.r = static_cast<int32_t*>(take(c * 4));
    s.state = static_cast<float*>(take(uint64_t(k) * v * 4));
    return s;
}

void delta_chunk(DeltaChunkBuffers& buf, int64_t n, int64_t kd, int64_t vd, const float* g_rows,
                 int64_t g_stride) {
    if (g_rows) cumulate(g_rows, g_stride, n, buf.b, buf.r);
    const ChunkDecay dec{buf.b, buf.r, g_rows != nullptr};
    float* S = buf.state;

    // R_i = b_i (v_i - exp(c_i) S^T k_i), built in u.
    for (int64_t i = 0; i < n; ++i) {
        float* ui = buf.u + i * vd;
        std::memset(ui, 0, size_t(vd) * sizeof(float));
        delta_combine(ui, buf.k + i * kd, S, vd, kd, vd);
        const float d = dec.from_start(i), bi = buf.beta[i];
        const float* vi = buf.v + i * vd;
        for (int64_t x = 0; x < vd; ++x) ui[x] = bi * (vi[x] - d * ui[x]);
    }
    // The decays f(i, j), j <= i, once (C^2 / 2 exps per chunk).
    float* F = buf.a;
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j <= i; ++j) F[i * n + j] = dec.between(i, j);
    // Forward substitution of (I + A) U = R, A[i, j] = b_i f(i, j) k_i . k_j:
    // row i needs only the finished rows j < i.
    for (int64_t i = 1; i < n; ++i) {
        const float* ki = buf.k + i * kd;
        for (int64_t j = 0; j < i; ++j)
            buf.w[j] = -(buf.beta[i] * F[i * n + j] * dot(ki, buf.k + j * kd, kd));
        delta_combine(buf.u + i * vd, buf.w, buf.u, vd, i, vd);
    }
    // O_i = exp(c_i) S^T q_i + sum_{j<=i} f(i, j) (q_i . k_j) u_j.
    for (int64_t i = 0; i < n; ++i) {
        float* oi = buf.o + i * vd;
        std::memset(oi, 0, size_t(vd) * sizeof(float));
        const float* qi = buf.q + i * kd;
        const float d = dec.from_start(i);
        for (int64_t c = 0; c < kd; ++c) buf.w[c] = qi[c] * d;
        delta_combine(oi, buf.w, S, vd, kd, vd);
        for (int64_t j = 0; j <= i; ++j) buf.w[j] = dot(qi, buf.k + j * kd, kd) * F[i * n + j];
        delta_combine(oi, buf.w, buf.u, vd, i + 1, vd);
    }
    // S <- exp(c_last) S + sum_j f(last, j) k_j u_j^T (row `last` of F).
    const int64_t last = n - 1;
    const float* f_last = F + last * n;
    const float d_last = dec.from_start(last);
    for (int64_t c = 0; c < kd; ++c) {
        float* sc = S + c * vd;
        if (g_rows)
            for (int64_t x = 0; x < vd; ++x) sc[x] *= d_last;
        for (int64_t j = 0; j < n; ++j) buf.w[j] = buf.k[j * kd + c] * f_last[j];
        delta_combine(sc, buf.w, buf.u, vd, n, vd);
    }
}

void delta_step(const float* state_in, float* state_out, const float* q, const float* k,
                const float* v, float beta, const float* g, int64_t kd, int64_t vd, float* o,
                float* u) {
    const float a = g ? std::exp(*g) : 1.0f;
    // u = beta (v - a S_in^T k): reads every row of state_in first.
    std::memset(u, 0, size_t(vd) * sizeof(float));
    if (state_in) delta_combine(u, k, state_in, vd, kd, vd);
    for (int64_t x = 0; x < vd; ++x) u[x] = beta * (v[x] - a * u[x]);
    // Row c of the new state from row c of the old one (in place is safe),
    // then o = S_out^T q.
    for (int64_t c = 0; c < kd; ++c) {
        const float* in = state_in ? state_in + c * vd : nullptr;
        float* out = state_out + c * vd;
        for (int64_t x = 0; x < vd; ++x) out[x] = a * (in ? in[x] : 0.0f) + k[c] * u[x];
    }
    std::memset(o, 0, size_t(vd) * sizeof(float));
    delta_combine(o, q, state_out, vd, kd, vd);
}

}  // namespace engram::cpu
