// cce_backend.hpp — the CCE family's dispatch table: what each backend
// implements, with one contract (engram_cce.h) for all of them. Inputs
// arrive validated (cce_api.cpp); on CUDA every pointer is device memory.
#pragma once

#include "core/context.hpp"
#include "ops/cce/cce_problem.hpp"

namespace engram {

struct CceBackend {
    void (*forward)(engram_context& ctx, const CceProblem& p, float* loss, float* lse);
    void (*backward)(engram_context& ctx, const CceProblem& p, const float* lse,
                     const float* grad_loss, const CceGrads& grads);
    void (*forward_backward)(engram_context& ctx, const CceProblem& p, const float* grad_loss,
                             float* loss, float* lse, const CceGrads& grads);
    void (*shard_forward)(engram_context& ctx, const CceProblem& p, float* shard_lse,
                          float* target_logit, float* logit_sum);
    // Merges per-shard statistics; `opts` carries the options (n, vocab_total,
    // targets and target_dtype are set, the tensors are not).
    void (*shard_combine)(engram_context& ctx, int64_t num_shards, const float* shard_lse,
                          const float* target_logit, const float* logit_sum, const CceProblem& opts,
                          float* loss, float* lse);
};

const CceBackend& cce_cpu_backend();
// nullptr in a build without CUDA (cce_no_cuda.cpp).
const CceBackend* cce_cuda_backend();

}  // namespace engram
