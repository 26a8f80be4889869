// scan_reference.cpp — see scan_reference.hpp.
#include "ops/scan/reference/scan_reference.hpp"

#include <cmath>

namespace engram_test {

namespace {

struct Index {
    const ScanRefProblem& p;
    int64_t b, h;
    int64_t qk(int64_t t, int64_t c) const {
        return ((b * p.t + t) * p.qk_heads + h / (p.heads / p.qk_heads)) * p.k_dim + c;
    }
    int64_t v(int64_t t, int64_t x) const { return ((b * p.t + t) * p.heads + h) * p.v_dim + x; }
    int64_t state(int64_t c, int64_t x) const {
        return ((b * p.heads + h) * p.k_dim + c) * p.v_dim + x;
    }
    // Decay factor a_t[c].
    double decay(int64_t t, int64_t c) const {
        if (p.gate == 0) return 1.0;
        const int64_t w = p.gate_width();
        return std::exp(p.g[size_t(((b * p.t + t) * p.heads + h) * w + (p.gate == 1 ? 0 : c))]);
    }
    double s0(int64_t c, int64_t x) const { return p.s0.empty() ? 0.0 : p.s0[size_t(state(c, x))]; }
};

ScanRefResult sized(const ScanRefProblem& p) {
    ScanRefResult r;
    r.o.assign(size_t(p.batch * p.t * p.heads * p.v_dim), 0.0);
    r.state.assign(size_t(p.batch * p.heads * p.k_dim * p.v_dim), 0.0);
    return r;
}

}  // namespace

ScanRefResult ref_scan_recurrent(const ScanRefProblem& p) {
    ScanRefResult r = sized(p);
    const int64_t K = p.k_dim, V = p.v_dim;
    for (int64_t b = 0; b < p.batch; ++b)
        for (int64_t h = 0; h < p.heads; ++h) {
            const Index ix{p, b, h};
            std::vector<double> S(static_cast<size_t>(K * V));
            for (int64_t c = 0; c < K; ++c)
                for (int64_t x = 0; x < V; ++x) S[size_t(c * V + x)] = ix.s0(c, x);
            for (int64_t t = 0; t < p.t; ++t) {
                for (int64_t c = 0; c < K; ++c) {
                    const double a = ix.decay(t, c), kc = p.k[size_t(ix.qk(t, c))];
                    for (int64_t x = 0; x < V; ++x)
                        S[size_t(c * V + x)] = a * S[size_t(c * V + x)] + kc * p.v[size_t(ix.v(t, x))];
                }
                for (int64_t x = 0; x < V; ++x) {
                    double acc = 0.0;
                    for (int64_t c = 0; c < K; ++c) acc += p.q[size_t(ix.qk(t, c))] * S[size_t(c * V + x)];
                    r.o[size_t(ix.v(t, x))] = p.scale * acc;
                }
            }
            for (int64_t c = 0; c < K; ++c)
                for (int64_t x = 0; x < V; ++x) r.state[size_t(ix.state(c, x))] = S[size_t(c * V + x)];
        }
    return r;
}

ScanRefResult ref_scan_quadratic(const ScanRefProblem& p) {
    ScanRefResult r = sized(p);
    const int64_t K = p.k_dim, V = p.v_dim, T = p.t;
    for (int64_t b = 0; b < p.batch; ++b)
        for (int64_t h = 0; h < p.heads; ++h) {
            const Index ix{p, b, h};
            // Rows i = 0..T-1 are outputs; row T (the "token after the last")
            // with q = 0 gives the final state's decay to T-1 inclusive.
            std::vector<double> D(static_cast<size_t>(K));  // D_c(i, j), built for j = i, i-1, ..., -1
            for (int64_t i = 0; i <= T; ++i) {
                const int64_t row = i < T ? i : T - 1;
                for (int64_t c = 0; c < K; ++c) D[size_t(c)] = 1.0;
                for (int64_t j = row; j >= -1; --j) {
                    // D holds prod_{s=j+1..row} a_s.
                    for (int64_t c = 0; c < K; ++c) {
                        if (i < T) {
                            const double w = p.q[size_t(ix.qk(row, c))] * D[size_t(c)];
                            for (int64_t x = 0; x < V; ++x) {
                                const double src = j >= 0 ? p.k[size_t(ix.qk(j, c))] * p.v[size_t(ix.v(j, x))]
                                                          : ix.s0(c, x);
                                r.o[size_t(ix.v(i, x))] += p.scale * w * src;
                            }
                        } else {
                            for (int64_t x = 0; x < V; ++x) {
                                const double src = j >= 0 ? p.k[size_t(ix.qk(j, c))] * p.v[size_t(ix.v(j, x))]
                                                          : ix.s0(c, x);
                                r.state[size_t(ix.state(c, x))] += D[size_t(c)] * src;
                            }
                        }
                        if (j >= 0) D[size_t(c)] *= ix.decay(j, c);
                    }
                }
            }
        }
    return r;
}

}  // namespace engram_test
