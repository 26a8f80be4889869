// scan_based_reference.cpp — see scan_based_reference.hpp.
#include "ops/scan/reference/scan_based_reference.hpp"

#include <algorithm>
#include <cmath>

namespace engram_test {

std::vector<double> ref_based_feature_map(const std::vector<double>& x, int64_t rows, int64_t d) {
    const int64_t f = 1 + d + d * d;
    std::vector<double> phi(static_cast<size_t>(rows * f));
    for (int64_t r = 0; r < rows; ++r) {
        const double* xr = x.data() + r * d;
        double* p = phi.data() + r * f;
        p[0] = 1.0;
        for (int64_t i = 0; i < d; ++i) p[1 + i] = xr[i] / std::pow(double(d), 0.25);
        for (int64_t i = 0; i < d; ++i)
            for (int64_t j = 0; j < d; ++j)
                p[1 + d + i * d + j] = xr[i] * xr[j] / (std::sqrt(2.0) * std::sqrt(double(d)));
    }
    return phi;
}

std::vector<double> ref_based_forward(const BasedRefProblem& p) {
    const int64_t d = p.k_dim, vd = p.v_dim, f = 1 + d + d * d, g = p.heads / p.qk_heads;
    const std::vector<double> pq = ref_based_feature_map(p.q, p.batch * p.t * p.qk_heads, d);
    const std::vector<double> pk = ref_based_feature_map(p.k, p.batch * p.t * p.qk_heads, d);
    std::vector<double> o(static_cast<size_t>(p.batch * p.t * p.heads * vd), 0.0);
    for (int64_t b = 0; b < p.batch; ++b)
        for (int64_t h = 0; h < p.heads; ++h)
            for (int64_t t = 0; t < p.t; ++t) {
                const double* fq = pq.data() + ((b * p.t + t) * p.qk_heads + h / g) * f;
                double den = 0.0;
                std::vector<double> num(static_cast<size_t>(vd), 0.0);
                for (int64_t j = 0; j <= t; ++j) {
                    const double* fk = pk.data() + ((b * p.t + j) * p.qk_heads + h / g) * f;
                    double a = 0.0;
                    for (int64_t e = 0; e < f; ++e) a += fq[e] * fk[e];
                    den += a;
                    for (int64_t x = 0; x < vd; ++x)
                        num[size_t(x)] += a * p.v[size_t(((b * p.t + j) * p.heads + h) * vd + x)];
                }
                for (int64_t x = 0; x < vd; ++x)
                    o[size_t(((b * p.t + t) * p.heads + h) * vd + x)] = num[size_t(x)] / den;
            }
    return o;
}

std::vector<double> ref_sliding_window(const BasedRefProblem& p) {
    const int64_t d = p.k_dim, vd = p.v_dim, g = p.heads / p.qk_heads;
    std::vector<double> o(static_cast<size_t>(p.batch * p.t * p.heads * vd), 0.0);
    for (int64_t b = 0; b < p.batch; ++b)
        for (int64_t h = 0; h < p.heads; ++h)
            for (int64_t t = 0; t < p.t; ++t) {
                const int64_t j0 = std::max<int64_t>(0, t - p.window + 1), hk = h / g;
                std::vector<double> s;
                for (int64_t j = j0; j <= t; ++j) {
                    double x = 0.0;
                    for (int64_t e = 0; e < d; ++e)
                        x += p.q[size_t(((b * p.t + t) * p.heads + h) * d + e)] *
                             p.k[size_t(((b * p.t + j) * p.qk_heads + hk) * d + e)];
                    s.push_back(x * p.scale);
                }
                double mx = -INFINITY, sum = 0.0;
                for (double x : s) mx = std::isnan(x) || std::isnan(mx) ? NAN : std::max(mx, x);
                for (double& x : s) sum += (x = std::exp(x - mx));
                for (int64_t j = j0; j <= t; ++j)
                    for (int64_t x = 0; x < vd; ++x)
                        o[size_t(((b * p.t + t) * p.heads + h) * vd + x)] +=
                            s[size_t(j - j0)] / sum * p.v[size_t(((b * p.t + j) * p.qk_heads + hk) * vd + x)];
            }
    return o;
}

}  // namespace engram_test
