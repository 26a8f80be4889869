// scan_reference.hpp — the plain, obviously-correct references for the scan
// family's linear attention, in double precision, in the two forms of
// engram_scan.h:
//
//   recurrent:  S_t = diag(a_t) S_{t-1} + k_t v_t^T,   o_t = scale * S_t^T q_t
//               a_t = 1 (NONE), exp(g_t) (SCALAR), exp(gk_t) (VECTOR)
//   quadratic:  o_i = scale * ( sum_{j<=i} sum_c q_ic k_jc D_c(i, j) v_j
//                             + sum_c q_ic D_c(i, -1) S_0[c, :] )
//               D_c(i, j) = prod_{s=j+1..i} a_s[c]  (the materialised decay mask)
//
// Inputs are doubles holding the values the library sees (16-bit inputs
// already rounded), so a tolerance only has to cover the library's fp32
// arithmetic. Tensors use the ABI's layouts: q, k [B, T, Hk, K], v and o
// [B, T, H, V], g [B, T, H] or [B, T, H, K], states [B, H, K, V].
#pragma once

#include <cstdint>
#include <vector>

namespace engram_test {

struct ScanRefProblem {
    int64_t batch = 1, t = 1, heads = 1, qk_heads = 1, k_dim = 1, v_dim = 1;
    int gate = 0;        // engram_scan_gate: 0 none, 1 scalar, 2 vector
    double scale = 1.0;  // resolved (the library's 0 means 1/sqrt(K))
    std::vector<double> q, k, v, g;
    std::vector<double> s0;  // empty: zeros

    int64_t gate_width() const { return gate == 0 ? 0 : gate == 1 ? 1 : k_dim; }
};

struct ScanRefResult {
    std::vector<double> o;      // [B, T, H, V]
    std::vector<double> state;  // [B, H, K, V], S_T
};

// Token-by-token recurrence: O(T K V) per head.
ScanRefResult ref_scan_recurrent(const ScanRefProblem& p);
// The masked quadratic form: O(T^2 K (V + 1)) per head; for short sequences.
ScanRefResult ref_scan_quadratic(const ScanRefProblem& p);

}  // namespace engram_test
