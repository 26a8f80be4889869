// attention_dsparse_reference.cpp — see attention_dsparse_reference.hpp.
#include "ops/attention/reference/attention_dsparse_reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace engram_test {

namespace {

const double kInf = std::numeric_limits<double>::infinity();

// a before b: higher first, NaN above all, then the lower index.
bool rank_before(const std::vector<double>& s, int64_t a, int64_t b) {
    const bool an = std::isnan(s[size_t(a)]), bn = std::isnan(s[size_t(b)]);
    if (an != bn) return an;
    if (!an && s[size_t(a)] != s[size_t(b)]) return s[size_t(a)] > s[size_t(b)];
    return a < b;
}

}  // namespace

RefCalibration ref_dsparse_calibrate(int64_t q_heads, int64_t kv_heads, int64_t tokens, int64_t D,
                                     const std::vector<double>& q, const std::vector<double>& k,
                                     int32_t r) {
    const int64_t G = q_heads / kv_heads;
    RefCalibration c;
    c.score.assign(size_t(kv_heads * D), 0.0);
    c.margin = kInf;
    for (int64_t h = 0; h < kv_heads; ++h) {
        std::vector<double> s(size_t(D), 0.0);
        for (int64_t j = 0; j < D; ++j) {
            for (int64_t g = 0; g < G; ++g)
                for (int64_t t = 0; t < tokens; ++t)
                    s[size_t(j)] += std::fabs(q[size_t(((h * G + g) * tokens + t) * D + j)] *
                                              k[size_t((h * tokens + t) * D + j)]);
            s[size_t(j)] /= double(G * tokens);
            c.score[size_t(h * D + j)] = s[size_t(j)];
        }
        std::vector<int64_t> idx(static_cast<size_t>(D));
        std::iota(idx.begin(), idx.end(), int64_t(0));
        std::sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return rank_before(s, a, b); });
        if (r < D) c.margin = std::min(c.margin, std::fabs(s[size_t(idx[size_t(r - 1)])] - s[size_t(idx[size_t(r)])]));
        std::vector<int64_t> top(idx.begin(), idx.begin() + r);
        std::sort(top.begin(), top.end());
        for (int64_t t : top) c.channels.push_back(int32_t(t));
    }
    return c;
}

RefSelection ref_dsparse_select(const RefDecodeInput& in, const std::vector<int32_t>& channels,
                                int32_t r, int64_t top_k, int64_t recent) {
    const int64_t D = in.head_dim, G = in.q_heads / in.kv_heads, S = in.length;
    RefSelection sel;
    sel.margin = kInf;
    for (int64_t h = 0; h < in.kv_heads; ++h) {
        const std::vector<int64_t> keep = ref_attention_kept(in.policy[size_t(h)], S, in.sink, in.window);
        const int64_t kept = int64_t(keep.size());
        const int64_t n = std::min(recent, kept), cand = kept - n, chosen = std::min(top_k, cand);
        std::vector<double> qs(size_t(r), 0.0);
        for (int32_t i = 0; i < r; ++i)
            for (int64_t g = 0; g < G; ++g)
                qs[size_t(i)] += in.q[size_t((h * G + g) * D + channels[size_t(h * r + i)])];
        std::vector<double> a(static_cast<size_t>(cand)), mag(static_cast<size_t>(cand));
        for (int64_t t = 0; t < cand; ++t) {
            double x = 0.0, m = 0.0;
            for (int32_t i = 0; i < r; ++i) {
                const double kv = in.k[size_t((h * S + keep[size_t(t)]) * D + channels[size_t(h * r + i)])];
                x += qs[size_t(i)] * kv;
                m += std::fabs(qs[size_t(i)] * kv);
            }
            a[size_t(t)] = x;
            mag[size_t(t)] = m;
        }
        std::vector<int64_t> idx(static_cast<size_t>(cand));
        std::iota(idx.begin(), idx.end(), int64_t(0));
        std::sort(idx.begin(), idx.end(), [&](int64_t x, int64_t y) { return rank_before(a, x, y); });
        if (chosen < cand && chosen > 0) {
            const int64_t x = idx[size_t(chosen - 1)], y = idx[size_t(chosen)];
            const double scale = std::max({mag[size_t(x)], mag[size_t(y)], 1e-300});
            sel.margin = std::min(sel.margin, std::fabs(a[size_t(x)] - a[size_t(y)]) / scale);
        }
        std::vector<int64_t> pick(idx.begin(), idx.begin() + chosen);
        std::sort(pick.begin(), pick.end());
        std::vector<int64_t> pos;
        for (int64_t t : pick) pos.push_back(keep[size_t(t)]);
        for (int64_t t = cand; t < kept; ++t) pos.push_back(keep[size_t(t)]);
        sel.positions.push_back(pos);
    }
    return sel;
}

RefDecodeOutput ref_attention_over(const RefDecodeInput& in,
                                   const std::vector<std::vector<int64_t>>& positions) {
    const int64_t D = in.head_dim, G = in.q_heads / in.kv_heads;
    RefDecodeOutput r;
    r.out.assign(size_t(in.q_heads * D), 0.0);
    r.abs_out.assign(r.out.size(), 0.0);
    r.score_abs.assign(size_t(in.q_heads), 0.0);
    r.kept.assign(size_t(in.kv_heads), 0);
    for (int64_t h = 0; h < in.q_heads; ++h) {
        const int64_t kh = h / G;
        const std::vector<int64_t>& kept = positions[size_t(kh)];
        r.kept[size_t(kh)] = int64_t(kept.size());
        const double* q = &in.q[size_t(h * D)];
        std::vector<double> s(kept.size());
        double smax = -kInf;
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
            if (in.scale * mag > r.score_abs[size_t(h)] || std::isnan(mag)) r.score_abs[size_t(h)] = in.scale * mag;
        }
        if (nan) smax = std::numeric_limits<double>::quiet_NaN();
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
    return r;
}

}  // namespace engram_test
