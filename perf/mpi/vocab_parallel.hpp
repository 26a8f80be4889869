// vocab_parallel.hpp — vocabulary-parallel fused linear cross-entropy over a
// distributed engine (docs/vocab-parallel.md): each rank holds rows
// [vocab_start, vocab_start + v) of the classifier and all n tokens' hidden
// states; the loss needs one all-gather of per-shard log-sum-exps and two
// sums of [n] vectors, the backward one sum of the partial grad_e [n, d].
// grad_c and grad_bias stay on the rank that holds the rows.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "collectives.hpp"
#include "engram.h"

namespace engram_mpi {

// Rank r's first vocabulary row when vocab_total rows are split as evenly as
// possible over `ranks` (the first vocab_total % ranks ranks hold one more).
int64_t even_shard_start(int64_t vocab_total, int ranks, int r);

// What every rank must agree on, and its own shard. Checked collectively
// before any compute: a disagreement (n, d, vocab_total, dtypes, options, or
// shards that do not tile [0, vocab_total) in rank order) is reported on
// every rank with the same message, so no rank waits for a collective the
// others will never join.
struct ShardCall {
    engram_cce_inputs in;      // this rank's shard (vocab_start, vocab_total set)
    engram_cce_options opts;
};

// Throws std::runtime_error naming the first disagreement.
void check_agreement(Collectives& comm, const ShardCall& call);

// One distributed CCE call on host buffers (a CPU context). Construct once,
// call forward, then backward with the lse forward wrote.
class VocabParallelCce {
public:
    VocabParallelCce(engram_context* ctx, Collectives& comm, const ShardCall& call);

    // loss: [n] for reduction NONE, else [1]; lse: [n] global log-sum-exp.
    void forward(float* loss, float* lse);

    // grads->grad_e ([n, d], f32) receives the full gradient, summed over the
    // ranks in rank order; grad_c / grad_bias are this shard's rows.
    // grad_loss as in engram_cce_backward (NULL = 1).
    void backward(const float* lse, const float* grad_loss, const engram_cce_grads& grads);

    // Bytes this rank sent in collectives so far.
    uint64_t bytes_sent() const { return comm_.bytes_sent(); }

private:
    engram_context* ctx_;
    Collectives& comm_;
    ShardCall call_;
    std::vector<float> shard_lse_, all_lse_, target_logit_, logit_sum_;
};

// Throws std::runtime_error with engram's message when st is not OK.
void check(engram_status st, const std::string& what);

}  // namespace engram_mpi
