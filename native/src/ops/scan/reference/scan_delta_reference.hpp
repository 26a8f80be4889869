// scan_delta_reference.hpp — the plain float64 references of the delta rule
// (ops 203-205): the token-by-token recurrence of engram_scan.h
//   S_t = a_t (I - b_t k_t k_t^T) S_{t-1} + b_t k_t v_t^T,  o_t = scale S_t^T q_t
// (a_t = exp(g_t), or 1 for the plain rule; q, k L2-normalised first when
// asked), and its gradient by the reverse recurrence (autograd by hand).
// Inputs are doubles holding the values the library reads. Layouts as the
// ABI: q, k [B, T, Hk, K]; v, o [B, T, H, V]; g, beta [B, T, H]; states
// [N, H, K, V]; offsets (cu_seqlens) split the B * T tokens into N sequences.
#pragma once

#include <cstdint>
#include <vector>

namespace engram_test {

struct DeltaRefProblem {
    int64_t batch = 1, t = 1, heads = 1, qk_heads = 1, k_dim = 1, v_dim = 1;
    bool gated = false, l2norm = false;
    double scale = 1.0;  // resolved
    std::vector<int64_t> offsets;  // empty: B sequences of T tokens
    std::vector<double> q, k, v, g, beta;
    std::vector<double> s0;  // empty: zeros

    std::vector<int64_t> sequences() const;  // the N + 1 offsets either way
};

struct DeltaRefResult {
    std::vector<double> o;      // [B, T, H, V]
    std::vector<double> state;  // [N, H, K, V]
    std::vector<double> state_max;  // [N, H]: largest |entry| of any S_t (error models)
};

struct DeltaRefGrads {
    std::vector<double> dq, dk, dv, dg, dbeta, ds0;  // dg empty when not gated
    // Gradients with respect to the normalised rows q^, k^ (equal to dq, dk
    // without normalisation): the projection dx = r (dx^ - x^ (x^ . dx^))
    // cancels where x^ has one dominant entry, so fp32 error models of dq,
    // dk scale with these, not with dq, dk.
    std::vector<double> dq_hat, dk_hat;
};

DeltaRefResult ref_delta_recurrent(const DeltaRefProblem& p);
// Gradient of sum(d_o . o) + sum(d_state . S_final); d_state empty = zero.
DeltaRefGrads ref_delta_backward(const DeltaRefProblem& p, const std::vector<double>& d_o,
                                 const std::vector<double>& d_state);

}  // namespace engram_test
