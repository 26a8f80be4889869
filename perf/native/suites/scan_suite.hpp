// scan_suite.hpp — the case suite of the scan family (engram_scan.h): ops
// scan_linear_forward (chunked), scan_linear_decode (one recurrent step) and
// scan_linear_backward, over dims b (sequences), t (tokens; 1 for decode),
// h (value heads), hk (q/k heads, dividing h), k (key dim), v (value dim).
//
// Options of a case (Case::options; absent = default):
//   gate 0 none / 1 scalar / 2 vector; chunk (0 = the library's default);
//   s0 0/1 (an initial state; the backward always passes one, zeros when 0,
//   to check d_initial_state); g_lo (log-decays drawn uniformly in [g_lo, 0],
//   default -0.5; -5 is strong decay); scale (0 = 1/sqrt(K)); out_f32 0/1 (o
//   in f32 instead of the inputs' dtype); decode: in_place 0/1 (state_out is
//   the initial state); backward: grad_state 0/1 (an upstream gradient on the
//   final state), grad_f32 0/1 (dq, dk, dv in f32 instead of the inputs' dtype).
//
// References: the token-by-token float64 recurrence for every case and, for
// short forward cases, the quadratic masked form too (chunked = recurrent =
// quadratic); the backward against central finite differences of the
// recurrence. Tolerances: scan_tolerance.hpp.
#pragma once

#include "suite.hpp"

namespace engram_suite {

class ScanSuite : public Suite {
public:
    std::string family() const override { return "scan"; }
    std::string summary() const override;
    std::vector<OpInfo> ops() const override;
    std::vector<DimInfo> dims() const override;
    std::vector<Case> verify_cases(const std::string& op, uint64_t seed,
                                   int max_per_op) const override;
    std::vector<Dims> bench_shapes() const override;
    Dims reduced(const Dims& bench) const override;
    Outcome run(engram_context* ctx, const Case& c) const override;
};

}  // namespace engram_suite
