// qmatmul_suite.hpp — the case suite of the packed 2-bit weight family
// (engram_qmatmul.h): the product qmatmul, the RTN and refined quantizers,
// the layout conversions pack / unpack / prepare / unprepare, and BitStack
// (decomposition, then the product over p planes), over dims
//   m (activation rows), n (output channels, n_out), k (input channels),
//   g (group size G; the layout ops have none).
//
// Options of a case (Case::options; absent = default):
//   layout 0 plain / 1 CPU-prepared codes, scale_f16 0/1 (scales and zeros in
//   F16 instead of F32), values 0 random / 1 all groups equal (s = 0) /
//   2 huge scales / 3 tiny scales, y_x 0/1 (y in x's dtype instead of F32);
//   refine: iterations; bitstack: planes (decomposed), p (planes used).
// A qmatmul case whose k is not a multiple of g checks the documented
// rejection instead: ENGRAM_ERR_INVALID_ARGUMENT naming w->k, y untouched.
#pragma once

#include "suite.hpp"

namespace engram_suite {

class QmatmulSuite : public Suite {
public:
    std::string family() const override { return "qmatmul"; }
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
