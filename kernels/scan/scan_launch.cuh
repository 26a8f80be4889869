// scan_launch.cuh — the contract between the CUDA backend's host code
// (native/src/ops/scan/cuda/scan_cuda.cpp) and the linear-scan kernels
// (kernels/scan/scan.cu). Host C++ only — no device code.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "common/dtype.cuh"

namespace engram::kernels {

// A validated scan call (engram_scan.h) as the kernels see it.
struct ScanDev {
    const void* q;             // [B, T, Hk, K] of dtype
    const void* k;             // [B, T, Hk, K]
    const void* v;             // [B, T, H, V]
    const float* g;            // [B, T, H, width]; null when width == 0
    const float* initial_state;  // [B, H, K, V]; null = zeros
    void* o;                   // [B, T, H, V] of out_dtype
    float* state_out;          // [B, H, K, V] (final state / decode's new state); may be null
    int64_t batch, t, heads, qk_heads;
    int32_t k_dim, v_dim;
    int32_t dtype, out_dtype;  // Elem
    int32_t gate;              // engram_scan_gate
    int32_t width;             // gate entries per (token, head): 0, 1 or K
    int32_t chunk;             // tokens per device chunk (scan_cuda_chunk)
    float scale;
};

// Value columns of one forward block: the state columns evolve independently,
// so the forward splits V into tiles of this many columns, one block each.
constexpr int kScanColTile = 32;

// Device chunk length for a requested chunk size: at most 16 tokens, so one
// block's chunk (rows of q, k, the decay sums) fits in shared memory next to
// its state slice. Results equal the recurrence up to fp32 rounding for any
// chunk length (engram_scan.h).
inline int32_t scan_cuda_chunk(int32_t requested, int64_t t) {
    int64_t c = requested < 16 ? requested : 16;
    if (c > t) c = t;
    return int32_t(c < 1 ? 1 : c);
}

// Dynamic shared memory of the forward kernel for d.
size_t scan_forward_smem(const ScanDev& d);

// Chunked forward: o and, when d.state_out is set, the final state.
cudaError_t launch_scan_forward(const ScanDev& d, cudaStream_t stream);

// One token (d.t == 1): o and d.state_out (may equal d.initial_state).
cudaError_t launch_scan_decode(const ScanDev& d, cudaStream_t stream);

}  // namespace engram::kernels
