// scan_titans_reference.hpp — the Titans neural memory's float64 reference:
// the recurrence of engram_scan.h written with the memory as a V x K matrix
// M (the library keeps M^T), token by token.
#pragma once

#include <cstdint>
#include <vector>

namespace engram_test {

struct TitansRefProblem {
    int64_t batch = 1, t = 1, heads = 1, qk_heads = 1, k_dim = 1, v_dim = 1;
    std::vector<double> q, k, v, eta, theta, alpha;
    std::vector<double> m0, s0;  // [B, H, K, V] (the ABI's layout), empty = zeros
    // Magnitude mode: every product's absolute value, e = |M| |k| + |v|,
    // S = |eta| S + |theta| |k| e^T, M = |1 - alpha| M + S: an upper bound of
    // the sums of |terms| each output accumulates (for error models).
    bool magnitude = false;
};

struct TitansRefResult {
    std::vector<double> o;                // [B, T, H, V]
    std::vector<double> memory, surprise;  // [B, H, K, V]
};

TitansRefResult ref_titans(const TitansRefProblem& p);

}  // namespace engram_test
