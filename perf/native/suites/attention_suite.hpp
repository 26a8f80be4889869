// attention_suite.hpp — the case suite of the attention family
// (engram_attention.h): ops attention_decode (one query per head over the KV
// cache) and attention_prefill (a causal chunk of queries, then appended),
// with retrieval (full cache) and streaming (sinks + ring window) heads, over
// dims hq (query heads), hkv (KV heads, dividing hq), d (head dim), s (tokens
// in the cache before the op), n (prefill: tokens in the chunk), sink
// (streaming heads' attention sinks), w (their window).
//
// Options of a case (Case::options; absent = default):
//   policy 0 alternate retrieval/streaming per KV head (default), 1 all
//   retrieval (dense), 2 all streaming, 3 the first half of the KV heads
//   streaming (a DuoAttention mix); chunk: tokens per append when filling the
//   cache (0 = random sizes in [1, 2w], default); io 0/1: q, out (and the
//   prefill's k, v) in f32 (0, default) or in the storage dtype (1); append_f32
//   0/1: the cache filled from f32 values (rounded by the library, default 1)
//   or from storage-dtype bytes; scale (0 = 1/sqrt(d)).
// The case's dtype is the cache's storage dtype.
//
// Reference: the float64 dense attention over what each head keeps
// (ref_attention_decode / ref_attention_prefill); tolerance:
// attention_tolerance.hpp.
#pragma once

#include "suite.hpp"

namespace engram_suite {

class AttentionSuite : public Suite {
public:
    std::string family() const override { return "attention"; }
    std::string summary() const override;
    std::vector<OpInfo> ops() const override;
    std::vector<DimInfo> dims() const override;
    std::vector<Case> verify_cases(const std::string& op, uint64_t seed,
                                   int max_per_op) const override;
    std::vector<Dims> bench_shapes() const override;
    Dims reduced(const Dims& bench) const override;
    Outcome run(engram_context* ctx, const Case& c) const override;
};

// The KV-head policy pattern of option `policy` (see above) for hkv heads.
std::vector<int32_t> attention_policy(int policy, int64_t kv_heads);

}  // namespace engram_suite
