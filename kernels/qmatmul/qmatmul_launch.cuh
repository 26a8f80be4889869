// qmatmul_launch.cuh — the contract between the CUDA backend's host code
// (native/src/ops/qmatmul/cuda/qmatmul_cuda.cpp) and the 2-bit product kernels
// (kernels/qmatmul/*.cu). Host C++ only — no device code.
//
// The kernels read the weight in either code layout of engram_qmatmul.h: the
// plain layout is the GPU's own (each row's words are contiguous, so a lane
// reads 4 words = 64 codes with one 16-byte load); the CPU-prepared layout is
// accepted and read one word at a time (correct, slower: convert it back with
// engram_qmatmul_unprepare for GPU use).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "common/dtype.cuh"

namespace engram::kernels {

// A validated product y [m, n_out] = x [m, k] . W_hat^T as the kernels see it.
struct QmatmulDev {
    const uint32_t* codes;
    const void* scales;     // [n_out, k / group] of F32 or F16
    const void* zeros;
    const void* x;          // [m, k] of x_dtype
    void* y;                // [m, n_out] of y_dtype
    int64_t n_out, k, m;
    int32_t group;          // 32, 64 or 128 (divides k; k % 32 == 0)
    int32_t scale_f16;      // 1: scales/zeros are F16, 0: F32
    int32_t x_dtype;        // Elem
    int32_t y_dtype;        // Elem
    int32_t prepared;       // 1: CPU-prepared code layout (4-row interleave)
    int32_t vec_codes;      // 1: plain, (k / 16) % 4 == 0, codes 16-byte aligned
    int32_t vec_x;          // 1: x 16-byte aligned (rows are then aligned too)
};

// Activation rows handled by the register (GEMV / small-batch) kernel; above
// this the dequantise-tile kernel runs.
constexpr int64_t kQmatmulSmallM = 16;

// Tile of the large-m kernel: kQmTileM activation rows x kQmTileN weight rows,
// kQmTileK columns of k per step (one weight tile of kQmTileN x kQmTileK codes
// is expanded to fp32 in shared memory per step).
constexpr int kQmTileM = 64, kQmTileN = 64, kQmTileK = 32;

// m <= kQmatmulSmallM: one warp per weight row, all m activation rows at once.
cudaError_t launch_qmatmul_small(const QmatmulDev& d, cudaStream_t stream);

// m > kQmatmulSmallM: returns the number of weight tiles it expands (for the
// "dequant_tiles" counter) in *tiles.
cudaError_t launch_qmatmul_large(const QmatmulDev& d, cudaStream_t stream, uint64_t* tiles);

}  // namespace engram::kernels
