/*
 * engram_attention.h — long-context attention over a library-owned KV cache,
 * one op family of the engram C ABI ("DuoAttention", "StreamingLLM").
 * Include engram.h, which includes this header.
 *
 * The KV cache
 *  - Per layer, keys and values [H_kv, S, D] in F32, F16 or BF16 storage, head
 *    dim D in [1, ENGRAM_ATTENTION_MAX_HEAD_DIM] (64 and 128 are the usual ones).
 *  - Each (layer, KV head) has a policy:
 *      ENGRAM_ATTENTION_HEAD_RETRIEVAL: keeps every token (up to `capacity`);
 *      ENGRAM_ATTENTION_HEAD_STREAMING: keeps the first `sink_tokens` tokens
 *        (attention sinks) plus a ring buffer of the last `window` tokens, so
 *        its memory stops growing once sink_tokens + window tokens were seen.
 *  - Tokens are appended per layer (a decoder appends token t to layer l just
 *    before running layer l's attention). A layer's length is the number of
 *    tokens appended to it since create/reset; positions are 0 .. length-1.
 *  - Storage grows with the tokens it holds (doubling, never past a retrieval
 *    head's capacity or a streaming head's sink_tokens + window), so the byte
 *    count engram_attention_cache_get_info reports is exactly what is allocated.
 *
 * Lifetime and threads
 *  - A cache is created from a context and used only with that context: every
 *    call taking both rejects another context (ENGRAM_ERR_INVALID_ARGUMENT,
 *    naming "cache"). Calls on one context are serialised, so a cache is
 *    thread-safe through its context.
 *  - Contexts are not reference-counted: a cache does not keep its context
 *    alive. engram_attention_cache_destroy touches only the cache's own memory,
 *    so it may be called before or after engram_context_destroy of its context;
 *    every other call needs the cache's context alive. Destroying a cache while
 *    another thread uses it is the caller's bug, as for free().
 *  - On a CUDA context the cache's rows live in that device's memory and
 *    append, decode and prefill take their tensors in device memory; a build
 *    without CUDA attention returns ENGRAM_ERR_UNSUPPORTED from create.
 *
 * Numeric contract of the attention ops
 *  - score_t = scale * (q . k_t), p = softmax over the tokens the head keeps,
 *    out = sum_t p_t v_t; inputs converted to f32, f32 accumulation (online
 *    softmax over blocks of tokens, merged in a fixed order).
 *  - GQA: query head h reads KV head h / (H_q / H_kv) (as repeat_interleave).
 *  - Non-finite values, as PyTorch's softmax(q k^T * scale) @ v computes them:
 *    a NaN in q or in a kept key makes every output of that query head NaN;
 *    a +inf score makes the head's output NaN; -inf scores get weight 0, and a
 *    head whose scores are all -inf outputs NaN; a NaN or inf in a kept value
 *    column makes that output column NaN (0 * NaN and 0 * inf are NaN) unless
 *    other values already made it NaN.
 *  - Determinism: decode cuts each KV head's tokens into fixed 1024-token parts
 *    (whatever the thread count), spreads them statically over the workers
 *    and merges a head's parts in order; the other ops split the work over KV
 *    heads statically, each head reduced in token order by one worker. So
 *    results are bit-identical run to run and for any thread count (for a
 *    given CPU ISA).
 */
#ifndef ENGRAM_ATTENTION_H
#define ENGRAM_ATTENTION_H

#include "engram.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Op ids (engram_op) of this family. The dtype engram_op_supported takes is
   the cache's storage dtype. Op stats counters:
   - attention_cache_append: "tokens_appended" (tokens of the call), "tokens_evicted"
     (window tokens overwritten in the ring buffers of the layer's streaming
     heads, summed over those heads);
   - attention_decode: "tokens_attended" (kept tokens read, summed over KV heads),
     "kv_bytes_read" (key and value bytes read for them);
   - attention_prefill: "tokens_appended", "tokens_evicted" as append, and
     "tokens_attended", "kv_bytes_read" summed over the chunk's queries. */
typedef ENGRAM_ENUM(engram_attention_op) {
    ENGRAM_OP_ATTENTION_CACHE_APPEND = 300,
    ENGRAM_OP_ATTENTION_DECODE = 301,
    ENGRAM_OP_ATTENTION_PREFILL = 302
} engram_attention_op;

#define ENGRAM_ATTENTION_MAX_HEAD_DIM 256

typedef ENGRAM_ENUM(engram_attention_head_policy) {
    ENGRAM_ATTENTION_HEAD_RETRIEVAL = 0, /* full cache                          */
    ENGRAM_ATTENTION_HEAD_STREAMING = 1  /* sink tokens + window of recent ones  */
} engram_attention_head_policy;

typedef struct engram_attention_cache_handle engram_attention_cache;

typedef struct engram_attention_cache_config {
    uint32_t struct_size;       /* engram_attention_cache_config_init                */
    int32_t dtype;              /* storage: F32, F16 or BF16 (default F32)           */
    int32_t layers;             /* >= 1                                              */
    int32_t kv_heads;           /* H_kv >= 1                                         */
    int32_t head_dim;           /* D in [1, ENGRAM_ATTENTION_MAX_HEAD_DIM]            */
    int32_t sink_tokens;        /* S_sink >= 0 of streaming heads (default 4)        */
    int32_t window;             /* W >= 1 of streaming heads (default 1024)          */
    int32_t reserved;           /* 0                                                 */
    int64_t capacity;           /* >= 1: most tokens per layer while the layer has a
                                   retrieval head (streaming-only layers have no
                                   limit)                                           */
    const int32_t* policy;      /* [layers * kv_heads] engram_attention_head_policy,
                                   layer-major (policy[l * kv_heads + h]); NULL = all
                                   retrieval. Copied at create.                      */
} engram_attention_cache_config;

/* What a cache holds now, for one layer and in all. */
typedef struct engram_attention_cache_info {
    uint32_t struct_size;       /* engram_attention_cache_info_init                  */
    int32_t layer;              /* the layer asked for                               */
    int64_t length;             /* tokens appended to the layer since create/reset   */
    int64_t retrieval_tokens;   /* tokens a retrieval head of the layer keeps: length */
    int64_t streaming_tokens;   /* tokens a streaming head keeps:
                                   min(length, S_sink) + min(max(length - S_sink, 0), W) */
    int32_t retrieval_heads;    /* KV heads of the layer with each policy            */
    int32_t streaming_heads;
    uint64_t layer_bytes;       /* key + value bytes allocated for the layer         */
    uint64_t layer_streaming_bytes; /* of which for its streaming heads             */
    uint64_t total_bytes;       /* key + value bytes allocated for the whole cache  */
} engram_attention_cache_info;

typedef struct engram_attention_options {
    uint32_t struct_size;       /* engram_attention_options_init                     */
    float scale;                /* score scale; 0 (default) = 1 / sqrt(D); else finite
                                   and > 0                                           */
} engram_attention_options;

ENGRAM_API engram_status engram_attention_cache_config_init(engram_attention_cache_config* config);
ENGRAM_API engram_status engram_attention_cache_info_init(engram_attention_cache_info* info);
ENGRAM_API engram_status engram_attention_options_init(engram_attention_options* opts);

/* Creates an empty cache (no storage allocated yet). *out is NULL on error. */
ENGRAM_API engram_status engram_attention_cache_create(engram_context* ctx,
                                                       const engram_attention_cache_config* config,
                                                       engram_attention_cache** out);
/* NULL is accepted and ignored. May follow engram_context_destroy (see above). */
ENGRAM_API engram_status engram_attention_cache_destroy(engram_attention_cache* cache);
/* Every layer back to length 0; storage is released. */
ENGRAM_API engram_status engram_attention_cache_reset(engram_context* ctx,
                                                      engram_attention_cache* cache);
/* Replaces the policy ([count = layers * kv_heads] as in the config, not NULL).
   Only on an empty cache (after create or reset): ENGRAM_ERR_INVALID_ARGUMENT
   otherwise. On error the cache keeps its policy. */
ENGRAM_API engram_status engram_attention_cache_set_policy(engram_context* ctx,
                                                           engram_attention_cache* cache,
                                                           const int32_t* policy, int64_t count);
ENGRAM_API engram_status engram_attention_cache_get_info(engram_context* ctx,
                                                         engram_attention_cache* cache,
                                                         int32_t layer,
                                                         engram_attention_cache_info* info);

/* Appends `tokens` >= 1 tokens to `layer`: k and v [H_kv, tokens, D] of
   `dtype` (F32, or the cache's storage dtype; F32 is rounded to the storage
   dtype, to nearest even). A retrieval head never holds more than `capacity`
   tokens: an append past it fails with ENGRAM_ERR_INVALID_ARGUMENT and the
   cache unchanged (as on every error). Streaming heads keep the first S_sink
   positions and overwrite the oldest window token. */
ENGRAM_API engram_status engram_attention_cache_append(engram_context* ctx,
                                                       engram_attention_cache* cache,
                                                       int32_t layer, int64_t tokens,
                                                       engram_dtype dtype, const void* k,
                                                       const void* v);

/* Decode attention of one new token at `layer`: q [q_heads, D] and out
   [q_heads, D] of `dtype` (F32, F16 or BF16; out is rounded once at the end).
   q_heads is a multiple of H_kv. The query attends to every token the layer's
   cache keeps for its KV head (append the token's own keys and values first;
   the layer must not be empty). opts NULL = defaults. */
ENGRAM_API engram_status engram_attention_decode(engram_context* ctx,
                                                 engram_attention_cache* cache, int32_t layer,
                                                 int64_t q_heads, engram_dtype dtype,
                                                 const void* q, void* out,
                                                 const engram_attention_options* opts);

/* Dense causal prefill of a chunk of `tokens` >= 1 new tokens at `layer`, the
   plain baseline: attends the chunk's queries, then appends its keys and
   values. q and out [q_heads, tokens, D], k and v [H_kv, tokens, D], all of
   `dtype`, which is F32 or the cache's storage dtype. With L the layer's
   length before the call, query i (position L + i) attends to exactly what a
   decode would read after appending tokens 0..i one by one: retrieval heads
   to positions 0..L+i, streaming heads to the sinks and the last W positions
   up to L+i, the chunk's keys and values rounded to the storage dtype. (So a
   streaming head's early queries see window tokens that the chunk then
   evicts.) Capacity and errors as append: on error nothing is written. */
ENGRAM_API engram_status engram_attention_prefill(engram_context* ctx,
                                                  engram_attention_cache* cache, int32_t layer,
                                                  int64_t q_heads, int64_t tokens,
                                                  engram_dtype dtype, const void* q,
                                                  const void* k, const void* v, void* out,
                                                  const engram_attention_options* opts);

/* ---- Policies from a pattern (DuoAttention) --------------------------------
   A pattern gives every (layer, KV head) a score: high = the head needs the
   full cache (a retrieval head), low = sinks and a window suffice (a
   streaming head); DuoAttention's per-head gate values, or a 0/1 pattern
   (1 retrieval, 0 streaming). The file is a small JSON object (see
   docs/attention.md):
     {"layers": L, "kv_heads": H, "scores": [[s_0_0, ..., s_0_H-1], ..., [...]]}
   The policy functions act like engram_attention_cache_set_policy: only on an
   empty cache, and on any error the cache keeps its policy. */

/* sparsity value of engram_attention_cache_load_pattern: no ratio, heads
   whose score is below 0.5 stream (a 0/1 pattern applied as written). */
#define ENGRAM_ATTENTION_PATTERN_THRESHOLD (-1.0f)

/* Parses pattern text (text[0, bytes), no NUL needed) for a cache of
   `layers` x `kv_heads` heads into scores [count = layers * kv_heads],
   layer-major. A malformed text (the message gives line and column), a
   shape other than layers x kv_heads, or a value that is not a finite f32:
   ENGRAM_ERR_INVALID_ARGUMENT, scores untouched. */
ENGRAM_API engram_status engram_attention_pattern_parse(const char* text, int64_t bytes,
                                                        int32_t layers, int32_t kv_heads,
                                                        float* scores, int64_t count);

/* Sets the policy from per-head scores [count = layers * kv_heads]
   (layer-major, finite): the round(sparsity * count) lowest-scoring heads
   (ranked over all layers together, as DuoAttention does; ties: the lower
   index first) become streaming, the others retrieval. sparsity in [0, 1]. */
ENGRAM_API engram_status engram_attention_cache_set_policy_by_ratio(engram_context* ctx,
                                                                    engram_attention_cache* cache,
                                                                    const float* scores,
                                                                    int64_t count, float sparsity);

/* Reads the pattern file at `path` (UTF-8 path, at most 64 MiB), parses it
   for the cache's layers x kv_heads, and sets the policy: by ratio as
   engram_attention_cache_set_policy_by_ratio for sparsity in [0, 1], or by
   threshold (score < 0.5 streams) for ENGRAM_ATTENTION_PATTERN_THRESHOLD.
   A file that cannot be read (or is larger): ENGRAM_ERR_INVALID_ARGUMENT
   naming path and the reason. */
ENGRAM_API engram_status engram_attention_cache_load_pattern(engram_context* ctx,
                                                             engram_attention_cache* cache,
                                                             const char* path, float sparsity);

/* ---- Double Sparsity ------------------------------------------------------
   Per (layer, KV head) r "label" channels of the keys, chosen offline by
   engram_attention_dsparse_calibrate. Once a layer has them
   (engram_attention_dsparse_set_channels), the cache keeps a label cache
   [H_kv, S, r] in step with the keys: every append (and prefill) stores each
   key's label channels, in the same rows (a streaming head's wrap the same
   way). engram_attention_dsparse_decode then ranks the tokens each head
   keeps (a retrieval head all, a streaming head its sinks and window) by
   approximate scores over the label channels, takes the top_k plus the
   `recent` newest tokens, and runs exact attention over those only. */
typedef ENGRAM_ENUM(engram_attention_sparse_op) {
    ENGRAM_OP_ATTENTION_DSPARSE_CALIBRATE = 303,
    ENGRAM_OP_ATTENTION_DSPARSE_DECODE = 304
} engram_attention_sparse_op;

/* Channel scores from sample queries and keys: for KV head h and channel j,
   score_j = mean over its G = q_heads / kv_heads query heads g and the
   `tokens` samples t of |q[h*G+g, t, j] * k[h, t, j]| (a query paired with
   the key of the same token, double accumulation); channels [kv_heads, r]
   receives each head's r highest-scoring channels (ties: the lower index;
   NaN ranks highest, as torch.topk), in increasing order. q [q_heads, tokens,
   D], k [kv_heads, tokens, D] of `dtype` (F32, F16, BF16). r in [1, D]. */
ENGRAM_API engram_status engram_attention_dsparse_calibrate(engram_context* ctx, int64_t q_heads,
                                                            int64_t kv_heads, int64_t tokens,
                                                            int64_t head_dim, engram_dtype dtype,
                                                            const void* q, const void* k, int32_t r,
                                                            int32_t* channels);

/* Gives `layer` its label channels [kv_heads, r] (each head's strictly
   increasing, in [0, D)), r in [1, D], and builds its label cache from the
   keys it already holds; replaces earlier channels. On error the layer keeps
   its channels and labels. */
ENGRAM_API engram_status engram_attention_dsparse_set_channels(engram_context* ctx,
                                                               engram_attention_cache* cache,
                                                               int32_t layer, int32_t r,
                                                               const int32_t* channels);

typedef struct engram_attention_dsparse_options {
    uint32_t struct_size;       /* engram_attention_dsparse_options_init             */
    float scale;                /* as engram_attention_options (0 = 1 / sqrt(D))      */
    int64_t recent;             /* newest tokens always attended (default 64), >= 0  */
} engram_attention_dsparse_options;

ENGRAM_API engram_status engram_attention_dsparse_options_init(engram_attention_dsparse_options* opts);

/* Double Sparsity decode of one new token at `layer` (q, out, q_heads, dtype
   as engram_attention_decode). For each KV head, with K the tokens its
   policy keeps (in position order) and n = min(recent, |K|): the approximate
   score of each of the first |K| - n tokens t is a_t = sum_i qs[c_i] k_t[c_i]
   over the head's label channels c_i, with qs the sum of the head's G query
   rows (one ranking per KV head); the min(top_k, |K| - n) highest (ties: the
   lower position; NaN ranks highest, as torch.topk) and the n newest are
   attended exactly, as decode would over those tokens alone. top_k in
   [1, S], S the layer's length; top_k = S is decode. The layer must have
   label channels. Op stats as decode, plus "label_bytes_read". opts NULL =
   defaults. */
ENGRAM_API engram_status engram_attention_dsparse_decode(engram_context* ctx,
                                                         engram_attention_cache* cache,
                                                         int32_t layer, int64_t q_heads,
                                                         engram_dtype dtype, const void* q,
                                                         void* out, int64_t top_k,
                                                         const engram_attention_dsparse_options* opts);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ENGRAM_ATTENTION_H */
