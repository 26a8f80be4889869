// scan_titans_backend.hpp — the Titans neural memory's validated problem and
// dispatch table (engram_scan.h). Inputs arrive validated (scan_titans_api.cpp).
#pragma once

#include <cstdint>

#include "core/context.hpp"
#include "engram.h"

namespace engram {

struct TitansProblem {
    const void* q = nullptr;  // [B, T, Hk, K]
    const void* k = nullptr;  // [B, T, Hk, K]
    const void* v = nullptr;  // [B, T, H, V]
    const float* eta = nullptr;    // [B, T, H]
    const float* theta = nullptr;  // [B, T, H]
    const float* alpha = nullptr;  // [B, T, H]
    const float* initial_memory = nullptr;    // [B, H, K, V] or null
    const float* initial_surprise = nullptr;  // [B, H, K, V] or null
    int64_t batch = 0, t = 0, heads = 0, qk_heads = 0, k_dim = 0, v_dim = 0;
    engram_dtype dtype = ENGRAM_DTYPE_F32, out_dtype = ENGRAM_DTYPE_F32;

    int64_t group() const { return heads / qk_heads; }
};

struct TitansBackend {
    // The recurrence over T tokens; memory_out / surprise_out may be null (not
    // wanted) or equal the initial tensors (decode in place).
    void (*forward)(engram_context& ctx, const TitansProblem& p, void* o, float* memory_out,
                    float* surprise_out);
};

const TitansBackend& scan_titans_cpu_backend();

}  // namespace engram
