// scan_based_reference.hpp — float64 references of BASED (engram_scan.h): the
// Taylor feature map written out, BASED attention as the materialised
// quadratic form over explicit features phi(q).phi(k) (the library uses the
// identity 1 + s + s^2/2 within a chunk and a carried state between chunks),
// and the sliding-window softmax attention, token by token.
#pragma once

#include <cstdint>
#include <vector>

namespace engram_test {

// phi [rows, 1 + d + d^2] of x [rows, d].
std::vector<double> ref_based_feature_map(const std::vector<double>& x, int64_t rows, int64_t d);

struct BasedRefProblem {
    int64_t batch = 1, t = 1, heads = 1, qk_heads = 1, k_dim = 1, v_dim = 1;
    int window = 64;     // sliding window only
    double scale = 1.0;  // sliding window only (resolved)
    std::vector<double> q, k, v;
};

// BASED: q, k [B, T, Hk, d], v [B, T, H, V] -> o [B, T, H, V].
std::vector<double> ref_based_forward(const BasedRefProblem& p);
// Window: q [B, T, H, d], k [B, T, Hk, d], v [B, T, Hk, V] -> o [B, T, H, V].
std::vector<double> ref_sliding_window(const BasedRefProblem& p);

}  // namespace engram_test
