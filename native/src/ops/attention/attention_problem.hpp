// attention_problem.hpp — a validated decode call, as the backends receive it.
#pragma once

#include <cstdint>

#include "ops/attention/attention_cache.hpp"

namespace engram {

struct AttentionDecodeProblem {
    const AttentionCache* cache = nullptr;
    int32_t layer = 0;
    int64_t q_heads = 0;       // H_q, a multiple of cache->kv_heads
    engram_dtype dtype = ENGRAM_DTYPE_F32;  // of q and out
    const void* q = nullptr;   // [q_heads, D]
    void* out = nullptr;       // [q_heads, D]
    float scale = 0.0f;        // resolved (never 0)

    int64_t group() const { return q_heads / cache->kv_heads; }
};

// A prefill chunk: q and out [q_heads, tokens, D], k and v [H_kv, tokens, D],
// all of `dtype`; the cache holds `cached` tokens of the layer (the chunk is
// not appended yet).
struct AttentionPrefillProblem {
    const AttentionCache* cache = nullptr;
    int32_t layer = 0;
    int64_t q_heads = 0;
    int64_t tokens = 0;
    int64_t cached = 0;
    engram_dtype dtype = ENGRAM_DTYPE_F32;
    const void* q = nullptr;
    const void* k = nullptr;
    const void* v = nullptr;
    void* out = nullptr;
    float scale = 0.0f;

    int64_t group() const { return q_heads / cache->kv_heads; }
};

}  // namespace engram
