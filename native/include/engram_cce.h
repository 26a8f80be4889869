/*
 * engram_cce.h — fused linear cross-entropy, one op family of the engram C ABI.
 * Include engram.h, which includes this header.
 */
#ifndef ENGRAM_CCE_H
#define ENGRAM_CCE_H

#include "engram.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Op ids (engram_op) of this family, for engram_op_supported and op stats. Op
   stats counters: "tokens_valid" (tokens not equal to ignore_index), and for
   the ops with a backward "blocks_total" / "blocks_skipped" (logit blocks the
   gradient pass visited / skipped by the gradient filter). */
typedef ENGRAM_ENUM(engram_cce_op) {
    ENGRAM_OP_CCE_FORWARD = 100,
    ENGRAM_OP_CCE_BACKWARD = 101,
    ENGRAM_OP_CCE_FORWARD_BACKWARD = 102,
    ENGRAM_OP_CCE_SHARD_FORWARD = 103,
    ENGRAM_OP_CCE_SHARD_COMBINE = 104
} engram_cce_op;

/* ------------------------------------------------------------------------- */
/* Fused linear cross-entropy (CCE, "Cut Your Losses")                        */
/*                                                                             */
/* logits z[i, j] = e[i, :] . c[j, :] + bias[j], optionally softcapped:       */
/*   z <- softcap * tanh(z / softcap).                                         */
/* loss_i = (1 - s) (lse_i - z[i, t_i]) + s (lse_i - mean_j z[i, j])           */
/*          + z_loss * lse_i^2                                                 */
/* with s = label_smoothing and lse_i = log sum_j exp z[i, j]. The N x V logit */
/* matrix is never stored: logits are computed block by block and reduced     */
/* with an online log-sum-exp. Accumulation is fp32 for every input dtype.    */
/*                                                                             */
/* Non-finite values, the same on every backend and CPU ISA, as PyTorch's     */
/* torch.logsumexp and autograd compute this formula:                         */
/*  - a NaN anywhere in a token's logits makes its lse and loss NaN, and its  */
/*    gradient row NaN (the gradient filter never skips a NaN);               */
/*  - a +inf logit (and no NaN) gives lse = +inf and loss = +inf, or NaN when */
/*    the target's logit is the +inf one; exp(z - lse) is then NaN at the     */
/*    +inf column and 0 elsewhere;                                             */
/*  - -inf logits contribute nothing (e.g. masked vocabulary entries); a token */
/*    whose logits are all -inf gets lse = -inf and loss NaN;                 */
/*  - softcap maps +-inf to +-softcap and NaN to NaN.                         */
/* Determinism: on CPU, results are bit-identical run to run for a given      */
/* thread count (not across thread counts: the vocabulary is split among the */
/* workers). Every pass of a call computes the same logits bit for bit, so    */
/* a backward given the forward's lse sees exactly the forward's logits.     */
/* ------------------------------------------------------------------------- */

typedef ENGRAM_ENUM(engram_reduction) {
    ENGRAM_REDUCTION_NONE = 0, /* loss has n entries                               */
    ENGRAM_REDUCTION_SUM = 1,  /* loss has 1 entry                                 */
    ENGRAM_REDUCTION_MEAN = 2  /* 1 entry: sum / number of non-ignored tokens (0 if
                                  all are ignored)                               */
} engram_reduction;

/* filter_eps value meaning "choose by dtype": 0 for f32 (exact), 2^-12 for
   bf16, 2^-11 for f16. */
#define ENGRAM_FILTER_EPS_AUTO (-1.0f)

typedef struct engram_cce_options {
    uint32_t struct_size;
    int32_t reduction;          /* engram_reduction; default MEAN                    */
    int64_t ignore_index;       /* default -100: such tokens cost no compute and get
                                   zero loss, zero lse and zero gradient             */
    float softcap;              /* > 0 enables tanh softcapping; 0 = off             */
    float label_smoothing;      /* in [0, 1); 0 = off                                */
    float z_loss;               /* coefficient of lse^2; 0 = off                     */
    float filter_eps;           /* gradient filter: a logit block whose every
                                   |dloss/dlogit| (before the upstream gradient) is
                                   below it is skipped. 0 = exact, <0 = AUTO          */
    int32_t check_targets;      /* 1 (default): validate target ids (on CUDA this
                                   synchronises the stream once); 0: trust them.
                                   (CUDA backward and forward_backward also
                                   synchronise once at the end to fill the op
                                   stats.)                                          */
    int32_t reserved;
    uint64_t scratch_bytes;     /* scratch budget in bytes, 0 = default. The CPU
                                   one-pass forward_backward keeps one chunk of
                                   tokens' logits over the whole vocabulary (its
                                   largest buffer) and sizes the chunk to fit
                                   this budget: at least one token panel, at most
                                   1024 tokens. More memory means fewer passes
                                   over dC: faster. Default: 4 MiB or 1/128 of
                                   the n x v logits, whichever is smaller. The
                                   op's whole scratch is in the memory stats.   */
} engram_cce_options;

/* The problem: hidden states e [n, d], classifier rows c [v, d], optional bias
   [v], targets [n]. For a vocabulary shard, c holds rows
   [vocab_start, vocab_start + v) of a vocabulary of vocab_total ids, and targets
   are global ids. Unsharded: vocab_start = 0, vocab_total = 0 (means v). */
typedef struct engram_cce_inputs {
    uint32_t struct_size;
    int32_t dtype;              /* engram_dtype of e, c, bias: F32, F16 or BF16      */
    int32_t target_dtype;       /* ENGRAM_DTYPE_I32 or ENGRAM_DTYPE_I64              */
    int32_t reserved;
    int64_t n;                  /* tokens                                            */
    int64_t d;                  /* hidden size                                       */
    int64_t v;                  /* classifier rows held                              */
    int64_t vocab_start;
    int64_t vocab_total;
    const void* e;
    const void* c;
    const void* bias;           /* NULL: no bias                                     */
    const void* targets;
} engram_cce_inputs;

/* Gradient outputs; each may be NULL to skip it. Overwritten, not accumulated.
   dtype: F32, or the inputs' dtype (then accumulated in fp32 scratch and rounded
   once at the end). */
typedef struct engram_cce_grads {
    uint32_t struct_size;
    int32_t dtype;
    void* grad_e;               /* [n, d]                                            */
    void* grad_c;               /* [v, d]                                            */
    void* grad_bias;            /* [v]                                               */
} engram_cce_grads;

ENGRAM_API engram_status engram_cce_options_init(engram_cce_options* opts);
ENGRAM_API engram_status engram_cce_inputs_init(engram_cce_inputs* inputs);
ENGRAM_API engram_status engram_cce_grads_init(engram_cce_grads* grads);

/* Forward. opts NULL = defaults. loss: [n] (NONE) or [1] (SUM/MEAN), fp32.
   lse: NULL or [n] fp32 (kept for the backward). Unsharded inputs only. */
ENGRAM_API engram_status engram_cce_forward(engram_context* ctx, const engram_cce_inputs* in,
                                            const engram_cce_options* opts, float* loss,
                                            float* lse);

/* Backward: recomputes logits block by block. lse: [n] from the forward (global
   lse when sharded; required then), NULL to recompute it. grad_loss: upstream
   gradient, [n] for NONE or [1] for SUM/MEAN; NULL means 1. For a vocabulary
   shard the result grad_e is this shard's partial sum (all-reduce it). */
ENGRAM_API engram_status engram_cce_backward(engram_context* ctx, const engram_cce_inputs* in,
                                             const engram_cce_options* opts, const float* lse,
                                             const float* grad_loss,
                                             const engram_cce_grads* grads);

/* Forward and backward in one pass over the logits, for a caller that knows the
   upstream gradient already (grad_loss as in backward; NULL = 1). loss, lse as
   in forward (lse may be NULL). Unsharded inputs only. */
ENGRAM_API engram_status engram_cce_forward_backward(engram_context* ctx,
                                                     const engram_cce_inputs* in,
                                                     const engram_cce_options* opts,
                                                     const float* grad_loss, float* loss,
                                                     float* lse, const engram_cce_grads* grads);

/* Vocabulary-parallel forward, step 1, on each shard: per token, the shard's
   log-sum-exp, the target logit if the target lies in this shard (else 0), and
   the sum of the shard's logits (needed for label smoothing; may be NULL when
   label_smoothing is 0). All [n] fp32; ignored tokens get 0. */
ENGRAM_API engram_status engram_cce_shard_forward(engram_context* ctx,
                                                  const engram_cce_inputs* shard,
                                                  const engram_cce_options* opts,
                                                  float* shard_lse, float* target_logit,
                                                  float* logit_sum);

/* Step 2, anywhere: shard_lse [num_shards, n] gathered from all shards (e.g.
   all-gather), target_logit [n] and logit_sum [n] summed over shards (e.g.
   all-reduce SUM; logit_sum NULL if label_smoothing is 0). Writes the exact loss
   ([n] or [1] by reduction) and the global lse [n] (NULL to skip) that each
   shard then passes to engram_cce_backward. targets as in the inputs. */
ENGRAM_API engram_status engram_cce_shard_combine(engram_context* ctx, int64_t n,
                                                  int64_t num_shards, int64_t vocab_total,
                                                  const float* shard_lse,
                                                  const float* target_logit,
                                                  const float* logit_sum, const void* targets,
                                                  engram_dtype target_dtype,
                                                  const engram_cce_options* opts, float* loss,
                                                  float* lse);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ENGRAM_CCE_H */
