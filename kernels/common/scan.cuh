// scan.cuh — prefix sums over a warp and over a block (stream compaction:
// each thread learns where its kept items go, in index order).
#pragma once

#include <cuda_runtime.h>

namespace engram::kernels {

__device__ __forceinline__ int warp_inclusive_scan(int x) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
        const int y = __shfl_up_sync(0xffffffffu, x, o);
        if (lane >= o) x += y;
    }
    return x;
}

// Exclusive prefix sum over a block of kThreads (a multiple of 32, at most
// 1024); `total` receives the block's sum. warp_sums: 32 ints of shared memory.
template <int kThreads>
__device__ __forceinline__ int block_exclusive_scan(int x, int* warp_sums, int* total) {
    static_assert(kThreads % 32 == 0 && kThreads <= 1024, "block scan size");
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int inclusive = warp_inclusive_scan(x);
    if (lane == 31) warp_sums[warp] = inclusive;
    __syncthreads();
    if (warp == 0) {
        const int w = lane < kThreads / 32 ? warp_sums[lane] : 0;
        warp_sums[lane] = warp_inclusive_scan(w);  // inclusive scan of warp totals
    }
    __syncthreads();
    const int before = warp == 0 ? 0 : warp_sums[warp - 1];
    *total = warp_sums[kThreads / 32 - 1];
    __syncthreads();  // warp_sums may be reused by the caller's next scan
    return before + inclusive - x;
}

}  // namespace engram::kernels
