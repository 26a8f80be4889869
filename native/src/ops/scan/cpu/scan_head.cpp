// scan_head.cpp — the chunked linear-attention forward of one (sequence, head)
// and its decode step. Within a chunk:
//   O = (Q K^T . D) V + (Q . D0) S,   S <- Dl . S + (K . Dk)^T V
// with D[i, j] = exp(b_i - b_j) (j <= i), D0 the decay from the chunk's start,
// Dl / Dk the decay to its end. b is the cumulative log-decay in float64, so
// the exponent of every factor is a difference of nearby sums: never large
// and positive for g <= 0, whatever the position in the sequence.
//
// Gate -inf (a reset) is handled exactly as the recurrence does it: b restarts
// at 0 after it, factors spanning it are 0 — multiplied, not skipped, so a NaN
// or inf already in the state or in a k or v row spreads as 0 * NaN = NaN does
// in the recurrence. NaN in g makes b NaN from that token on (a reset does not
// clear it), hence every later output of the head; so does b = +inf (the
// recurrence's 0 * inf = NaN at the next reset).
#include "ops/scan/cpu/scan_head.hpp"

#include <cmath>
#include <cstring>
#include <limits>

namespace engram::cpu {

namespace {

constexpr uint64_t align64(uint64_t bytes) { return (bytes + 63) & ~uint64_t(63); }

// Running log-decay over one chunk, per gate entry: b since the last reset,
// r the reset's token (-1 none), and the factors the chunk form needs.
struct Decay {
    const double* b;
    const int32_t* r;
    int64_t width;

    // exp of the log-decay from token j (exclusive) to token i (inclusive),
    // j <= i, for entry c: 0 when a reset lies in (j, i], NaN once b is NaN.
    float between(int64_t i, int64_t j, int64_t c) const {
        const double bi = b[i * width + c];
        if (j >= r[i * width + c]) return float(std::exp(bi - b[j * width + c]));
        return std::isnan(bi) ? std::numeric_limits<float>::quiet_NaN() : 0.0f;
    }
    // From the chunk's start (the carried state) to token i inclusive.
    float from_start(int64_t i, int64_t c) const {
        const double bi = b[i * width + c];
        if (r[i * width + c] < 0) return float(std::exp(bi));
        return std::isnan(bi) ? std::numeric_limits<float>::quiet_NaN() : 0.0f;
    }
};

// Fills b and r for n tokens of `width` gate entries each.
void cumulate(const float* g_rows, int64_t g_stride, int64_t n, int64_t width, double* b,
              int32_t* r) {
    for (int64_t c = 0; c < width; ++c) {
        double acc = 0.0;
        int32_t reset = -1;
        for (int64_t i = 0; i < n; ++i) {
            const double gi = double(g_rows[i * g_stride + c]);
            if (gi == -std::numeric_limits<double>::infinity() && std::isfinite(acc)) {
                acc = 0.0;  // S_i = 0 * S_{i-1} + k_i v_i^T
                reset = int32_t(i);
            } else {
                acc += gi;  // NaN (or +inf) stays non-finite, even across a later reset
            }
            b[i * width + c] = acc;
            r[i * width + c] = reset;
        }
    }
}

// dst[0:v] += w * src[0:v]; the loop the compiler vectorises.
inline void axpy(float w, const float* src, float* dst, int64_t v) {
    for (int64_t x = 0; x < v; ++x) dst[x] += w * src[x];
}

inline float dot(const float* a, const float* b, int64_t n) {
    float s = 0.0f;
    for (int64_t x = 0; x < n; ++x) s += a[x] * b[x];
    return s;
}

}  // namespace

uint64_t ChunkBuffers::bytes(int64_t chunk, int64_t k, int64_t v, int64_t width) {
    const uint64_t c = uint64_t(chunk);
    const uint64_t w = uint64_t(width > 0 ? width : 1);
    return align64(c * k * 4) * 3 + align64(c * v * 4) * 2 + align64(c * c * 4) +
           align64(c * w * 8) + align64(c * w * 4) + align64(uint64_t(k) * v * 4);
}

ChunkBuffers ChunkBuffers::carve(void* base, int64_t chunk, int64_t k, int64_t v, int64_t width) {
    const uint64_t c = uint64_t(chunk);
    const uint64_t w = uint64_t(width > 0 ? width : 1);
    auto* p = static_cast<unsigned char*>(base);
    auto take = [&](uint64_t bytes) {
        void* at = p;
        p += align64(bytes);
        return at;
    };
    ChunkBuffers s;
    s.q = static_cast<float*>(take(c * k * 4));
    s.k = static_cast<float*>(take(c * k * 4));
    s.kd = static_cast<float*>(take(c * k * 4));
    s.v = static_cast<float*>(take(c * v * 4));
    s.o = static_cast<float*>(take(c * v * 4));
    s.a = static_cast<float*>(take(c * c * 4));
    s.b = static_cast<double*>(take(c * w * 8));
    s.r = static_cast<int32_t*>(take(c * w * 4));
    s.state = static_cast<float*>(take(uint64_t(k) * v * 4));
    return s;
}

void scan_chunk(ChunkBuffers& buf, int64_t n, int64_t kd, int64_t vd, engram_scan_gate gate,
                const float* g_rows, int64_t g_stride) {
    const int64_t width = gate == ENGRAM_SCAN_GATE_NONE ? 0 : gate == ENGRAM_SCAN_GATE_SCALAR ? 1 : kd;
    if (width) cumulate(g_rows, g_stride, n, width, buf.b, buf.r);
    const Decay dec{buf.b, buf.r, width};
    float* S = buf.state;

    // Scores A[i, j] = sum_c q_ic k_jc D_c[i, j] for j <= i.
    if (gate == ENGRAM_SCAN_GATE_VECTOR) {
        for (int64_t i = 0; i < n; ++i) {
            const float* qi = buf.q + i * kd;
            float* ai = buf.a + i * n;
            for (int64_t j = 0; j <= i; ++j) {
                const float* kj = buf.k + j * kd;
                float s = 0.0f;
                for (int64_t c = 0; c < kd; ++c) s += qi[c] * kj[c] * dec.between(i, j, c);
                ai[j] = s;
            }
        }
    } else {
        // Q K^T as rank-1 updates over c with K transposed (in kd, free until
        // the state update), so the inner loop runs along j and vectorises.
        float* kt = buf.kd;  // [K, n]
        for (int64_t j = 0; j < n; ++j)
            for (int64_t c = 0; c < kd; ++c) kt[c * n + j] = buf.k[j * kd + c];
        for (int64_t i = 0; i < n; ++i) {
            const float* qi = buf.q + i * kd;
            float* ai = buf.a + i * n;
            std::memset(ai, 0, size_t(i + 1) * sizeof(float));
            for (int64_t c = 0; c < kd; ++c) axpy(qi[c], kt + c * n, ai, i + 1);
            if (gate == ENGRAM_SCAN_GATE_SCALAR)
                for (int64_t j = 0; j <= i; ++j) ai[j] *= dec.between(i, j, 0);
        }
    }

    // O[i] = (q_i . D0_i)^T S + sum_{j <= i} A[i, j] v_j.
    for (int64_t i = 0; i < n; ++i) {
        float* oi = buf.o + i * vd;
        std::memset(oi, 0, size_t(vd) * sizeof(float));
        const float* qi = buf.q + i * kd;
        const float d_scalar = gate == ENGRAM_SCAN_GATE_SCALAR ? dec.from_start(i, 0) : 1.0f;
        for (int64_t c = 0; c < kd; ++c) {
            const float d = gate == ENGRAM_SCAN_GATE_VECTOR ? dec.from_start(i, c) : d_scalar;
            axpy(qi[c] * d, S + c * vd, oi, vd);
        }
        const float* ai = buf.a + i * n;
        for (int64_t j = 0; j <= i; ++j) axpy(ai[j], buf.v + j * vd, oi, vd);
    }

    // S <- Dl . S + sum_j (k_j . Dk_j) v_j^T, Dl / Dk the decay to the chunk's
    // last token.
    const int64_t last = n - 1;
    for (int64_t j = 0; j < n; ++j)
        for (int64_t c = 0; c < kd; ++c) {
            const float d = gate == ENGRAM_SCAN_GATE_NONE     ? 1.0f
                            : gate == ENGRAM_SCAN_GATE_SCALAR ? dec.between(last, j, 0)
                                                              : dec.between(last, j, c);
            buf.kd[j * kd + c] = buf.k[j * kd + c] * d;
        }
    for (int64_t c = 0; c < kd; ++c) {
        float* sc = S + c * vd;
        if (gate != ENGRAM_SCAN_GATE_NONE) {
            const float d = dec.from_start(last, gate == ENGRAM_SCAN_GATE_SCALAR ? 0 : c);
            for (int64_t x = 0; x < vd; ++x) sc[x] *= d;
        }
        for (int64_t j = 0; j < n; ++j) axpy(buf.kd[j * kd + c], buf.v + j * vd, sc, vd);
    }
}

void scan_step(const float* state_in, float* state_out, const float* q, const float* k,
               const float* v, const float* g, engram_scan_gate gate, int64_t kd, int64_t vd,
               float* o) {
    std::memset(o, 0, size_t(vd) * sizeof(float));
    for (int64_t c = 0; c < kd; ++c) {
        const float a = gate == ENGRAM_SCAN_GATE_NONE     ? 1.0f
                        : gate == ENGRAM_SCAN_GATE_SCALAR ? std::exp(g[0])
                                                          : std::exp(g[c]);
        const float* in = state_in ? state_in + c * vd : nullptr;
        float* out = state_out + c * vd;
        // Row c of the new state, then its share of o (row c of state_in is
        // read before row c of state_out is written: in place is safe).
        for (int64_t x = 0; x < vd; ++x) out[x] = a * (in ? in[x] : 0.0f) + k[c] * v[x];
        axpy(q[c], out, o, vd);
    }
}

}  // namespace engram::cpu
