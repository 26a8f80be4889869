// launch.cuh — host-side launch helpers shared by the kernel families. Host
// C++ only (no device code).
#pragma once

#include <cstdint>

namespace engram::kernels {

// Blocks of `threads` for `items` work items, one item per thread, at least
// one block and at most 2^20: kernels launched with it loop grid-stride over
// whatever lies beyond.
inline unsigned grid_for(int64_t items, int threads) {
    int64_t blocks = (items + threads - 1) / threads;
    if (blocks < 1) blocks = 1;
    if (blocks > (int64_t(1) << 20)) blocks = int64_t(1) << 20;  // grid-stride beyond
    return unsigned(blocks);
}

}  // namespace engram::kernels
