/*
 * engram_scan.h — recurrent scans (linear attention and its gated variants),
 * one op family of the engram C ABI. Include engram.h, which includes this
 * header.
 */
#ifndef ENGRAM_SCAN_H
#define ENGRAM_SCAN_H

#include "engram.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Op ids (engram_op) of this family, block 200-299. Op stats counters:
   "chunks" (chunks processed over all sequences and heads; the decode step
   counts one per head and sequence). */
typedef ENGRAM_ENUM(engram_scan_op) {
    ENGRAM_OP_SCAN_LINEAR_FORWARD = 200,
    ENGRAM_OP_SCAN_LINEAR_DECODE = 201,
    ENGRAM_OP_SCAN_LINEAR_BACKWARD = 202
} engram_scan_op;

/* ------------------------------------------------------------------------- */
/* Causal linear attention with an optional per-token decay gate             */
/*                                                                             */
/* Per sequence b and value head h, with state S_t [K, V] (fp32) and          */
/* S_0 = initial_state (zeros when NULL):                                      */
/*   gate NONE:    S_t = S_{t-1} + k_t v_t^T                                   */
/*   gate SCALAR:  S_t = exp(g_t) S_{t-1} + k_t v_t^T          g [B, T, H]     */
/*   gate VECTOR:  S_t = diag(exp(gk_t)) S_{t-1} + k_t v_t^T   gk [B, T, H, K] */
/*   o_t = scale * S_t^T q_t                     (o_t includes token t itself) */
/* g is a log-decay: g <= 0 keeps the state bounded (RetNet, Mamba-2, GLA    */
/* use g = log of a decay in (0, 1]); g = -inf resets the state ("forget     */
/* everything before this token"); g > 0 is accepted and computed as written */
/* (it may overflow).                                                         */
/*                                                                             */
/* The forward is chunk-parallel: within a chunk of `chunk_size` tokens the   */
/* masked product (Q K^T . D) V with the decay mask D[i, j] = exp(b_i - b_j), */
/* b the within-chunk cumulative log-decay kept in float64, so no exp of a    */
/* large positive number is ever formed (T = 1M with strong decay gives       */
/* exact zeros, no overflow); between chunks the carried fp32 state. The      */
/* result equals the token-by-token recurrence up to fp32 rounding.           */
/*                                                                             */
/* Shapes (row-major, contiguous): q, k [B, T, Hk, K]; v [B, T, H, V]; o      */
/* [B, T, H, V]; states [B, H, K, V]. Hk (qk_heads) divides H: value head h   */
/* reads q/k head h / (H / Hk) (grouped heads, as Qwen3-Next's 16 q/k heads   */
/* with 32 value heads). Limits: K <= 256, V <= 256, chunk_size in [1, 256].  */
/*                                                                             */
/* dtypes: q, k, v F32, F16 or BF16 (all three the same); g / gk and the      */
/* states always F32; o F32 or the inputs' dtype (opts->output_dtype;        */
/* rounded once from fp32). All arithmetic is fp32, the gate's cumulative    */
/* sums float64.                                                               */
/*                                                                             */
/* Non-finite values (the recurrence above, evaluated as PyTorch would):      */
/*  - NaN in g (or in channel c of gk) at token s of (b, h): o is NaN for    */
/*    every token t >= s of that sequence and head, and so is the final       */
/*    state (for gk: its row c); tokens before s are unaffected. A later      */
/*    g = -inf does not clear it (0 * NaN = NaN).                              */
/*  - NaN in q at token s: o_s is NaN (that token only). NaN in k at token s: */
/*    o_t NaN for t >= s. NaN in v[s, j]: column j of o_t NaN for t >= s.     */
/*    NaN in initial_state spreads the same way (row c: all columns of every  */
/*    o_t; column j: column j).                                                */
/*  - +-inf inputs and overflow give non-finite outputs where the recurrence */
/*    does; the chunked form may give NaN where the recurrence gives +-inf.   */
/* Determinism: each (sequence, head) is computed by one worker, in a fixed   */
/* order: results are bit-identical run to run and for any thread count.      */
/* ------------------------------------------------------------------------- */

typedef ENGRAM_ENUM(engram_scan_gate) {
    ENGRAM_SCAN_GATE_NONE = 0,   /* plain causal linear attention: g must be NULL */
    ENGRAM_SCAN_GATE_SCALAR = 1, /* g [B, T, H] fp32 log-decay per head and token */
    ENGRAM_SCAN_GATE_VECTOR = 2  /* g [B, T, H, K] fp32 log-decay per key channel */
} engram_scan_gate;

/* opts->output_dtype value meaning "the inputs' dtype". */
#define ENGRAM_SCAN_OUTPUT_DTYPE_INPUT (-1)
/* Largest K and V, and chunk_size range. */
#define ENGRAM_SCAN_MAX_HEAD_DIM 256
#define ENGRAM_SCAN_MAX_CHUNK 256
#define ENGRAM_SCAN_DEFAULT_CHUNK 64

typedef struct engram_scan_options {
    uint32_t struct_size;
    int32_t chunk_size;         /* tokens per chunk, 0 = default (64)                */
    float scale;                /* multiplies q; 0 = default 1/sqrt(K); finite      */
    int32_t output_dtype;       /* F32, or the inputs' dtype; default
                                   ENGRAM_SCAN_OUTPUT_DTYPE_INPUT                    */
} engram_scan_options;

typedef struct engram_scan_inputs {
    uint32_t struct_size;
    int32_t dtype;              /* engram_dtype of q, k, v: F32, F16 or BF16        */
    int32_t gate;               /* engram_scan_gate; default NONE                   */
    int32_t reserved;
    int64_t batch;              /* B                                                */
    int64_t t;                  /* T tokens per sequence (the decode step: 1)       */
    int64_t heads;              /* H value heads (and gate / state heads)           */
    int64_t qk_heads;           /* Hk q/k heads, dividing H; 0 = H                 */
    int64_t k_dim;              /* K                                                */
    int64_t v_dim;              /* V                                                */
    const void* q;              /* [B, T, Hk, K]                                    */
    const void* k;              /* [B, T, Hk, K]                                    */
    const void* v;              /* [B, T, H, V]                                     */
    const float* g;             /* [B, T, H] (SCALAR) or [B, T, H, K] (VECTOR);
                                   NULL for NONE                                   */
    const float* initial_state; /* [B, H, K, V] fp32, NULL = zeros                  */
} engram_scan_inputs;

ENGRAM_API engram_status engram_scan_options_init(engram_scan_options* opts);
ENGRAM_API engram_status engram_scan_inputs_init(engram_scan_inputs* inputs);

/* Chunked forward. opts NULL = defaults. o [B, T, H, V] in opts->output_dtype,
   overwritten. final_state: NULL, or [B, H, K, V] fp32 receiving S_T, so that a
   sequence split in pieces, each piece's final_state passed as the next one's
   initial_state, equals one pass (up to fp32 rounding). No tensor may overlap
   another one written. */
ENGRAM_API engram_status engram_scan_linear_forward(engram_context* ctx,
                                                    const engram_scan_inputs* in,
                                                    const engram_scan_options* opts, void* o,
                                                    float* final_state);

/* One recurrent step per sequence (decode): in->t must be 1; in->initial_state
   is the state before the token (NULL = zeros, i.e. position 0). Writes o
   [B, 1, H, V] and state_out [B, H, K, V] fp32 (required). state_out may be
   in->initial_state itself (updated in place); any other overlap is rejected.
   Constant time and memory per token. opts->chunk_size is validated but not
   used. */
ENGRAM_API engram_status engram_scan_linear_decode(engram_context* ctx,
                                                   const engram_scan_inputs* in,
                                                   const engram_scan_options* opts, void* o,
                                                   float* state_out);

/* Gradients of the forward; each may be NULL to skip it (at least one set).
   Overwritten, not accumulated. dq, dk, dv in `dtype`: F32 or the inputs'
   dtype (accumulated in fp32 and rounded once); dg and d_initial_state fp32.
   With grouped heads dq and dk sum over the value heads sharing a q/k head. */
typedef struct engram_scan_grads {
    uint32_t struct_size;
    int32_t dtype;
    void* dq;                   /* [B, T, Hk, K]                                    */
    void* dk;                   /* [B, T, Hk, K]                                    */
    void* dv;                   /* [B, T, H, V]                                     */
    float* dg;                  /* [B, T, H] or [B, T, H, K] like in->g; must be
                                   NULL for gate NONE                               */
    float* d_initial_state;     /* [B, H, K, V]                                     */
} engram_scan_grads;

ENGRAM_API engram_status engram_scan_grads_init(engram_scan_grads* grads);

/* Backward of engram_scan_linear_forward for the same in and opts. grad_o
   [B, T, H, V] in opts->output_dtype (the dtype of o); grad_final_state NULL
   (zero) or [B, H, K, V] fp32, the gradient reaching the final state. The
   backward recomputes the states (it keeps the state at every chunk start
   and, within a chunk, every token's state: scratch per worker of
   (ceil(T / chunk) + chunk + 2) K V + 2 T K floats), then runs the recurrence
   backwards token by token:
     dS += scale q_t do_t^T;  dq_t = scale S_t do_t;  dk_t = dS v_t;
     dv_t = dS^T k_t;  dg_t = exp(g_t) * sum(dS . S_{t-1}) (per row for gk);
     dS <- diag(exp(g_t)) dS;   d_initial_state = dS at t = 0.
   NaN in an input reaches the gradients that depend on it, as autograd of the
   recurrence would. Deterministic: bit-identical for any thread count. */
ENGRAM_API engram_status engram_scan_linear_backward(engram_context* ctx,
                                                     const engram_scan_inputs* in,
                                                     const engram_scan_options* opts,
                                                     const void* grad_o,
                                                     const float* grad_final_state,
                                                     const engram_scan_grads* grads);

/* ------------------------------------------------------------------------- */
/* Delta rule and gated delta rule (ops 203-205)                              */
/*                                                                             */
/* Per sequence n and value head h, state S_t [K, V] fp32, S_0 the initial   */
/* state (zeros when NULL):                                                    */
/*   S_t = a_t (I - b_t k_t k_t^T) S_{t-1} + b_t k_t v_t^T                    */
/*   o_t = scale * S_t^T q_t                                                   */
/* (the paper's S_{t-1}(I - b k k^T) with the state stored [K, V]), with      */
/* a_t = exp(g_t), g [B, T, H] fp32 log-decay (gated delta rule: Gated      */
/* DeltaNet, Qwen3-Next) or a_t = 1 (plain delta rule, DeltaNet: g NULL);    */
/* b_t = beta [B, T, H] fp32 (required).                                     */
/* g = -inf resets the state (a_t = 0); NaN in g, beta, q, k or v spreads as */
/* the recurrence spreads it. With qk_l2norm, q and k are first divided by  */
/* sqrt(sum(x^2) + 1e-6) (per token and q/k head), then q by scale.          */
/*                                                                             */
/* The forward is chunked (UT transform): within a chunk of C tokens, with    */
/* cumulative log-decay c_i (float64) and A[i, j] = b_i exp(c_i - c_j)        */
/* k_i.k_j (j < i), the chunk's pseudo-values                                 */
/*   U = (I + A)^{-1} (diag(b) V - diag(b exp(c)) K S)                         */
/* by forward substitution, then O = scale ((Q K^T . D) U + diag(exp(c)) Q S)*/
/* and S <- exp(c_last) S + (K . D_last)^T U. Equal to the token-by-token     */
/* recurrence up to fp32 rounding; every exponent is a difference of nearby  */
/* cumulative sums (no exp(-cumsum), stable for any T).                       */
/*                                                                             */
/* Shapes as the linear ops: q, k [B, T, Hk, K]; v, o [B, T, H, V]; g, beta  */
/* [B, T, H]; states [N, H, K, V] with N = B, or with cu_seqlens (variable-  */
/* length batch, B must be 1) N = number of sequences: cu_seqlens [N + 1]     */
/* int32 or int64 token offsets, starting at 0, strictly increasing, ending  */
/* at T; sequence n is tokens [cu[n], cu[n+1]) and starts from its own       */
/* initial state. K, V <= 256; opts as for the linear ops (chunk_size,        */
/* scale, output_dtype). Deterministic: one worker per (sequence, head).     */
/* ------------------------------------------------------------------------- */

/* Op ids (engram_op), continuing engram_scan_op; counter "chunks". */
typedef ENGRAM_ENUM(engram_scan_delta_op) {
    ENGRAM_OP_SCAN_DELTA_FORWARD = 203,
    ENGRAM_OP_SCAN_DELTA_DECODE = 204,
    ENGRAM_OP_SCAN_DELTA_BACKWARD = 205
} engram_scan_delta_op;

typedef struct engram_scan_delta_inputs {
    uint32_t struct_size;
    int32_t dtype;              /* engram_dtype of q, k, v: F32, F16 or BF16        */
    int32_t qk_l2norm;          /* 1: L2-normalise q and k inside the op; 0: no    */
    int32_t cu_seqlens_dtype;   /* ENGRAM_DTYPE_I32 or I64 (when cu_seqlens set)   */
    int64_t batch;              /* B (1 with cu_seqlens)                            */
    int64_t t;                  /* T tokens per sequence (all tokens with cu_seqlens;
                                   the decode step: 1)                              */
    int64_t heads;              /* H value heads (and g / beta / state heads)       */
    int64_t qk_heads;           /* Hk q/k heads, dividing H; 0 = H                 */
    int64_t k_dim;              /* K                                                */
    int64_t v_dim;              /* V                                                */
    int64_t num_seqs;           /* N with cu_seqlens; must be 0 without            */
    const void* q;              /* [B, T, Hk, K]                                    */
    const void* k;              /* [B, T, Hk, K]                                    */
    const void* v;              /* [B, T, H, V]                                     */
    const float* g;             /* [B, T, H] log-decay (gated), NULL = plain delta  */
    const float* beta;          /* [B, T, H] write strength (required)             */
    const float* initial_state; /* [N, H, K, V] fp32, NULL = zeros                  */
    const void* cu_seqlens;     /* [N + 1] offsets, NULL = B sequences of T tokens  */
} engram_scan_delta_inputs;

/* Gradients of the delta forward (each may be NULL, at least one set;
   overwritten): dq, dk, dv in `dtype` (F32 or the inputs' dtype), dg (must be
   NULL for the plain rule), dbeta and d_initial_state fp32. With grouped
   heads dq and dk sum over the value heads sharing a q/k head. With
   qk_l2norm the gradients are with respect to the unnormalised q and k. */
typedef struct engram_scan_delta_grads {
    uint32_t struct_size;
    int32_t dtype;
    void* dq;                   /* [B, T, Hk, K]                                    */
    void* dk;                   /* [B, T, Hk, K]                                    */
    void* dv;                   /* [B, T, H, V]                                     */
    float* dg;                  /* [B, T, H]                                        */
    float* dbeta;               /* [B, T, H]                                        */
    float* d_initial_state;     /* [N, H, K, V]                                     */
} engram_scan_delta_grads;

ENGRAM_API engram_status engram_scan_delta_inputs_init(engram_scan_delta_inputs* inputs);
ENGRAM_API engram_status engram_scan_delta_grads_init(engram_scan_delta_grads* grads);

/* Chunked forward: o [B, T, H, V] in opts->output_dtype; final_state NULL or
   [N, H, K, V] fp32 (S after each sequence's last token): a sequence split in
   pieces, each piece's final_state the next one's initial_state, equals one
   pass (bit-identical when cut on a chunk boundary). No overlaps. */
ENGRAM_API engram_status engram_scan_delta_forward(engram_context* ctx,
                                                   const engram_scan_delta_inputs* in,
                                                   const engram_scan_options* opts, void* o,
                                                   float* final_state);

/* One token per sequence: in->t must be 1 and cu_seqlens NULL; o [B, 1, H, V]
   and state_out [B, H, K, V] (required; may be in->initial_state itself,
   updated in place; any other overlap is rejected). Constant time per token. */
ENGRAM_API engram_status engram_scan_delta_decode(engram_context* ctx,
                                                  const engram_scan_delta_inputs* in,
                                                  const engram_scan_options* opts, void* o,
                                                  float* state_out);

/* Backward of engram_scan_delta_forward for the same in and opts: grad_o
   [B, T, H, V] in o's dtype, grad_final_state NULL (zero) or [N, H, K, V].
   Recomputes the token states from a checkpoint per chunk (scratch per
   worker about (ceil(T / C) + C + 2) K V floats) and runs the recurrence
   backwards token by token (O(T K V) per head). Deterministic. */
ENGRAM_API engram_status engram_scan_delta_backward(engram_context* ctx,
                                                    const engram_scan_delta_inputs* in,
                                                    const engram_scan_options* opts,
                                                    const void* grad_o,
                                                    const float* grad_final_state,
                                                    const engram_scan_delta_grads* grads);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ENGRAM_SCAN_H */
