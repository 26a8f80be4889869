// scan_mom_topk.hpp — one token's routing, shared by the MoM route, its
// backward and decode: the top-k memories of a logit row and their weights
// (softmax over the chosen logits), with the ranking and NaN rules of
// engram_scan.h.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace engram::cpu {

// Larger logit first, equal logits by lower index, NaN above every number (as
// torch.topk): a strict total order, so the selection is unique.
inline bool mom_ranks_before(const float* z, int32_t a, int32_t b) {
    const bool na = std::isnan(z[a]), nb = std::isnan(z[b]);
    if (na != nb) return na;
    if (na || z[a] == z[b]) return a < b;
    return z[a] > z[b];
}

// The softmax over the chosen logits z[idx[0..k)], in double:
// w_j = exp(z_j - max) / sum_l exp(z_l - max). NaN among them, all -inf, or a
// +inf make every weight NaN (exp of NaN or of inf - inf), as torch.softmax of
// such a row.
struct ChosenSoftmax {
    double max = -INFINITY, sum = 0.0;

    ChosenSoftmax(const float* z, const int32_t* idx, int64_t k) {
        bool nan = false;
        for (int64_t j = 0; j < k; ++j) {
            const double x = z[idx[j]];
            nan |= std::isnan(x);
            max = std::max(max, x);
        }
        if (nan) max = NAN;
        for (int64_t j = 0; j < k; ++j) sum += std::exp(double(z[idx[j]]) - max);
    }
    double weight(float zj) const { return std::exp(double(zj) - max) / sum; }
};

// Top-k of z [M] into idx [k] (best first) and weights w [k] (fp32). `order`
// is scratch of M int32.
inline void mom_route_token(const float* z, int64_t m, int64_t k, int32_t* order, int32_t* idx,
                            float* w) {
    for (int64_t i = 0; i < m; ++i) order[i] = int32_t(i);
    std::partial_sort(order, order + k, order + m,
                      [z](int32_t a, int32_t b) { return mom_ranks_before(z, a, b); });
    std::copy(order, order + k, idx);
    const ChosenSoftmax sm(z, idx, k);
    for (int64_t j = 0; j < k; ++j) w[j] = float(sm.weight(z[idx[j]]));
}

}  // namespace engram::cpu
