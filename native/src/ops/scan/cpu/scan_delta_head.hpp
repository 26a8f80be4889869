// scan_delta_head.hpp — the delta rule's work on one (sequence, value head):
// row loading (dtype conversion, in-op L2 normalisation, scale), the chunked
// forward of one chunk (UT transform) and the one-token recurrent step that
// the decode op and the backward share. fp32 rows; the caller owns scratch.
#pragma once

#include <cstdint>

#include "ops/scan/cpu/scan_rows.hpp"
#include "ops/scan/scan_delta_problem.hpp"

namespace engram::cpu {

// dst += w * src; the loop the compiler vectorises.
inline void delta_axpy(float w, const float* src, float* dst, int64_t n) {
    for (int64_t x = 0; x < n; ++x) dst[x] += w * src[x];
}

// a . b with 16 interleaved partial sums: a plain `s += a[i] * b[i]` is a
// serial chain the compiler may not reorder (no -ffast-math), so it runs
// scalar; 16 independent lanes vectorise (two AVX2 / four SSE registers)
// and the fixed summation order keeps results bit-identical run to run.
inline float delta_dot(const float* a, const float* b, int64_t n) {
    constexpr int L = 16;
    float acc[L] = {};
    int64_t i = 0;
    for (; i + L <= n; i += L)
        for (int l = 0; l < L; ++l) acc[l] += a[i + l] * b[i + l];
    float tail = 0.0f;
    for (; i < n; ++i) tail += a[i] * b[i];
    for (int w = L / 2; w > 0; w /= 2)
        for (int l = 0; l < w; ++l) acc[l] += acc[l + w];
    return acc[0] + tail;
}

// dst[0:m] += sum_j w[j] * src[j * ld + 0:m] (j < n): a row combination with
// 16 columns of dst held in registers across all n source rows, so each
// step costs one load of src instead of the load + store of dst that n
// separate axpys pay (those are bound by L1 traffic). Fixed order:
// deterministic.
inline void delta_combine(float* dst, const float* w, const float* src, int64_t ld, int64_t n,
                          int64_t m) {
    constexpr int L = 16;
    int64_t x = 0;
    for (; x + L <= m; x += L) {
        float acc[L];
        for (int l = 0; l < L; ++l) acc[l] = dst[x + l];
        for (int64_t j = 0; j < n; ++j) {
            const float wj = w[j];
            const float* s = src + j * ld + x;
            for (int l = 0; l < L; ++l) acc[l] += wj * s[l];
        }
        for (int l = 0; l < L; ++l) dst[x + l] = acc[l];
    }
    for (; x < m; ++x) {
        float acc = dst[x];
        for (int64_t j = 0; j < n; ++j) acc += w[j] * src[j * ld + x];
        dst[x] = acc;
    }
}

// The eps inside the L2 norm: x / sqrt(sum(x^2) + eps) (as flash-linear-
// attention's l2norm), so a zero row stays zero instead of 0/0.
constexpr float kDeltaL2Eps = 1e-6f;

// Element offsets of one (sequence n, value head h); `tau` is a token of the
// flat B * T axis.
struct DeltaHeadView {
    const DeltaProblem& p;
    int64_t n, h;

    int64_t begin() const { return p.offsets[size_t(n)]; }
    int64_t length() const { return p.offsets[size_t(n + 1)] - p.offsets[size_t(n)]; }
    int64_t qk_row(int64_t tau) const { return (tau * p.qk_heads + h / p.group()) * p.k_dim; }
    int64_t v_row(int64_t tau) const { return (tau * p.heads + h) * p.v_dim; }
    int64_t gate(int64_t tau) const { return tau * p.heads + h; }
    int64_t state() const { return (n * p.heads + h) * p.k_dim * p.v_dim; }
};

// Loads q (normalised when p.l2norm, times p.scale) and k (normalised) of
// token tau as fp32. inv_norm, when not null, receives 1 / sqrt(sum + eps)
// of the raw row (1 without normalisation), for the backward.
void delta_load_q(const DeltaProblem& p, const DeltaHeadView& hv, int64_t tau, float* q,
                  float* inv_norm = nullptr);
void delta_load_k(const DeltaProblem& p, const DeltaHeadView& hv, int64_t tau, float* k,
                  float* inv_norm = nullptr);

// Per-worker scratch of the chunked forward (chunks of up to `chunk` tokens).
struct DeltaChunkBuffers {
    float* q = nullptr;     // [C, K] scaled (and normalised) q
    float* k = nullptr;     // [C, K]
    float* v = nullptr;     // [C, V]
    float* u = nullptr;     // [C, V] the chunk's pseudo-values
    float* o = nullptr;     // [C, V]
    float* a = nullptr;     // [C, C] the decays f(i, j) (j <= i), then f(last, j)
    float* beta = nullptr;  // [C]
    float* w = nullptr;     // [max(C, K)] weights of one row combination
    double* b = nullptr;    // [C] cumulative log-decay since the chunk start / last reset
    int32_t* r = nullptr;   // [C] token of the last reset (g = -inf) in the chunk, -1 none
    float* state = nullptr; // [K, V]

    static uint64_t bytes(int64_t chunk, int64_t k, int64_t v);
    static DeltaChunkBuffers carve(void* base, int64_t chunk, int64_t k, int64_t v);
};

// One chunk of n tokens: reads buf.q/k/v/beta, g_rows (n log-decays, stride
// g_stride floats; nullptr = plain delta rule), writes buf.o and advances
// buf.state over the chunk.
void delta_chunk(DeltaChunkBuffers& buf, int64_t n, int64_t k_dim, int64_t v_dim,
                 const float* g_rows, int64_t g_stride);

// One token of the recurrence: S_out = a S_in + k u^T, u = beta (v - a S_in^T k),
// o = S_out^T q (q already scaled), a = exp(*g) or 1 when g is null. state_in
// nullptr = zeros; state_out may equal state_in (every row of state_in is
// read before the first row is written). u [V] receives u.
void delta_step(const float* state_in, float* state_out, const float* q, const float* k,
                const float* v, float beta, const float* g, int64_t k_dim, int64_t v_dim,
                float* o, float* u);

// Defined in scan_delta_backward.cpp.
void scan_delta_backward(engram_context& ctx, const DeltaProblem& p, const void* grad_o,
                         const float* grad_final_state, const DeltaGrads& grads);

}  // namespace engram::cpu
