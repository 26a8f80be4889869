// cce_common.cuh — device helpers of the CCE kernels only: vector-load
// eligibility of a problem, target loading and the merge of log-sum-exp
// states across lanes. The generic pieces (element types, PTX wrappers, tile
// cores, warp sums and block scans) are in kernels/common/; the loss and
// gradient arithmetic comes from ops/cce/cce_math.h, the same code the CPU
// backend runs.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cce/cce_launch.cuh"
#include "common/elem.cuh"
#include "common/reduce.cuh"
#include "common/scan.cuh"
#include "ops/cce/cce_math.h"

namespace engram::kernels {

// 16-byte vector loads of e and c are allowed when every row starts on a
// 16-byte boundary: d a multiple of 16 bytes' worth of elements and both base
// pointers aligned. Otherwise the tiles load element by element.
inline bool use_vec_loads(const CceDev& p) {
    const int per_16_bytes = p.dtype == kF32 ? 4 : 8;
    const auto aligned = [](const void* q) { return (reinterpret_cast<uintptr_t>(q) & 15u) == 0; };
    return p.d % per_16_bytes == 0 && aligned(p.e) && aligned(p.c);
}

__device__ __forceinline__ int64_t load_target(const void* targets, int32_t i64, int64_t i) {
    return i64 ? int64_t(static_cast<const long long*>(targets)[i])
               : int64_t(static_cast<const int*>(targets)[i]);
}

// Online log-sum-exp state merged across lanes (lane ^ mask).
__device__ __forceinline__ LseState shfl_xor(LseState st, int lane_mask) {
    return LseState{shfl_xor(st.m, lane_mask), shfl_xor(st.s, lane_mask)};
}

}  // namespace engram::kernels
