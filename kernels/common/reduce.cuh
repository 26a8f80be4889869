// reduce.cuh — warp-level shuffles and sums. Fixed butterfly orders, so a
// reduction gives the same bits on every run.
#pragma once

#include <cuda_runtime.h>

namespace engram::kernels {

__device__ __forceinline__ float shfl_xor(float x, int lane_mask) {
    return __shfl_xor_sync(0xffffffffu, x, lane_mask);
}

// Sum over the 32 lanes of a warp (every lane receives it).
__device__ __forceinline__ double warp_sum(double x) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}

}  // namespace engram::kernels
