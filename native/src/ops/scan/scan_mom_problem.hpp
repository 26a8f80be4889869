// scan_mom_problem.hpp — Mixture-of-Memories calls after validation
// (scan_mom_api.cpp): the routing problem, the row shape of gather/combine,
// and the decode step, ready for a backend (scan_mom_backend.hpp).
#pragma once

#include <cstdint>

#include "engram.h"
#include "ops/scan/scan_problem.hpp"

namespace engram {

struct MomRouting {
    const void* logits = nullptr;  // [B, T, M]
    engram_dtype dtype = ENGRAM_DTYPE_F32;
    int64_t batch = 0, t = 0, memories = 0, top_k = 0;
    int64_t capacity = 0;  // per (sequence, memory); 0 = unlimited (resolved from the factor)

    int64_t tokens() const { return batch * t; }
    int64_t segments() const { return batch * memories; }
};

// Where route writes (all validated, disjoint).
struct MomRouteOut {
    int32_t* indices = nullptr;       // [N, k]
    float* weights = nullptr;         // [N, k]
    int32_t* slots = nullptr;         // [N, k]
    int32_t* offsets = nullptr;       // [B M + 1]
    int32_t* gather_index = nullptr;  // [N k]
};

struct MomRows {
    engram_dtype dtype = ENGRAM_DTYPE_F32;
    int64_t tokens = 0, top_k = 0, width = 0;

    int64_t packed() const { return tokens * top_k; }
};

// The decode step: `step` carries the per-memory linear-scan shape (batch B,
// t 1, heads, K, V, gate, scale, output dtype); its q/k/v/g pointers are the
// decode inputs' (layouts in engram_scan.h).
struct MomDecode {
    ScanProblem step;
    const void* logits = nullptr;  // [B, M]
    int64_t memories = 0, top_k = 0;
    bool shared = false;

    int64_t slots() const { return memories + (shared ? 1 : 0); }
};

}  // namespace engram
