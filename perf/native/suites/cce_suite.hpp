// cce_suite.hpp — the case suite of fused linear cross-entropy (CCE): ops
// cce_forward, cce_backward, cce_forward_backward, cce_shard_forward and
// cce_shard_combine over dims n (tokens), v (vocabulary), d (hidden size).
//
// Options of a case (Case::options; absent = default):
//   bias 0/1, reduction 0 none / 1 sum / 2 mean (default), softcap, smoothing,
//   z_loss, filter_eps (-1 = AUTO), ignore_frac (exact fraction of tokens set
//   to ignore_index), target_i32 0/1, grad_input_dtype 0/1 (gradients in the
//   inputs' dtype instead of f32), grad_loss 0/1 (a random upstream gradient
//   instead of NULL), shards (vocabulary shards of the shard ops, default 3).
#pragma once

#include "suite.hpp"

namespace engram_suite {

class CceSuite : public Suite {
public:
    std::string family() const override { return "cce"; }
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
