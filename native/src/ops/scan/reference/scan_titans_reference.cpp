// scan_titans_reference.cpp — see scan_titans_reference.hpp.
#include "ops/scan/reference/scan_titans_reference.hpp"

#include <cmath>

namespace engram_test {

TitansRefResult ref_titans(const TitansRefProblem& p) {
    const int64_t kd = p.k_dim, vd = p.v_dim, g = p.heads / p.qk_heads;
    const bool mag = p.magnitude;
    auto a = [mag](double x) { return mag ? std::fabs(x) : x; };
    TitansRefResult r;
    r.o.assign(static_cast<size_t>(p.batch * p.t * p.heads * vd), 0.0);
    r.memory.assign(static_cast<size_t>(p.batch * p.heads * kd * vd), 0.0);
    r.surprise = r.memory;
    for (int64_t b = 0; b < p.batch; ++b)
        for (int64_t h = 0; h < p.heads; ++h) {
            // M[x][c] (V x K), S likewise.
            std::vector<std::vector<double>> m(static_cast<size_t>(vd), std::vector<double>(static_cast<size_t>(kd), 0.0)), s = m;
            const size_t st = size_t((b * p.heads + h) * kd * vd);
            for (int64_t c = 0; c < kd; ++c)
                for (int64_t x = 0; x < vd; ++x) {
                    if (!p.m0.empty()) m[size_t(x)][size_t(c)] = a(p.m0[st + size_t(c * vd + x)]);
                    if (!p.s0.empty()) s[size_t(x)][size_t(c)] = a(p.s0[st + size_t(c * vd + x)]);
                }
            for (int64_t t = 0; t < p.t; ++t) {
                const size_t qk = size_t(((b * p.t + t) * p.qk_heads + h / g) * kd);
                const size_t vi = size_t(((b * p.t + t) * p.heads + h) * vd);
                const size_t gi = size_t((b * p.t + t) * p.heads + h);
                std::vector<double> e(static_cast<size_t>(vd));
                for (int64_t x = 0; x < vd; ++x) {
                    double pred = 0.0;
                    for (int64_t c = 0; c < kd; ++c) pred += m[size_t(x)][size_t(c)] * a(p.k[qk + size_t(c)]);
                    e[size_t(x)] = mag ? pred + std::fabs(p.v[vi + size_t(x)]) : pred - p.v[vi + size_t(x)];
                }
                const double eta = a(p.eta[gi]), theta = a(p.theta[gi]), keep = a(1.0 - p.alpha[gi]);
                for (int64_t x = 0; x < vd; ++x)
                    for (int64_t c = 0; c < kd; ++c) {
                        double& sv = s[size_t(x)][size_t(c)];
                        const double grad = theta * e[size_t(x)] * a(p.k[qk + size_t(c)]);
                        sv = mag ? eta * sv + grad : eta * sv - grad;
                        m[size_t(x)][size_t(c)] = keep * m[size_t(x)][size_t(c)] + sv;
                    }
                for (int64_t x = 0; x < vd; ++x) {
                    double o = 0.0;
                    for (int64_t c = 0; c < kd; ++c) o += m[size_t(x)][size_t(c)] * a(p.q[qk + size_t(c)]);
                    r.o[vi + size_t(x)] = o;
                }
            }
            for (int64_t c = 0; c < kd; ++c)
                for (int64_t x = 0; x < vd; ++x) {
                    r.memory[st + size_t(c * vd + x)] = m[size_t(x)][size_t(c)];
                    r.surprise[st + size_t(c * vd + x)] = s[size_t(x)][size_t(c)];
                }
        }
    return r;
}

}  // namespace engram_test
