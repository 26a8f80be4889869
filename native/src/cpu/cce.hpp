// cce.hpp — CPU backend of fused linear cross-entropy. Inputs are validated by
// the API layer (api/cce_api.cpp); targets are scanned here.
#pragma once

#include "../core/cce_problem.hpp"
#include "../core/context.hpp"

namespace engram::cpu {

void cce_forward(engram_context& ctx, const CceProblem& p, float* loss, float* lse);

void cce_backward(engram_context& ctx, const CceProblem& p, const float* lse,
                  const float* grad_loss, const CceGrads& grads);

void cce_forward_backward(engram_context& ctx, const CceProblem& p, const float* grad_loss,
                          float* loss, float* lse, const CceGrads& grads);

void cce_shard_forward(engram_context& ctx, const CceProblem& p, float* shard_lse,
                       float* target_logit, float* logit_sum);

// Merges per-shard statistics into loss and lse (host arrays).
void cce_shard_combine(int64_t n, int64_t num_shards, int64_t vocab_total,
                       const float* shard_lse, const float* target_logit,
                       const float* logit_sum, const void* targets, engram_dtype target_dtype,
                       const CceProblem& opts, float* loss, float* lse);

}  // namespace engram::cpu
