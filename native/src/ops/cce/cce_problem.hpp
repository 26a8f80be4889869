// cce_problem.hpp — a CCE call after validation: every field checked, options
// resolved (defaults, AUTO filter threshold), ready for a backend.
#pragma once

#include <cstdint>
#include <vector>

#include "engram.h"

namespace engram {

struct CceProblem {
    const void* e = nullptr;
    const void* c = nullptr;
    const void* bias = nullptr;
    const void* targets = nullptr;
    int64_t n = 0, d = 0, v = 0;
    int64_t vocab_start = 0;  // first global id held in c
    int64_t vocab_total = 0;  // global vocabulary size (== v unsharded)
    engram_dtype dtype = ENGRAM_DTYPE_F32;
    engram_dtype target_dtype = ENGRAM_DTYPE_I64;
    engram_reduction reduction = ENGRAM_REDUCTION_MEAN;
    int64_t ignore_index = -100;
    float softcap = 0.0f;
    float smoothing = 0.0f;
    float z_loss = 0.0f;
    float filter_eps = 0.0f;  // resolved: never negative
    bool check_targets = true;
    uint64_t scratch_bytes = 0;  // 0 = each pass's default

    bool sharded() const { return vocab_start != 0 || vocab_total != v; }
    float inv_vocab() const { return 1.0f / float(vocab_total); }
};

struct CceGrads {
    void* grad_e = nullptr;
    void* grad_c = nullptr;
    void* grad_bias = nullptr;
    engram_dtype dtype = ENGRAM_DTYPE_F32;
    bool any() const { return grad_e || grad_c || grad_bias; }
};

// Reads target i as a 64-bit id from an i32 or i64 array.
inline int64_t load_target(const void* targets, engram_dtype dtype, int64_t i) {
    return dtype == ENGRAM_DTYPE_I32 ? int64_t(static_cast<const int32_t*>(targets)[i])
                                     : static_cast<const int64_t*>(targets)[i];
}

// For host targets: the rows that are not ignore_index, each with its target's
// column in this shard (-1 if the target lies in another shard). Throws
// ENGRAM_ERR_OUT_OF_RANGE naming the first bad target when check_targets is set.
struct ValidTokens {
    std::vector<int32_t> rows;
    std::vector<int32_t> target_col;
};
ValidTokens collect_valid_tokens(const CceProblem& p);

// Same check for the combine step (targets only, no problem struct).
int64_t count_valid_targets(const void* targets, engram_dtype dtype, int64_t n,
                            int64_t ignore_index, int64_t vocab_total, bool check);

}  // namespace engram
