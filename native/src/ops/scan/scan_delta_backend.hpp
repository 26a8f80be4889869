// scan_delta_backend.hpp — the delta-rule ops' dispatch table (ops 203-205),
// one contract (engram_scan.h) for every backend. Inputs arrive validated
// (scan_delta_api.cpp). Only a CPU implementation exists: a CUDA context gets
// ENGRAM_ERR_UNSUPPORTED naming the family.
#pragma once

#include "core/context.hpp"
#include "ops/scan/scan_delta_problem.hpp"

namespace engram {

struct ScanDeltaBackend {
    // Chunked forward: o [B, T, H, V] in p.out_dtype; final_state [N, H, K, V] or null.
    void (*forward)(engram_context& ctx, const DeltaProblem& p, void* o, float* final_state);
    // One token per sequence (p.t == 1); state_out may equal p.initial_state.
    void (*decode)(engram_context& ctx, const DeltaProblem& p, void* o, float* state_out);
    // Gradients of forward; grad_o in p.out_dtype, grad_final_state may be null.
    void (*backward)(engram_context& ctx, const DeltaProblem& p, const void* grad_o,
                     const float* grad_final_state, const DeltaGrads& grads);
};

const ScanDeltaBackend& scan_delta_cpu_backend();

}  // namespace engram
