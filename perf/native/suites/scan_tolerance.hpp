// scan_tolerance.hpp — the scan family's tolerance model against the float64
// references (native/src/ops/scan/reference): an error bound for every output
// of the chunked forward, the decode step and the backward. Used by the scan
// suite and the GoogleTest harness (tests/native/ops/scan/scan_harness.hpp).
//
// Forward (and decode) error model: each output is a sum of products whose
// absolute values the recurrence on |q|, |k|, |v|, |S0| adds up (the decays
// are positive, so that is the sum of |terms|); fp32 accumulation over chunks
// and the state gives an error within a small multiple of u = 2^-24 times that
// sum, growing with the number of terms in one sum (K, the chunk, and the
// state's chunk-by-chunk updates): 4 u terms |sum|, terms = 2K + 2 min(C, T)
// + ceil(T / C) + 8. A 16-bit output adds its rounding (2^-8 bf16, 2^-11 f16).
//
// Backward error model: the gradients are checked against central finite
// differences of the float64 recurrence for the loss sum(do . o) + sum(dS_T .
// S_T). The bound is 8 u terms' |g| with |g| the same gradient of the loss on
// absolute values (every input, upstream gradient and decay positive: the sum
// of |terms| of each entry), terms = 2T + 2K + 2V + 8, plus the differences'
// own error 1e-7 (1 + |g|), plus a 16-bit gradient's rounding of |g|.
#pragma once

#include <cstdint>
#include <vector>

#include "engram.h"
#include "ops/scan/reference/scan_reference.hpp"

namespace engram_suite {

struct ScanBounds {
    std::vector<double> o, state;
};

// Bounds of the forward's o [B, T, H, V] and final state for chunk size
// `chunk` (the library's resolved value) and output dtype `out_dtype`. The
// decode step is the forward with T = 1.
ScanBounds scan_forward_bounds(const engram_test::ScanRefProblem& p, int64_t chunk,
                               engram_dtype out_dtype);

// The gradient reaching the inputs from the loss sum(d_o . o) + sum(d_state .
// S_T) (d_state empty: no state term).
struct ScanUpstream {
    std::vector<double> d_o, d_state;
};

// One input's gradient: central finite differences of the float64
// recurrence, and the bound of each entry.
struct ScanGradExpect {
    std::vector<double> want, bound;
};

// The gradient with respect to `field` (q, k, v, g or s0 of the problem;
// s0 must hold values, zeros for "no initial state"). rounded: the library
// returns this gradient in grad_dtype (dq, dk, dv), else fp32 (dg, ds0).
ScanGradExpect scan_gradient(const engram_test::ScanRefProblem& p, const ScanUpstream& u,
                             std::vector<double> engram_test::ScanRefProblem::*field,
                             engram_dtype grad_dtype, bool rounded);

// The loss above, in float64.
double scan_loss(const engram_test::ScanRefProblem& p, const ScanUpstream& u);

}  // namespace engram_suite
