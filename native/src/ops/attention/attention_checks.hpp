// attention_checks.hpp — argument checks the attention entry points share
// (defined in attention_api.cpp), so that the entry points of later parts of
// the family (attention_policy*.cpp, attention_dsparse*.cpp, ...) validate
// and word their messages exactly as the first ones do.
#pragma once

#include <cstdint>

#include "engram.h"
#include "ops/attention/attention_backend.hpp"
#include "ops/attention/attention_cache.hpp"

namespace engram {

// The context's attention backend (CUDA: ENGRAM_ERR_UNSUPPORTED for now).
const AttentionBackend& attention_backend(const engram_context& c);
// value in [lo, hi], else ENGRAM_ERR_INVALID_ARGUMENT naming `name`.
void attention_require_range(int64_t value, int64_t lo, int64_t hi, const char* name);
// The cache, not NULL and created on ctx.
AttentionCache& attention_require_cache(engram_context& ctx, engram_attention_cache* cache);
// layer in [0, layers), else ENGRAM_ERR_OUT_OF_RANGE.
void attention_require_layer(const AttentionCache& c, int32_t layer);
// A host pointer (device memory rejected by name).
void attention_check_host(const void* p, const char* name);
// opts->scale checked, 0 resolved to 1/sqrt(D).
float attention_resolve_scale(const engram_attention_options* opts, int64_t head_dim);

}  // namespace engram
