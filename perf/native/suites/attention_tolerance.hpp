// attention_tolerance.hpp — the attention family's tolerance model against
// the float64 reference (native/src/ops/attention/reference): an error bound
// for every output of decode and prefill. Used by the attention suite and the
// GoogleTest harness (tests/native/ops/attention/attention_harness.cpp).
//
// f32 error model, u = 2^-24:
//  - a score is a D-term dot product: |ds| <= (D + 2) u * sum_d |scale q_d k_d|;
//  - exp(s - m) then carries 2 |ds| (s and the maximum) plus a few ulp of exp;
//  - the sums over the n kept tokens (l and acc) add n u relative, each;
// so |out - ref| <= sum_t p_t |v_t| * (4 (D + 2) u max|s| + (2n + 16) u),
// doubled for slack, plus the final rounding of a 16-bit output (2^-8 bf16,
// 2^-11 f16; u for f32).
#pragma once

#include <cstdint>
#include <vector>

#include "engram.h"
#include "ops/attention/reference/attention_reference.hpp"

namespace engram_suite {

// Decode: ref.out [q_heads, D], ref.score_abs [q_heads], ref.kept [kv_heads].
std::vector<double> attention_decode_bound(int64_t q_heads, int64_t kv_heads, int64_t head_dim,
                                           engram_dtype out_dtype,
                                           const engram_test::RefDecodeOutput& ref);

// Prefill of `tokens` queries (ref_attention_prefill): ref.out [q_heads,
// tokens, D], ref.score_abs [q_heads, tokens], ref.kept [kv_heads, tokens];
// the decode model row by row (row = query head x token).
std::vector<double> attention_prefill_bound(int64_t q_heads, int64_t kv_heads, int64_t tokens,
                                            int64_t head_dim, engram_dtype out_dtype,
                                            const engram_test::RefDecodeOutput& ref);

}  // namespace engram_suite
