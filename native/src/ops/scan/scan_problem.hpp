// scan_problem.hpp — a linear-attention scan call after validation: shapes
// checked, options resolved (chunk size, scale, output dtype), ready for a
// backend.
#pragma once

#include <cstdint>

#include "engram.h"

namespace engram {

struct ScanProblem {
    const void* q = nullptr;  // [B, T, Hk, K]
    const void* k = nullptr;  // [B, T, Hk, K]
    const void* v = nullptr;  // [B, T, H, V]
    const float* g = nullptr;  // [B, T, H] or [B, T, H, K]; nullptr for GATE_NONE
    const float* initial_state = nullptr;  // [B, H, K, V], nullptr = zeros
    int64_t batch = 0, t = 0, heads = 0, qk_heads = 0, k_dim = 0, v_dim = 0;
    engram_dtype dtype = ENGRAM_DTYPE_F32;      // q, k, v
    engram_dtype out_dtype = ENGRAM_DTYPE_F32;  // o
    engram_scan_gate gate = ENGRAM_SCAN_GATE_NONE;
    int32_t chunk = ENGRAM_SCAN_DEFAULT_CHUNK;
    float scale = 1.0f;  // resolved: never 0

    // Value heads per q/k head.
    int64_t group() const { return heads / qk_heads; }
    // Gate entries per (token, head): 0, 1 or K.
    int64_t gate_width() const {
        return gate == ENGRAM_SCAN_GATE_NONE ? 0 : gate == ENGRAM_SCAN_GATE_SCALAR ? 1 : k_dim;
    }
};

// Gradient destinations of the backward (validated; null = not wanted).
struct ScanGrads {
    void* dq = nullptr;
    void* dk = nullptr;
    void* dv = nullptr;
    float* dg = nullptr;
    float* d_initial_state = nullptr;
    engram_dtype dtype = ENGRAM_DTYPE_F32;  // of dq, dk, dv
};

}  // namespace engram

namespace engram {

// Validates and resolves engram_scan_options (scan_api.cpp) for ops that keep
// their inputs in another struct (the delta rule's): chunk size, scale (0 =
// 1/sqrt(k_dim)), output dtype.
void resolve_scan_options(const engram_scan_options* opts, engram_dtype dtype, int64_t k_dim,
                          int32_t& chunk, float& scale, engram_dtype& out_dtype);

}  // namespace engram
