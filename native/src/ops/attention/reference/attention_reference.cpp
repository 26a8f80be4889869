// attention_reference.cpp — see attention_reference.hpp.
#include "ops/attention/reference/attention_reference.hpp"

#include <cmath>
#include <limits>

namespace engram_test {

std::vector<int64_t> ref_attention_kept(int32_t policy, int64_t length, int64_t sink,
                                        int64_t window) {
    std::vector<int64_t> kept;
    for (int64_t p = 0; p < length; ++p)
        if (policy == 0 || p < sink || p >= length - window) kept.push_back(p);
    return kept;
}

RefDecodeOutput ref_attention_decode(const RefDecodeInput& in) {
    const int64_t D = in.head_dim, G = in.q_heads / in.kv_heads;
    RefDecodeOutput r;
    r.out.assign(size_t(in.q_heads * D), 0.0);
    r.abs_out.assign(size_t(in.q_heads * D), 0.0);
    r.score_abs.assign(size_t(in.q_heads), 0.0);
    r.kept.assign(size_t(in.kv_heads), 0);
    for (int64_t kh = 0; kh < in.kv_heads; ++kh) {
        const std::vector<int64_t> kept =
            ref_attention_kept(in.policy[size_t(kh)], in.length, in.sink, in.window);
        r.kept[size_t(kh)] = int64_t(kept.size());
        for (int64_t h = kh * G; h < (kh + 1) * G; ++h) {
            const double* q = &in.q[size_t(h * D)];
            std::vector<double> s(kept.size());
            double smax = -std::numeric_limits<double>::infinity();
            bool nan = false;
            for (size_t i = 0; i < kept.size(); ++i) {
                const double* k = &in.k[size_t((kh * in.length + kept[i]) * D)];
                double dot = 0.0, mag = 0.0;
                for (int64_t d = 0; d < D; ++d) {
                    dot += q[d] * k[d];
                    mag += std::fabs(q[d] * k[d]);
                }
                s[i] = in.scale * dot;
                if (std::isnan(s[i])) nan = true;
                if (s[i] > smax) smax = s[i];
                if (in.scale * mag > r.score_abs[size_t(h)] || std::isnan(mag))
                    r.score_abs[size_t(h)] = in.scale * mag;
            }
            if (nan) smax = std::numeric_limits<double>::quiet_NaN();  // torch.max propagates NaN
            double sum = 0.0;
            for (double& x : s) {
                x = std::exp(x - smax);
                sum += x;
            }
            for (size_t i = 0; i < kept.size(); ++i) {
                const double p = s[i] / sum;
                const double* v = &in.v[size_t((kh * in.length + kept[i]) * D)];
                for (int64_t d = 0; d < D; ++d) {
                    r.out[size_t(h * D + d)] += p * v[d];
                    r.abs_out[size_t(h * D + d)] += std::fabs(p * v[d]);
                }
            }
        }
    }
    return r;
}

}  // namespace engram_test
