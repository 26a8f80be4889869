// scan_backend.hpp — the scan family's dispatch table: what each backend
// implements, with one contract (engram_scan.h) for all of them. Inputs arrive
// validated (scan_api.cpp); on CUDA every pointer would be device memory.
#pragma once

#include "core/context.hpp"
#include "ops/scan/scan_problem.hpp"

namespace engram {

struct ScanBackend {
    // Chunked forward: o [B, T, H, V] in p.out_dtype; final_state may be null.
    void (*linear_forward)(engram_context& ctx, const ScanProblem& p, void* o, float* final_state);
    // One token (p.t == 1): o [B, 1, H, V]; state_out may equal p.initial_state.
    void (*linear_decode)(engram_context& ctx, const ScanProblem& p, void* o, float* state_out);
    // Gradients of linear_forward; grad_o in p.out_dtype, grad_final_state may be null.
    void (*linear_backward)(engram_context& ctx, const ScanProblem& p, const void* grad_o,
                            const float* grad_final_state, const ScanGrads& grads);
};

const ScanBackend& scan_cpu_backend();
// nullptr in a build without a CUDA implementation of the family.
const ScanBackend* scan_cuda_backend();

}  // namespace engram
