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
    ENGRAM_OP_SCAN_LINEAR_BACKWARD = 202,
    /* Mixture-of-Memories (section below), 206-212 */
    ENGRAM_OP_SCAN_MOM_ROUTE = 206,
    ENGRAM_OP_SCAN_MOM_GATHER = 207,
    ENGRAM_OP_SCAN_MOM_COMBINE = 208,
    ENGRAM_OP_SCAN_MOM_ROUTE_BACKWARD = 209,
    ENGRAM_OP_SCAN_MOM_GATHER_BACKWARD = 210,
    ENGRAM_OP_SCAN_MOM_COMBINE_BACKWARD = 211,
    ENGRAM_OP_SCAN_MOM_DECODE = 212,
    /* BASED (section below), 213-216 */
    ENGRAM_OP_SCAN_BASED_FEATURE_MAP = 213,
    ENGRAM_OP_SCAN_BASED_FEATURE_MAP_BACKWARD = 214,
    ENGRAM_OP_SCAN_BASED_FORWARD = 215,
    ENGRAM_OP_SCAN_SLIDING_WINDOW_FORWARD = 216,
    /* Titans neural memory (section below), 217-218 */
    ENGRAM_OP_SCAN_TITANS_FORWARD = 217,
    ENGRAM_OP_SCAN_TITANS_DECODE = 218
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

/* ------------------------------------------------------------------------- */
/* Mixture-of-Memories (MoM): routing, grouping, combining                   */
/*                                                                             */
/* Each token picks top_k of M memories from router logits [B, T, M]; the    */
/* chosen memories' weights are the softmax over the chosen logits only (the  */
/* full softmax renormalised over the k chosen: w_j = exp(z_j - z_max) /      */
/* sum over chosen of exp(z_l - z_max)). Ranking: larger logit first, equal    */
/* logits by lower memory index, NaN above every number (as torch.topk).       */
/*                                                                             */
/* Grouping: the assignments (token, j) of sequence b routed to memory m form */
/* segment s = b * M + m, in time order; offsets [B M + 1] are the segments'   */
/* starts in the packed order (cu_seqlens of B M sequences, a memory with no   */
/* tokens gives an empty segment), gather_index [B T k] the source token      */
/* (b * T + t) of each packed row (-1 past offsets[B M]), slots [B, T, k] the */
/* packed row of each assignment (-1: dropped). A counting sort, O(B T k +   */
/* B M), no per-token allocation.                                              */
/*                                                                             */
/* Capacity: capacity_factor 0 = unlimited; > 0 gives each (sequence, memory) */
/* room for C = ceil(capacity_factor * T * top_k / M) tokens. Overflow policy: */
/* tokens are admitted in time order, so the latest tokens over capacity are  */
/* dropped: slot -1, weight 0 (the other weights of that token are NOT        */
/* renormalised again), and nothing flows back to their logits through the    */
/* dropped weight. Always-on shared memory: the caller runs it over the whole */
/* sequence and passes its output to combine (weight 1).                      */
/*                                                                             */
/* The per-memory scans: gather q, k, v (and g) rows into packed order, run   */
/* each segment as its own sequence (engram_scan_linear_forward with batch 1 */
/* on rows offsets[s] .. offsets[s+1], or a varlen scan with cu_seqlens =     */
/* offsets), then combine. Backward: combine_backward (d memory outputs, d    */
/* weights), the scans' backward, gather_backward (d of the token rows),     */
/* route_backward (d logits).                                                  */
/*                                                                             */
/* Non-finite: NaN in a token's logits makes all of that token's weights NaN  */
/* (as torch.softmax), which combine spreads to that token's output; a token  */
/* whose chosen logits are all -inf, or with +inf among them, gets NaN        */
/* weights too. Everything is deterministic: bit-identical for any thread     */
/* count. Counts fit int32: B T top_k < 2^31; M <= 4096.                      */
/* ------------------------------------------------------------------------- */

#define ENGRAM_SCAN_MOM_MAX_MEMORIES 4096

typedef struct engram_scan_mom_routing {
    uint32_t struct_size;
    int32_t dtype;              /* engram_dtype of logits: F32, F16 or BF16         */
    int64_t batch;              /* B                                                */
    int64_t t;                  /* T tokens per sequence                           */
    int64_t memories;           /* M, 1 .. ENGRAM_SCAN_MOM_MAX_MEMORIES             */
    int64_t top_k;              /* k, 1 .. M                                        */
    float capacity_factor;      /* 0 = unlimited; finite and > 0 otherwise          */
    int32_t reserved;
    const void* logits;         /* [B, T, M]                                        */
} engram_scan_mom_routing;

/* Outputs of the route, all required, overwritten. */
typedef struct engram_scan_mom_route_out {
    uint32_t struct_size;
    int32_t reserved;
    int32_t* indices;           /* [B, T, k] chosen memories, best first            */
    float* weights;             /* [B, T, k] renormalised weights (0: dropped)      */
    int32_t* slots;             /* [B, T, k] packed row of each choice, -1 dropped */
    int32_t* offsets;           /* [B M + 1] segment starts, offsets[0] = 0         */
    int32_t* gather_index;      /* [B T k] source token of each packed row, -1 past
                                   offsets[B M]                                     */
} engram_scan_mom_route_out;

/* Rows moved by gather / combine: tokens N = B T rows of `width` elements in  */
/* `dtype` (F32, F16, BF16), packed buffers N k rows (the most there can be).  */
typedef struct engram_scan_mom_rows {
    uint32_t struct_size;
    int32_t dtype;              /* F32, F16 or BF16                                 */
    int64_t tokens;             /* N = B T                                          */
    int64_t top_k;              /* k                                                */
    int64_t width;              /* D elements per row (e.g. H K for q)              */
} engram_scan_mom_rows;

ENGRAM_API engram_status engram_scan_mom_routing_init(engram_scan_mom_routing* routing);
ENGRAM_API engram_status engram_scan_mom_route_out_init(engram_scan_mom_route_out* out);
ENGRAM_API engram_status engram_scan_mom_rows_init(engram_scan_mom_rows* rows);

/* Route: logits -> indices, weights, slots, offsets, gather_index. */
ENGRAM_API engram_status engram_scan_mom_route(engram_context* ctx,
                                               const engram_scan_mom_routing* routing,
                                               const engram_scan_mom_route_out* out);

/* packed[p] = x[gather_index[p]] for every p in [0, N k); rows with index -1 */
/* are zeros. x [N, D], packed [N k, D], both rows->dtype. Every index must   */
/* be in [-1, N): checked before anything is written.                          */
ENGRAM_API engram_status engram_scan_mom_gather(engram_context* ctx,
                                                const engram_scan_mom_rows* rows, const void* x,
                                                const int32_t* gather_index, void* packed);

/* Backward of gather: d_x[n] = sum over j of d_packed[slots[n, j]] (slots -1 */
/* skipped), summed in fp32 in the order j = 0 .. k-1, rounded once. slots    */
/* [N, k] entries in [-1, N k).                                                */
ENGRAM_API engram_status engram_scan_mom_gather_backward(engram_context* ctx,
                                                         const engram_scan_mom_rows* rows,
                                                         const void* d_packed,
                                                         const int32_t* slots, void* d_x);

/* y[n] = sum_j weights[n, j] mem_out[slots[n, j]] (+ shared_out[n]): mem_out */
/* [N k, D] packed memory outputs, weights [N, k] fp32, shared_out [N, D] or  */
/* NULL (the always-on shared memory, weight 1), y [N, D]; rows->dtype, fp32   */
/* sums in the order j = 0 .. k-1 then the shared row, rounded once. A dropped */
/* choice (slot -1) adds nothing, whatever its weight.                        */
ENGRAM_API engram_status engram_scan_mom_combine(engram_context* ctx,
                                                 const engram_scan_mom_rows* rows,
                                                 const void* mem_out, const int32_t* slots,
                                                 const float* weights, const void* shared_out,
                                                 void* y);

/* Backward of combine. d_mem_out [N k, D] (rows->dtype; rows no slot names   */
/* are zeros): d_mem_out[slots[n, j]] = weights[n, j] dy[n]; d_weights [N, k] */
/* fp32: dy[n] . mem_out[slots[n, j]] (0 when dropped). Either may be NULL,   */
/* not both. The shared output's gradient is dy itself. Slots must be         */
/* distinct (as route writes them): a repeated slot is rejected.              */
ENGRAM_API engram_status engram_scan_mom_combine_backward(engram_context* ctx,
                                                          const engram_scan_mom_rows* rows,
                                                          const void* dy, const void* mem_out,
                                                          const int32_t* slots,
                                                          const float* weights, void* d_mem_out,
                                                          float* d_weights);

/* Backward of route for the same routing (logits) and its indices and slots: */
/* d_weights [B, T, k] fp32 -> d_logits [B, T, M] fp32 (overwritten). With w  */
/* the softmax over the chosen logits (before any drop):                       */
/*   d z_{i_j} = w_j (d_j - sum_l w_l d_l),  d_l = 0 for dropped choices,     */
/* and 0 for memories not chosen (top-k selection has no gradient).           */
/* indices must be k distinct memories per token, in [0, M).                  */
ENGRAM_API engram_status engram_scan_mom_route_backward(engram_context* ctx,
                                                        const engram_scan_mom_routing* routing,
                                                        const int32_t* indices,
                                                        const int32_t* slots,
                                                        const float* d_weights, float* d_logits);

/* Decode: one token per sequence routed and stepped through only its chosen */
/* memories (and the shared memory). For each sequence b: route logits[b]     */
/* (no capacity), then for each value head h and each chosen memory m_j:      */
/*   S_{b,m,h} <- one step of engram_scan_linear_decode with q[b], k[b, m],   */
/*   v[b, m], g[b, m];   o[b, h] = sum_j w_j o_{m_j} (+ o_shared)             */
/* Memories not chosen keep their state bit for bit. The shared memory (when */
/* shared_memory = 1) is memory row M of k, v, g and states, stepped every    */
/* token with weight 1. scale, output dtype: opts as the linear scan.         */
typedef struct engram_scan_mom_decode_inputs {
    uint32_t struct_size;
    int32_t dtype;              /* q, k, v and logits: F32, F16 or BF16            */
    int32_t gate;               /* engram_scan_gate                                 */
    int32_t shared_memory;      /* 0 or 1                                           */
    int64_t batch;              /* B                                                */
    int64_t memories;           /* M                                                */
    int64_t top_k;              /* k in [1, M]                                      */
    int64_t heads;              /* H                                                */
    int64_t qk_heads;           /* Hk dividing H; 0 = H                             */
    int64_t k_dim;              /* K <= 256                                         */
    int64_t v_dim;              /* V <= 256                                         */
    const void* logits;         /* [B, M]                                           */
    const void* q;              /* [B, Hk, K]                                       */
    const void* k;              /* [B, M + s, Hk, K] each memory's key, s = shared  */
    const void* v;              /* [B, M + s, H, V]                                 */
    const float* g;             /* [B, M + s, H] or [B, M + s, H, K]; NULL for NONE */
} engram_scan_mom_decode_inputs;

ENGRAM_API engram_status engram_scan_mom_decode_inputs_init(engram_scan_mom_decode_inputs* in);

/* states [B, M + s, H, K, V] fp32, read and updated in place (required).     */
/* o [B, H, V] in opts->output_dtype. indices [B, k] and weights [B, k] fp32: */
/* NULL or receive the routing. No tensor may overlap another.                */
ENGRAM_API engram_status engram_scan_mom_decode(engram_context* ctx,
                                                const engram_scan_mom_decode_inputs* in,
                                                const engram_scan_options* opts, float* states,
                                                void* o, int32_t* indices, float* weights);

/* ------------------------------------------------------------------------- */
/* BASED: Taylor linear attention and sliding-window softmax attention        */
/*                                                                             */
/* Feature map (2nd-order Taylor expansion of exp(q.k / sqrt(d))), d = dim:    */
/*   phi(x) = [1, x / d^(1/4), vec(x x^T) / (sqrt(2) sqrt(d))]                */
/* F = 1 + d + d^2 features (d = 16: 273), so phi(q).phi(k) = 1 + s + s^2 / 2 */
/* with s = q.k / sqrt(d): always >= 1/2, a denominator that never vanishes. */
/* Layout of phi: [1], then x_i, then x_i x_j at 1 + d + i d + j.             */
/*                                                                             */
/* BASED linear attention, causal, per sequence b and value head h:           */
/*   o_t = sum_{j<=t} (phi(q_t).phi(k_j)) v_j / sum_{j<=t} phi(q_t).phi(k_j)  */
/* computed chunk by chunk: within a chunk the scores 1 + s + s^2/2 straight  */
/* from q.k (O(C^2 d), no features), between chunks the carried fp32 state   */
/* S = sum phi(k_j) v_j^T [F, V] and normaliser z = sum phi(k_j) [F].         */
/*                                                                             */
/* Sliding-window softmax attention (BASED's local mixer), causal:           */
/*   o_t = sum_{t-w < j <= t} softmax_j(scale q_t.k_j) v_j, window w          */
/* (default 64, the token itself included), grouped heads: q and o have H     */
/* heads, k and v Hkv dividing H.                                              */
/*                                                                             */
/* dtypes: inputs F32, F16 or BF16 (q, k, v alike); phi and the feature map's */
/* input gradient are F32; o F32 or the inputs' dtype. fp32 arithmetic.       */
/* NaN in q_t: o_t NaN. NaN in k_s or v_s: o_t NaN for every t >= s that sees */
/* token s (BASED: all later tokens; window: t < s + w), as PyTorch would.    */
/* Deterministic: each (sequence, head) by one worker in a fixed order.       */
/* ------------------------------------------------------------------------- */

#define ENGRAM_SCAN_BASED_MAX_DIM 32        /* d: F = 1 + d + d^2 <= 1057      */
#define ENGRAM_SCAN_WINDOW_DEFAULT 64

/* phi [rows, 1 + d + d^2] fp32 of x [rows, d] (dtype F32/F16/BF16). */
ENGRAM_API engram_status engram_scan_based_feature_map(engram_context* ctx, int32_t dtype,
                                                       int64_t rows, int64_t dim,
                                                       const void* x, float* phi);
/* dx [rows, d] fp32 = d phi / d x applied to d_phi [rows, 1 + d + d^2] fp32:  */
/*   dx_i = d_phi_lin[i] / d^(1/4) + sum_j (d_phi_q[i, j] + d_phi_q[j, i])   */
/*          x_j / (sqrt(2) sqrt(d)).                                          */
ENGRAM_API engram_status engram_scan_based_feature_map_backward(engram_context* ctx,
                                                                int32_t dtype, int64_t rows,
                                                                int64_t dim, const void* x,
                                                                const float* d_phi, float* dx);

typedef struct engram_scan_based_inputs {
    uint32_t struct_size;
    int32_t dtype;              /* q, k, v: F32, F16 or BF16                        */
    int32_t output_dtype;       /* F32 or the inputs' dtype; default
                                   ENGRAM_SCAN_OUTPUT_DTYPE_INPUT                    */
    int32_t chunk_size;         /* BASED: tokens per chunk, 0 = 64, <= 256          */
    int32_t window;             /* sliding window: w >= 1, 0 = 64                   */
    float scale;                /* sliding window: 0 = 1/sqrt(K); finite            */
    int64_t batch;              /* B                                                */
    int64_t t;                  /* T                                                */
    int64_t heads;              /* H value heads (q, o heads for the window)       */
    int64_t qk_heads;           /* BASED: q/k heads; window: k/v heads; 0 = H       */
    int64_t k_dim;              /* d (BASED <= 32; window <= 256)                   */
    int64_t v_dim;              /* V <= 256                                         */
    const void* q;              /* BASED [B, T, Hk, d]; window [B, T, H, d]         */
    const void* k;              /* [B, T, Hk, d]                                    */
    const void* v;              /* BASED [B, T, H, V]; window [B, T, Hk, V]         */
} engram_scan_based_inputs;

ENGRAM_API engram_status engram_scan_based_inputs_init(engram_scan_based_inputs* in);

/* BASED linear attention: o [B, T, H, V]. */
ENGRAM_API engram_status engram_scan_based_forward(engram_context* ctx,
                                                   const engram_scan_based_inputs* in, void* o);
/* Sliding-window causal softmax attention: o [B, T, H, V]. */
ENGRAM_API engram_status engram_scan_sliding_window_forward(engram_context* ctx,
                                                            const engram_scan_based_inputs* in,
                                                            void* o);

/* ------------------------------------------------------------------------- */
/* Titans neural memory: a linear memory with momentum and forgetting         */
/*                                                                             */
/* Per sequence b and value head h, memory M_t and surprise S_t, both fp32    */
/* and stored transposed like the linear scan's state ([K, V]: M^T), with    */
/* per-token momentum eta_t, learning rate theta_t and forgetting alpha_t:    */
/*   e_t = M_{t-1} k_t - v_t                       (prediction error, [V])    */
/*   S_t = eta_t S_{t-1} - theta_t e_t k_t^T       (gradient of |M k - v|^2/2) */
/*   M_t = (1 - alpha_t) M_{t-1} + S_t                                       */
/*   o_t = M_t q_t                                  (after the update)        */
/* q, k [B, T, Hk, K] (Hk dividing H, grouped as the linear scan), v, o        */
/* [B, T, H, V]; eta, theta, alpha [B, T, H] fp32; memories and surprises     */
/* [B, H, K, V] fp32. K, V <= 256. dtypes as the linear scan. Recurrent form, */
/* O(K V) per token and head, fp32; one (sequence, head) per worker: bit-    */
/* identical for any thread count, and a sequence cut anywhere, the final    */
/* memory and surprise passed on, equals one pass bit for bit.               */
/* NaN in any input at token s reaches o_t for t >= s through the memory (in */
/* q_s: o_s only), as the recurrence evaluated by PyTorch would.              */
/* ------------------------------------------------------------------------- */

typedef struct engram_scan_titans_inputs {
    uint32_t struct_size;
    int32_t dtype;              /* q, k, v: F32, F16 or BF16                        */
    int32_t output_dtype;       /* F32 or the inputs' dtype; default
                                   ENGRAM_SCAN_OUTPUT_DTYPE_INPUT                    */
    int32_t reserved;
    int64_t batch;              /* B                                                */
    int64_t t;                  /* T (decode: 1)                                    */
    int64_t heads;              /* H                                                */
    int64_t qk_heads;           /* Hk dividing H; 0 = H                             */
    int64_t k_dim;              /* K                                                */
    int64_t v_dim;              /* V                                                */
    const void* q;              /* [B, T, Hk, K]                                    */
    const void* k;              /* [B, T, Hk, K]                                    */
    const void* v;              /* [B, T, H, V]                                     */
    const float* eta;           /* [B, T, H] momentum                               */
    const float* theta;         /* [B, T, H] learning rate                          */
    const float* alpha;         /* [B, T, H] forgetting                             */
    const float* initial_memory;   /* [B, H, K, V], NULL = zeros                    */
    const float* initial_surprise; /* [B, H, K, V], NULL = zeros                    */
} engram_scan_titans_inputs;

ENGRAM_API engram_status engram_scan_titans_inputs_init(engram_scan_titans_inputs* in);

/* o [B, T, H, V]; final_memory, final_surprise NULL or [B, H, K, V] (M_T,    */
/* S_T). No tensor may overlap another one written.                           */
ENGRAM_API engram_status engram_scan_titans_forward(engram_context* ctx,
                                                    const engram_scan_titans_inputs* in,
                                                    void* o, float* final_memory,
                                                    float* final_surprise);
/* One token (in->t = 1): memory_out and surprise_out required, each may be   */
/* its initial tensor itself (updated in place); any other overlap rejected.  */
ENGRAM_API engram_status engram_scan_titans_decode(engram_context* ctx,
                                                   const engram_scan_titans_inputs* in, void* o,
                                                   float* memory_out, float* surprise_out);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ENGRAM_SCAN_H */
