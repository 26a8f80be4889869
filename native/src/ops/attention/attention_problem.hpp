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

}  // namespace engram
