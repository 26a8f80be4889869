// scan_head.hpp — the work on one (sequence, value head): the chunked forward
// and the decode step, on fp32 rows already converted from the inputs' dtype.
// The caller (scan_cpu.cpp) loads each chunk's rows and owns the scratch.
#pragma once

#include <cstdint>

#include "engram.h"

namespace engram::cpu {

// Per-worker scratch of the chunked forward, for chunks of up to `chunk`
// tokens, K, V and a gate of `width` entries per token (0, 1 or K).
struct ChunkBuffers {
    float* q = nullptr;    // [C, K] rows of q times scale
    float* k = nullptr;    // [C, K]
    float* v = nullptr;    // [C, V]
    float* o = nullptr;    // [C, V] output rows
    float* a = nullptr;    // [C, C] masked scores of the chunk
    float* kd = nullptr;   // [C, K] k times its decay to the chunk's end (first K^T)
    double* b = nullptr;   // [C, width] cumulative log-decay since the last reset
    int32_t* r = nullptr;  // [C, width] token of the last reset (g = -inf), -1 none
    float* state = nullptr;  // [K, V] the carried state

    // Bytes for one worker, 64-byte aligned pieces.
    static uint64_t bytes(int64_t chunk, int64_t k, int64_t v, int64_t width);
    // Carves the pieces out of `base` (bytes(...) long, 64-byte aligned).
    static ChunkBuffers carve(void* base, int64_t chunk, int64_t k, int64_t v, int64_t width);
};

// One chunk of n tokens: reads buf.q/k/v (n rows) and g_rows (n rows of
// `width` gate entries, stride g_stride floats; unused when width is 0),
// writes buf.o (n rows) and advances buf.state over the chunk.
void scan_chunk(ChunkBuffers& buf, int64_t n, int64_t k_dim, int64_t v_dim,
                engram_scan_gate gate, const float* g_rows, int64_t g_stride);

// One recurrent step: state [K, V] (read, then overwritten row by row with the
// new state; `state_in` may be nullptr for zeros, or equal state_out), q
// already scaled, g of gate_width entries (nullptr for NONE). o [V] fp32.
void scan_step(const float* state_in, float* state_out, const float* q, const float* k,
               const float* v, const float* g, engram_scan_gate gate, int64_t k_dim,
               int64_t v_dim, float* o);

}  // namespace engram::cpu
