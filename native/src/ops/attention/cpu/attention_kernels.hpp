// attention_kernels.hpp — the per-ISA arithmetic of the CPU attention: one
// KV head's decode for the G query heads that share it. attention_cpu.cpp owns
// threading and scratch; the kernels are written once (attention_tiles.hpp)
// and instantiated per ISA (attention_scalar.cpp, avx2/, avx512/).
#pragma once

#include <cstdint>

#include "engram.h"
#include "ops/attention/attention_cache.hpp"

namespace engram::cpu {

// Tokens per block of the online softmax: the block's f32 keys and values
// (2 x 32 x D floats, at most 64 KiB for D = 256) stay in L1/L2 while the G
// query heads use them.
constexpr int kAttentionBlock = 32;

struct AttentionDecodeGroup {
    const float* q;        // [G, D] f32
    int64_t group;         // G query heads sharing the KV head
    int64_t head_dim;      // D
    float scale;
    engram_dtype storage;  // dtype of the segments' rows
    const AttentionSegment* segs;
    int nsegs;
    float* out;            // [G, D] f32
    float* work;           // attention_decode_work_floats(G, D) floats
};

// Scratch floats one decode_group call needs.
inline int64_t attention_decode_work_floats(int64_t group, int64_t head_dim) {
    return 2 * group + group * head_dim + group * kAttentionBlock +
           2 * int64_t(kAttentionBlock) * head_dim;
}

struct AttentionKernels {
    engram_cpu_isa isa;
    void (*to_f32)(const void* src, engram_dtype dt, int64_t n, float* dst);
    void (*from_f32)(const float* src, int64_t n, engram_dtype dt, void* dst);
    // Online-softmax attention of g.q over the segments' tokens, in order.
    void (*decode_group)(const AttentionDecodeGroup& g);
    // The same over part of a head's tokens, left unnormalised for a merge
    // (split-S decode): g.out receives the state [m: G][l: G][acc: G * D].
    void (*decode_partial)(const AttentionDecodeGroup& g);
};

// Floats of one decode_partial state.
inline int64_t attention_state_floats(int64_t group, int64_t head_dim) {
    return group * (head_dim + 2);
}

const AttentionKernels& attention_kernels_scalar();
#if defined(ENGRAM_HAVE_X86_KERNELS)
const AttentionKernels& attention_kernels_avx2();
const AttentionKernels& attention_kernels_avx512();
#endif

// The table of the best ISA of this CPU (ENGRAM_CPU_ISA may force a lower one).
const AttentionKernels& attention_kernels();

}  // namespace engram::cpu
