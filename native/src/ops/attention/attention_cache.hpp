// attention_cache.hpp — the KV cache behind engram_attention_cache: per layer
// and KV head a key and a value buffer of `slots` rows of D elements, where a
// token's row (its slot) depends on the head's policy:
//   retrieval head: slot(p) = p                        (rows up to capacity)
//   streaming head: slot(p) = p                 for p < S_sink (the sinks),
//                   S_sink + (p - S_sink) % W   otherwise (a ring of W rows)
// Buffers grow by doubling as tokens arrive and never beyond the head's most
// rows, so what the cache reports is what it has allocated. The cache never
// touches its context after create: destroy is safe after context destroy.
#pragma once

#include <cstdint>
#include <vector>

#include "engram.h"

namespace engram {

// One head's keys or values: 64-byte aligned rows (device memory for a cache
// of a CUDA context), freed with the cache.
struct AttentionHeadStore {
    void* k = nullptr;
    void* v = nullptr;
    int64_t slots = 0;   // rows allocated in k and in v
    uint64_t bytes = 0;  // allocated bytes of k plus v (each rounded up to 64)
    // Double Sparsity's label cache (attention_dsparse.cpp): `slots` rows of
    // the layer's r label channels of each key, same slots as k; null while
    // the layer has no label channels.
    void* labels = nullptr;
    uint64_t label_bytes = 0;
};

// A contiguous run of kept tokens of one head, in position order.
struct AttentionSegment {
    const void* k;  // first row
    const void* v;
    int64_t count;
};

}  // namespace engram

struct engram_attention_cache_handle {
    engram_context* ctx = nullptr;  // the creating context (compared, never dereferenced after create,
                                    // except by ops that were called with it: growth on CUDA)
    int32_t device = -1;            // CUDA device holding the rows; -1: host memory (CPU context)
    engram_dtype dtype = ENGRAM_DTYPE_F32;
    int32_t layers = 0;
    int32_t kv_heads = 0;
    int32_t head_dim = 0;
    int32_t sink = 0;
    int32_t window = 0;
    int64_t capacity = 0;
    std::vector<int32_t> policy;               // [layers * kv_heads]
    std::vector<int64_t> length;               // [layers]
    std::vector<engram::AttentionHeadStore> heads;  // [layers * kv_heads]
    // Double Sparsity label channels per layer: r (0 = none) and
    // [kv_heads * r] increasing channel indices (attention_dsparse.cpp).
    std::vector<int32_t> label_r;               // [layers]
    std::vector<std::vector<int32_t>> label_channels;  // [layers]

    ~engram_attention_cache_handle();
};

namespace engram {

using AttentionCache = engram_attention_cache_handle;

uint64_t attention_elem_bytes(engram_dtype dtype);
bool attention_is_streaming(const AttentionCache& c, int32_t layer, int32_t head);
bool attention_layer_has_retrieval(const AttentionCache& c, int32_t layer);
// Tokens a streaming head keeps after `length` tokens.
int64_t attention_streaming_kept(const AttentionCache& c, int64_t length);
// The most rows a head of this policy ever needs.
int64_t attention_max_slots(const AttentionCache& c, bool streaming);
// Row of position p in a head of this policy.
int64_t attention_slot(const AttentionCache& c, bool streaming, int64_t p);

// Grows the layer's buffers to hold `new_length` tokens. Allocates every new
// buffer first and only then commits, so on failure (ENGRAM_ERR_OUT_OF_MEMORY)
// the cache is unchanged.
void attention_cache_reserve(AttentionCache& c, int32_t layer, int64_t new_length);
// Frees every buffer and sets every length to 0.
void attention_cache_clear(AttentionCache& c);
// Bytes allocated for one layer (all heads / streaming heads only), and in all.
uint64_t attention_layer_bytes(const AttentionCache& c, int32_t layer, bool streaming_only);
uint64_t attention_total_bytes(const AttentionCache& c);
// Most segments attention_query_segments returns.
constexpr int kAttentionMaxSegments = 6;

// The tokens a query at position `pos` of (layer, head) attends to, in
// position order: retrieval heads every position <= pos, streaming heads the
// sinks (p < S_sink) and the window (pos - W < p <= pos). Positions below
// `cached` are read from the cache, which must still hold them (true for
// decode, pos = cached - 1, and for a prefill chunk's queries, cached = the
// length before the chunk); positions from `cached` on are rows of the chunk
// (chunk_k, chunk_v: [tokens, D] in the storage dtype). Returns the count.
int attention_query_segments(const AttentionCache& c, int32_t layer, int32_t head, int64_t cached,
                             int64_t pos, const void* chunk_k, const void* chunk_v,
                             AttentionSegment segs[kAttentionMaxSegments]);
// The tokens a decode reads: attention_query_segments at pos = length - 1.
int attention_head_segments(const AttentionCache& c, int32_t layer, int32_t head,
                            AttentionSegment segs[kAttentionMaxSegments]);

}  // namespace engram
