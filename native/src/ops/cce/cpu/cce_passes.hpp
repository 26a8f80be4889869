// cce_passes.hpp — the CPU CCE's passes over the logits. Each pass walks
// blocks of valid tokens; inside a block, vocabulary tiles are handed out to
// the workers, so the block's packed tokens are shared and every tile (its
// rows of dC and dBias too) belongs to one worker at a time. No pass ever
// holds more than a tile (or, in the fused pass, one token chunk) of logits.
#pragma once

#include <atomic>
#include <cstdint>

#include "ops/cce/cce_problem.hpp"
#include "core/context.hpp"
#include "ops/cce/cpu/cce_kernels.hpp"

namespace engram::cpu {

// One CCE call: the validated problem, its valid tokens in compacted order,
// the bias in f32 and the kernels of this CPU.
struct CceRun {
    CceRun(engram_context& ctx, const CceProblem& p);

    engram_context& ctx;
    const CceProblem& p;
    const CceKernels& k;
    ValidTokens tokens;
    ScratchAccount tokens_account;
    HostScratch bias;  // f32 [v], empty without bias

    int64_t count() const { return int64_t(tokens.rows.size()); }
    const float* bias_f32() const { return p.bias ? bias.as<float>() : nullptr; }
};

// Per valid token (arrays of run.count()): online log-sum-exp state (m, s),
// target logit (0 when the target is in another shard), and sum of logits
// (lsum may be NULL when not needed).
void stats_pass(CceRun& run, float* m, float* s, float* tgt, float* lsum);

// Where gradients go: f32 accumulators for dC [v x d] and dBias [v] (zeroed by
// the caller; NULL to skip), and grad_e rows written directly (NULL to skip).
struct GradDest {
    float* dc = nullptr;
    float* dbias = nullptr;
    void* grad_e = nullptr;
    engram_dtype grad_e_dtype = ENGRAM_DTYPE_F32;
};

struct FilterCount {
    std::atomic<uint64_t> total{0};
    std::atomic<uint64_t> skipped{0};
};

// Gradients given each valid token's lse and upstream gradient `up`.
void grad_pass(CceRun& run, const float* lse, const float* up, const GradDest& dst,
               FilterCount& count);

// Loss statistics and gradients in one pass over the logits: token chunks
// whose logits over the whole vocabulary fit the memory budget. Writes the
// per-valid-token m, s, tgt, lsum like stats_pass (lsum may be NULL).
void fused_pass(CceRun& run, const float* up, const GradDest& dst, FilterCount& count, float* m,
                float* s, float* tgt, float* lsum);

}  // namespace engram::cpu
