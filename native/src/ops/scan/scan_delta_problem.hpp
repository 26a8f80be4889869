// scan_delta_problem.hpp — a delta-rule scan call (ops 203-205) after
// validation: shapes checked, sequences resolved (cu_seqlens or B equal
// sequences) into token offsets, options resolved; ready for a backend.
#pragma once

#include <cstdint>
#include <vector>

#include "engram.h"

namespace engram {

struct DeltaProblem {
    const void* q = nullptr;  // [B, T, Hk, K]
    const void* k = nullptr;  // [B, T, Hk, K]
    const void* v = nullptr;  // [B, T, H, V]
    const float* g = nullptr;     // [B, T, H] log-decay; nullptr = plain delta rule
    const float* beta = nullptr;  // [B, T, H]
    const float* initial_state = nullptr;  // [N, H, K, V], nullptr = zeros
    int64_t batch = 0, t = 0, heads = 0, qk_heads = 0, k_dim = 0, v_dim = 0;
    // Sequence n is the flat tokens [offsets[n], offsets[n + 1]) of the
    // B * T token axis; N = offsets.size() - 1 (B, or cu_seqlens' N).
    std::vector<int64_t> offsets;
    engram_dtype dtype = ENGRAM_DTYPE_F32;      // q, k, v
    engram_dtype out_dtype = ENGRAM_DTYPE_F32;  // o
    bool l2norm = false;
    int32_t chunk = ENGRAM_SCAN_DEFAULT_CHUNK;
    float scale = 1.0f;  // resolved: never 0

    int64_t seqs() const { return int64_t(offsets.size()) - 1; }
    int64_t group() const { return heads / qk_heads; }
    int64_t tokens() const { return batch * t; }
};

// Gradient destinations of the backward (validated; null = not wanted).
struct DeltaGrads {
    void* dq = nullptr;
    void* dk = nullptr;
    void* dv = nullptr;
    float* dg = nullptr;
    float* dbeta = nullptr;
    float* d_initial_state = nullptr;
    engram_dtype dtype = ENGRAM_DTYPE_F32;  // of dq, dk, dv
};

}  // namespace engram
