// attention_dsparse_reference.hpp — float64 reference of Double Sparsity:
// calibration (mean |q_j k_j| per channel, top r) and the decode's selection
// (approximate scores over the label channels with the group's summed query,
// top k plus the recent tokens) followed by exact attention over the
// selected positions, softmax written out as PyTorch does.
#pragma once

#include <cstdint>
#include <vector>

#include "ops/attention/reference/attention_reference.hpp"

namespace engram_test {

// Channel scores [kv_heads, D] and the chosen channels [kv_heads, r] (each
// head's in increasing order; ties to the lower index). margin: the smallest
// gap, over heads, between the r-th and the (r+1)-th score (inf when r = D).
struct RefCalibration {
    std::vector<double> score;
    std::vector<int32_t> channels;
    double margin = 0.0;
};
RefCalibration ref_dsparse_calibrate(int64_t q_heads, int64_t kv_heads, int64_t tokens, int64_t D,
                                     const std::vector<double>& q, const std::vector<double>& k,
                                     int32_t r);

// The positions each KV head attends to, in order: of the tokens its policy
// keeps, the top_k by approximate score plus the `recent` newest. margin: the smallest gap between the k-th and (k+1)-th
// approximate score over heads relative to the score magnitude
// (sum_i |qs_i k_i|), so a test can require a selection that f32 rounding
// cannot change (inf when every candidate is chosen).
struct RefSelection {
    std::vector<std::vector<int64_t>> positions;  // [kv_heads]
    double margin = 0.0;
};
RefSelection ref_dsparse_select(const RefDecodeInput& in, const std::vector<int32_t>& channels,
                                int32_t r, int64_t top_k, int64_t recent);

// Exact attention of every query head over the given positions of its KV
// head (outputs as ref_attention_decode).
RefDecodeOutput ref_attention_over(const RefDecodeInput& in,
                                   const std::vector<std::vector<int64_t>>& positions);

}  // namespace engram_test
