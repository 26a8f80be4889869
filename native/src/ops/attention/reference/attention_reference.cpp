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

namespace {

// One query head h (row q) at decode length `length` (positions < length of
// in.k / in.v, whose row count is in.length): out, abs_out rows of D, the
// score magnitude, and the kept count.
void attend(const RefDecodeInput& in, int64_t h, const double* q, int64_t length, double* out,
            double* abs_out, double& score_abs, int64_t& kept_count) {
    const int64_t D = in.head_dim, kh = h / (in.q_heads / in.kv_heads);
    const std::vector<int64_t> kept =
        ref_attention_kept(in.policy[size_t(kh)], length, in.sink, in.window);
    kept_count = int64_t(kept.size());
    std::vector<double> s(kept.size());
    double smax = -std::numeric_limits<double>::infinity();
    bool nan = false;
    score_abs = 0.0;
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
        if (in.scale * mag > score_abs || std::isnan(mag)) score_abs = in.scale * mag;
    }
    if (nan) smax = std::numeric_limits<double>::quiet_NaN();  // torch.max propagates NaN
    double sum = 0.0;
    for (double& x : s) {
        x = std::exp(x - smax);
        sum += x;
    }
    for (int64_t d = 0; d < D; ++d) out[d] = abs_out[d] = 0.0;
    for (size_t i = 0; i < kept.size(); ++i) {
        const double p = s[i] / sum;
        const double* v = &in.v[size_t((kh * in.length + kept[i]) * D)];
        for (int64_t d = 0; d < D; ++d) {
            out[d] += p * v[d];
            abs_out[d] += std::fabs(p * v[d]);
        }
    }
}

}  // namespace

RefDecodeOutput ref_attention_decode(const RefDecodeInput& in) {
    return ref_attention_prefill(in, 1);
}

RefDecodeOutput ref_attention_prefill(const RefDecodeInput& in, int64_t tokens) {
    const int64_t D = in.head_dim, G = in.q_heads / in.kv_heads;
    RefDecodeOutput r;
    r.out.assign(size_t(in.q_heads * tokens * D), 0.0);
    r.abs_out.assign(r.out.size(), 0.0);
    r.score_abs.assign(size_t(in.q_heads * tokens), 0.0);
    r.kept.assign(size_t(in.kv_heads * tokens), 0);
    for (int64_t h = 0; h < in.q_heads; ++h)
        for (int64_t i = 0; i < tokens; ++i) {
            const size_t row = size_t(h * tokens + i);
            attend(in, h, &in.q[row * size_t(D)], in.length - tokens + i + 1, &r.out[row * size_t(D)],
                   &r.abs_out[row * size_t(D)], r.score_abs[row],
                   r.kept[size_t((h / G) * tokens + i)]);
        }
    return r;
}

}  // namespace engram_test
