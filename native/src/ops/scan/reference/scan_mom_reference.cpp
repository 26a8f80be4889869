// scan_mom_reference.cpp — see scan_mom_reference.hpp.
#include "ops/scan/reference/scan_mom_reference.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace engram_test {

int64_t MomRefRouting::capacity() const {
    if (capacity_factor <= 0.0) return 0;
    const double c = std::ceil(capacity_factor * double(t) * double(top_k) / double(memories));
    return int64_t(std::min(std::max(c, 1.0), double(t)));
}

MomRefRoute ref_mom_route(const MomRefRouting& r) {
    const int64_t n_tok = r.tokens(), m = r.memories, k = r.top_k;
    MomRefRoute out;
    out.indices.resize(size_t(n_tok * k));
    out.weights.resize(size_t(n_tok * k));
    out.slots.assign(size_t(n_tok * k), -1);
    for (int64_t n = 0; n < n_tok; ++n) {
        const double* z = r.logits.data() + n * m;
        std::vector<int32_t> order(static_cast<size_t>(m));
        std::iota(order.begin(), order.end(), 0);
        // NaN first (as torch.topk), then descending; stable keeps lower index first on ties.
        std::stable_sort(order.begin(), order.end(), [z](int32_t a, int32_t b) {
            if (std::isnan(z[a]) != std::isnan(z[b])) return std::isnan(z[a]);
            if (std::isnan(z[a])) return false;
            return z[a] > z[b];
        });
        // Full softmax, then renormalised over the chosen.
        double mx = -INFINITY;
        bool nan = false;
        for (int64_t i = 0; i < m; ++i) {
            nan |= std::isnan(z[i]);
            mx = std::max(mx, z[i]);
        }
        if (nan) mx = NAN;
        std::vector<double> p(static_cast<size_t>(m));
        double total = 0.0;
        for (int64_t i = 0; i < m; ++i) total += (p[size_t(i)] = std::exp(z[i] - mx));
        for (double& x : p) x /= total;
        double chosen = 0.0;
        for (int64_t j = 0; j < k; ++j) chosen += p[size_t(order[size_t(j)])];
        for (int64_t j = 0; j < k; ++j) {
            out.indices[size_t(n * k + j)] = order[size_t(j)];
            out.weights[size_t(n * k + j)] = p[size_t(order[size_t(j)])] / chosen;
        }
    }
    // Segments in order; each admits its tokens in time order up to capacity.
    const int64_t cap = r.capacity();
    int32_t pos = 0;
    for (int64_t b = 0; b < r.batch; ++b)
        for (int64_t mem = 0; mem < m; ++mem) {
            out.offsets.push_back(pos);
            int64_t admitted = 0;
            for (int64_t t = 0; t < r.t; ++t)
                for (int64_t j = 0; j < k; ++j) {
                    const size_t e = size_t((b * r.t + t) * k + j);
                    if (out.indices[e] != mem) continue;
                    if (cap == 0 || admitted < cap) {
                        out.slots[e] = pos++;
                        out.gather_index.push_back(int32_t(b * r.t + t));
                        ++admitted;
                    } else {
                        out.weights[e] = 0.0;
                    }
                }
        }
    out.offsets.push_back(pos);
    out.gather_index.resize(size_t(n_tok * k), -1);
    return out;
}

std::vector<double> ref_mom_weights(const MomRefRouting& r, const std::vector<int32_t>& indices,
                                    const std::vector<int32_t>& slots) {
    const int64_t m = r.memories, k = r.top_k;
    std::vector<double> w(size_t(r.tokens() * k));
    for (int64_t n = 0; n < r.tokens(); ++n) {
        double sum = 0.0;
        for (int64_t j = 0; j < k; ++j) sum += std::exp(r.logits[size_t(n * m + indices[size_t(n * k + j)])]);
        for (int64_t j = 0; j < k; ++j) {
            const size_t e = size_t(n * k + j);
            w[e] = slots[e] < 0 ? 0.0 : std::exp(r.logits[size_t(n * m + indices[e])]) / sum;
        }
    }
    return w;
}

std::vector<double> ref_mom_gather(int64_t tokens, int64_t top_k, int64_t d,
                                   const std::vector<double>& x,
                                   const std::vector<int32_t>& gather_index) {
    std::vector<double> packed(size_t(tokens * top_k * d), 0.0);
    for (int64_t p = 0; p < tokens * top_k; ++p)
        if (gather_index[size_t(p)] >= 0)
            for (int64_t c = 0; c < d; ++c)
                packed[size_t(p * d + c)] = x[size_t(gather_index[size_t(p)] * d + c)];
    return packed;
}

std::vector<double> ref_mom_combine(int64_t tokens, int64_t top_k, int64_t d,
                                    const std::vector<double>& mem_out,
                                    const std::vector<int32_t>& slots,
                                    const std::vector<double>& weights,
                                    const std::vector<double>& shared) {
    std::vector<double> y(size_t(tokens * d), 0.0);
    for (int64_t n = 0; n < tokens; ++n)
        for (int64_t c = 0; c < d; ++c) {
            double acc = shared.empty() ? 0.0 : shared[size_t(n * d + c)];
            for (int64_t j = 0; j < top_k; ++j) {
                const int32_t s = slots[size_t(n * top_k + j)];
                if (s >= 0) acc += weights[size_t(n * top_k + j)] * mem_out[size_t(s * d + c)];
            }
            y[size_t(n * d + c)] = acc;
        }
    return y;
}

}  // namespace engram_test
