// attention_launch.cuh — the contract between the CUDA attention host code
// (native/src/ops/attention/cuda/attention_cuda.cpp) and the split-S decode
// kernels (kernels/attention/attention_decode.cu). Host C++ only.
//
// Vocabulary. A "unit" is one (query token, KV head): its G query heads
// attend to the same kept tokens, given as up to kAttnMaxSegs runs of
// consecutive rows (the cache's segments: sinks, a ring window that may wrap,
// retrieval rows, a prefill chunk's own rows), in position order. Decode has
// one unit per KV head; a prefill chunk of n tokens has n per KV head.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "common/dtype.cuh"

namespace engram::kernels {

constexpr int kAttnMaxSegs = 6;      // = kAttentionMaxSegments
constexpr int kAttnHeadsPerBlock = 8;  // query heads of one unit per block
constexpr int kAttnWarps = 4;

struct AttnSeg {
    const void* k;  // first row (storage dtype, D elements per row)
    const void* v;
    int64_t count;
};

// Per unit: its segments and where its G query heads' rows are in q / out.
struct AttnUnit {
    AttnSeg segs[kAttnMaxSegs];
    int32_t nsegs;
    int32_t pad;
    int64_t total;    // tokens over the segments
    int64_t q_row;    // row of query head g is q_row + g * q_head_stride (rows of D)
};

struct AttnDecodeDev {
    const AttnUnit* units;  // [n_units] (device)
    const void* q;          // rows of D elements of io dtype
    void* out;
    float* part;            // [n_units, G, splits, D + 2] partial (acc[D], m, l)
    int64_t n_units;
    int64_t q_head_stride;  // rows between query heads g and g + 1 of a unit
    int64_t split_len;      // tokens per split (a split past a unit's total is empty)
    int32_t splits;
    int32_t group;          // G
    int32_t head_dim;       // D <= 256
    int32_t io_dtype;       // Elem of q and out
    int32_t storage;        // Elem of the cached rows
    float scale;
};

// Scratch floats for d.part.
inline uint64_t attn_partial_floats(const AttnDecodeDev& d) {
    return uint64_t(d.n_units) * uint64_t(d.group) * uint64_t(d.splits) *
           uint64_t(d.head_dim + 2);
}

// Partial states of every (unit, query head block, split), then the merge
// over the splits into out.
cudaError_t launch_attn_decode(const AttnDecodeDev& d, cudaStream_t stream);

// dst[i] = src[i] rounded from F32 / copied (same dtype) to the storage dtype.
cudaError_t launch_attn_store(const void* src, int32_t src_dtype, int64_t elements,
                              int32_t storage, void* dst, cudaStream_t stream);

}  // namespace engram::kernels
