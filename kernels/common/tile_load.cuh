// tile_load.cuh — global -> shared/register loads of operand tiles with
// gathered rows: a row map gives each tile row's global row (-1: a zero row),
// and columns past the matrix edge read as zero, so tiles need no padding of
// the operands themselves.
#pragma once

#include <cstdint>

#include "common/ptx.cuh"

namespace engram::kernels {

// Copies rows [0, ROWS) x columns [k0, k0 + WIDTH) of a row-major 16-bit
// matrix with leading dimension ld into shared memory (row stride SROW).
// row_of(r) gives the global row of tile row r, or -1 for a zero row; columns
// at or past kmax are zero. kVec: 16-byte cp.async (requires ld % 8 == 0 and a
// 16-byte aligned base, checked by the host); otherwise element by element,
// with plain stores that the caller's __syncthreads publishes.
template <int ROWS, int WIDTH, int SROW, int THREADS, bool kVec, class RowOf>
__device__ __forceinline__ void load_tile16(uint16_t* s, const uint16_t* g, int64_t ld, int k0,
                                            int kmax, RowOf row_of) {
    if constexpr (kVec) {
        constexpr int kChunksPerRow = WIDTH / 8;
        constexpr int kChunks = ROWS * kChunksPerRow;
        static_assert(kChunks % THREADS == 0, "whole 16-byte chunks per thread");
#pragma unroll
        for (int it = 0; it < kChunks / THREADS; ++it) {
            const int ch = threadIdx.x + it * THREADS;
            const int r = ch / kChunksPerRow;
            const int kc = (ch % kChunksPerRow) * 8;
            const int64_t row = row_of(r);
            const int k = k0 + kc;
            const bool valid = row >= 0 && k < kmax;  // ld % 8 == 0: all 8 in or all out
            const uint16_t* src = valid ? g + row * ld + k : g;
            cp_async_16(s + r * SROW + kc, src, valid);
        }
    } else {
        constexpr int kElems = ROWS * WIDTH;
        static_assert(kElems % THREADS == 0, "whole elements per thread");
#pragma unroll 4
        for (int it = 0; it < kElems / THREADS; ++it) {
            const int x = threadIdx.x + it * THREADS;
            const int r = x / WIDTH;
            const int kk = x % WIDTH;
            const int64_t row = row_of(r);
            const int k = k0 + kk;
            s[r * SROW + kk] = (row >= 0 && k < kmax) ? g[row * ld + k] : uint16_t(0);
        }
    }
}

// r[0..3] = g[row][k .. k+3] (zero outside the row range or past d). kVec:
// one float4 load (d % 4 == 0 and a 16-byte aligned base, checked by the host).
template <bool kVec>
__device__ __forceinline__ void fetch4(float (&r)[4], const float* g, int64_t row, int d, int k) {
    if (row < 0) {
        r[0] = r[1] = r[2] = r[3] = 0.0f;
        return;
    }
    const float* src = g + row * int64_t(d) + k;
    if constexpr (kVec) {
        if (k < d) {
            const float4 v = *reinterpret_cast<const float4*>(src);
            r[0] = v.x, r[1] = v.y, r[2] = v.z, r[3] = v.w;
        } else {
            r[0] = r[1] = r[2] = r[3] = 0.0f;
        }
    } else {
#pragma unroll
        for (int q = 0; q < 4; ++q) r[q] = k + q < d ? src[q] : 0.0f;
    }
}

}  // namespace engram::kernels
