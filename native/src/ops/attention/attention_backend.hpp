// attention_backend.hpp — the attention family's dispatch table. Calls arrive
// validated (attention_api.cpp).
#pragma once

#include "core/context.hpp"
#include "ops/attention/attention_dsparse.hpp"
#include "ops/attention/attention_problem.hpp"

namespace engram {

struct AttentionBackend {
    // Writes p.out; fills the op stats counters of attention_decode.
    void (*decode)(engram_context& ctx, const AttentionDecodeProblem& p);
    // Writes p.out (the cache is not changed: the caller appends the chunk);
    // fills the counters "tokens_attended" and "kv_bytes_read".
    void (*prefill)(engram_context& ctx, const AttentionPrefillProblem& p);
    // Copies rows [tokens, D] of dtype `dtype` into `dst` rows of the cache's
    // storage dtype (rounding to nearest even); on CUDA queued on ctx's stream.
    void (*store_rows)(engram_context& ctx, const void* src, engram_dtype dtype, int64_t elements,
                       engram_dtype storage, void* dst);
    // Double Sparsity (attention_dsparse*.cpp): writes p.channels / p.out.
    void (*dsparse_calibrate)(engram_context& ctx, const AttentionCalibrateProblem& p);
    void (*dsparse_decode)(engram_context& ctx, const AttentionDsparseProblem& p);
};

const AttentionBackend& attention_cpu_backend();
// nullptr in a build without a CUDA attention backend (attention_no_cuda.cpp).
const AttentionBackend* attention_cuda_backend();

}  // namespace engram
