// attention_dsparse.hpp — Double Sparsity's part of the cache (the label
// cache kept in step with the keys) and its validated calls, as the backends
// receive them.
#pragma once

#include <cstdint>

#include "ops/attention/attention_cache.hpp"

namespace engram {

// Stores the label channels of the key at `slot` of (layer, head) into the
// head's label rows: called for every key row written, does nothing while
// the layer has no label channels. Cannot fail (storage reserved with the keys).
void attention_store_label_row(AttentionCache& c, int32_t layer, int32_t head, int64_t slot);

// Label bytes allocated for a layer.
uint64_t attention_layer_label_bytes(const AttentionCache& c, int32_t layer);

// Calibration: q [q_heads, tokens, D], k [kv_heads, tokens, D] of dtype;
// channels [kv_heads, r] out.
struct AttentionCalibrateProblem {
    int64_t q_heads = 0;
    int64_t kv_heads = 0;
    int64_t tokens = 0;
    int64_t head_dim = 0;
    engram_dtype dtype = ENGRAM_DTYPE_F32;
    const void* q = nullptr;
    const void* k = nullptr;
    int32_t r = 0;
    int32_t* channels = nullptr;
};

// Double Sparsity decode: a decode problem plus the selection.
struct AttentionDsparseProblem {
    const AttentionCache* cache = nullptr;
    int32_t layer = 0;
    int64_t q_heads = 0;
    engram_dtype dtype = ENGRAM_DTYPE_F32;
    const void* q = nullptr;
    void* out = nullptr;
    float scale = 0.0f;
    int64_t top_k = 0;   // in [1, length]
    int64_t recent = 0;  // >= 0

    int64_t group() const { return q_heads / cache->kv_heads; }
};

}  // namespace engram
