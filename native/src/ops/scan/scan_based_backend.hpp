// scan_based_backend.hpp — BASED's validated problems and dispatch table: the
// Taylor feature map (and its backward), BASED linear attention and the
// sliding-window softmax attention (engram_scan.h). A table of its own beside
// ScanBackend. Inputs arrive validated (scan_based_api.cpp).
#pragma once

#include <cstdint>

#include "core/context.hpp"
#include "engram.h"

namespace engram {

// One attention call (BASED or sliding window). For BASED, q/k have
// qk_heads heads and v, o heads; for the window, q/o have heads and k/v
// qk_heads (the grouped side is the keys').
struct BasedProblem {
    const void* q = nullptr;
    const void* k = nullptr;
    const void* v = nullptr;
    int64_t batch = 0, t = 0, heads = 0, qk_heads = 0, k_dim = 0, v_dim = 0;
    engram_dtype dtype = ENGRAM_DTYPE_F32, out_dtype = ENGRAM_DTYPE_F32;
    int32_t chunk = 64, window = ENGRAM_SCAN_WINDOW_DEFAULT;
    float scale = 1.0f;  // window only, resolved

    int64_t group() const { return heads / qk_heads; }
    int64_t features() const { return 1 + k_dim + k_dim * k_dim; }
};

struct BasedBackend {
    void (*feature_map)(engram_context& ctx, engram_dtype dtype, int64_t rows, int64_t dim,
                        const void* x, float* phi);
    void (*feature_map_backward)(engram_context& ctx, engram_dtype dtype, int64_t rows,
                                 int64_t dim, const void* x, const float* d_phi, float* dx);
    void (*based_forward)(engram_context& ctx, const BasedProblem& p, void* o);
    void (*window_forward)(engram_context& ctx, const BasedProblem& p, void* o);
};

const BasedBackend& scan_based_cpu_backend();

}  // namespace engram
