// nvtx.hpp — NVTX ranges for Nsight Systems and Nsight Compute: every op
// entry point on a CUDA context (run_op.hpp, named after the op, e.g.
// "cce_forward") and the phases inside an op (e.g. "cce.backward_pass") show
// up as named ranges on the timeline, and `ncu --nvtx --nvtx-include
// "cce_forward/"` profiles only that op's kernels (docs/profiling.md).
//
// Header-only NVTX v3 from the CUDA toolkit; ENGRAM_WITH_NVTX is defined by
// native/CMakeLists.txt when nvtx3/nvToolsExt.h was found. Without it (CPU
// builds, a toolkit without nvtx3) a range is an empty object. With it and no
// profiler attached, a range costs a branch on a null function pointer.
#pragma once

#if defined(ENGRAM_WITH_NVTX) && defined(__has_include)
#if __has_include(<nvtx3/nvToolsExt.h>)
#include <nvtx3/nvToolsExt.h>
#define ENGRAM_NVTX_ENABLED 1
#endif
#endif

namespace engram {

class NvtxRange {
public:
#if defined(ENGRAM_NVTX_ENABLED)
    // `name` must outlive the call (a literal or the entry point's name).
    NvtxRange(const char* name, bool enabled = true) : on_(enabled) {
        if (on_) nvtxRangePushA(name);
    }
    ~NvtxRange() {
        if (on_) nvtxRangePop();
    }

private:
    bool on_;
#else
    NvtxRange(const char*, bool = true) {}
#endif
public:
    NvtxRange(const NvtxRange&) = delete;
    NvtxRange& operator=(const NvtxRange&) = delete;
};

// "engram_cce_forward" -> "cce_forward": ranges carry the op's name.
inline const char* nvtx_op_name(const char* fn) {
    const char prefix[] = "engram_";
    for (int i = 0; i < 7; ++i)
        if (fn[i] != prefix[i]) return fn;
    return fn + 7;
}

}  // namespace engram
