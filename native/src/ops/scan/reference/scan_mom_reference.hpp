// scan_mom_reference.hpp — plain float64 references of the Mixture-of-Memories
// ops (engram_scan.h), written the obvious way and differently from the
// library: weights as the FULL softmax renormalised over the chosen memories
// (the library takes a softmax over the chosen logits), selection by a stable
// sort of all M, grouping segment by segment with a scan over every token (the
// library counting-sorts).
#pragma once

#include <cstdint>
#include <vector>

namespace engram_test {

struct MomRefRouting {
    int64_t batch = 1, t = 1, memories = 1, top_k = 1;
    double capacity_factor = 0.0;  // 0 = unlimited
    std::vector<double> logits;    // [B, T, M], the values the library reads

    int64_t tokens() const { return batch * t; }
    // Per (sequence, memory); 0 = unlimited.
    int64_t capacity() const;
};

struct MomRefRoute {
    std::vector<int32_t> indices, slots;  // [N, k]
    std::vector<double> weights;          // [N, k], 0 for dropped
    std::vector<int32_t> offsets;         // [B M + 1]
    std::vector<int32_t> gather_index;    // [N k], -1 past the end
};

MomRefRoute ref_mom_route(const MomRefRouting& r);

// The weights as a function of the logits with the selection (indices) and the
// drops (slots < 0) held fixed: what the route's backward differentiates.
std::vector<double> ref_mom_weights(const MomRefRouting& r, const std::vector<int32_t>& indices,
                                    const std::vector<int32_t>& slots);

// packed[p] = x[gather_index[p]] (zeros for -1); rows of width d.
std::vector<double> ref_mom_gather(int64_t tokens, int64_t top_k, int64_t d,
                                   const std::vector<double>& x,
                                   const std::vector<int32_t>& gather_index);

// y[n] = sum_j w[n, j] mem_out[slots[n, j]] (+ shared[n]); shared may be empty.
std::vector<double> ref_mom_combine(int64_t tokens, int64_t top_k, int64_t d,
                                    const std::vector<double>& mem_out,
                                    const std::vector<int32_t>& slots,
                                    const std::vector<double>& weights,
                                    const std::vector<double>& shared);

}  // namespace engram_test
