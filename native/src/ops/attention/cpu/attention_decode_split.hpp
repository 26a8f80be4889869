// attention_decode_split.hpp — CPU decode split over S (see the .cpp).
#pragma once

#include <cstdint>

#include "core/context.hpp"
#include "ops/attention/attention_cache.hpp"
#include "ops/attention/attention_problem.hpp"

namespace engram::cpu {

// Tokens per part of the split: a KV head's kept tokens are cut into parts of
// this many (the last shorter), whatever the thread count, so the result is
// the same for every thread count.
constexpr int64_t kAttentionSplitTokens = 1024;

// The rows of tokens [a, b) of the concatenation of segs, as segments
// (at most n). Returns the count.
int attention_slice_segments(const AttentionSegment* segs, int n, int64_t a, int64_t b,
                             uint64_t row_bytes, AttentionSegment* out);

// Merges `parts` partial states (decode_partial: [m: G][l: G][acc: G * D]
// each, consecutive) in order and writes out[G, D] = acc / l. A part whose
// maximum is -inf holds only zero weights (or NaN values, which it keeps).
void attention_merge_states(const float* states, int64_t parts, int64_t G, int64_t D, float* out);

// Decode with every KV head's tokens split into parts (kAttentionSplitTokens),
// the (head, part) items spread statically over the workers, then merged per
// head in part order. Fills the decode op stats.
void attention_decode_split(engram_context& ctx, const AttentionDecodeProblem& p);

}  // namespace engram::cpu
