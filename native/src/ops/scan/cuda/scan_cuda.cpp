// scan_cuda.cpp — host side of the CUDA linear scan (kernels/scan/scan.cu):
// the forward (chunked, device chunks of at most 16 tokens: see
// scan_cuda_chunk) and the decode step, queued on the context's stream with
// no synchronisation. The backward runs on the CPU backend only: on a CUDA
// context it fails with ENGRAM_ERR_UNSUPPORTED (registry: no CUDA dtypes).
#include <cuda_runtime_api.h>

#include "core/error.hpp"
#include "core/op_stats.hpp"
#include "cuda/cuda_state.hpp"
#include "ops/scan/scan_backend.hpp"
#include "scan/scan_launch.cuh"

namespace engram::cuda {

namespace {

namespace k = engram::kernels;

k::ScanDev device_problem(const ScanProblem& p, void* o, float* state_out) {
    k::ScanDev d{};
    d.q = p.q;
    d.k = p.k;
    d.v = p.v;
    d.g = p.gate == ENGRAM_SCAN_GATE_NONE ? nullptr : p.g;
    d.initial_state = p.initial_state;
    d.o = o;
    d.state_out = state_out;
    d.batch = p.batch;
    d.t = p.t;
    d.heads = p.heads;
    d.qk_heads = p.qk_heads;
    d.k_dim = int32_t(p.k_dim);  // <= ENGRAM_SCAN_MAX_HEAD_DIM (validated)
    d.v_dim = int32_t(p.v_dim);
    d.dtype = int32_t(p.dtype);
    d.out_dtype = int32_t(p.out_dtype);
    d.gate = int32_t(p.gate);
    d.width = int32_t(p.gate_width());
    d.chunk = k::scan_cuda_chunk(p.chunk, p.t);
    d.scale = p.scale;
    return d;
}

void linear_forward(engram_context& ctx, const ScanProblem& p, void* o, float* final_state) {
    DeviceState& st = state(ctx);
    DeviceGuard guard(st.device);
    const k::ScanDev d = device_problem(p, o, final_state);
    const size_t smem = k::scan_forward_smem(d);
    if (smem > size_t(st.max_smem_optin))
        fail(ENGRAM_ERR_UNSUPPORTED,
             format("CUDA device %d allows %d bytes of shared memory per block; the scan forward "
                    "with K = %lld needs %zu",
                    st.device, st.max_smem_optin, (long long)p.k_dim, smem));
    check_cuda(k::launch_scan_forward(d, st.stream), "launching the scan forward kernel");
    const int64_t chunks_per_head = (p.t + d.chunk - 1) / d.chunk;
    op_stats_set(ctx.last_op, "chunks", uint64_t(p.batch * p.heads * chunks_per_head));
}

void linear_decode(engram_context& ctx, const ScanProblem& p, void* o, float* state_out) {
    DeviceState& st = state(ctx);
    DeviceGuard guard(st.device);
    check_cuda(k::launch_scan_decode(device_problem(p, o, state_out), st.stream),
               "launching the scan decode kernel");
    op_stats_set(ctx.last_op, "chunks", uint64_t(p.batch * p.heads));
}

void linear_backward(engram_context&, const ScanProblem&, const void*, const float*,
                     const ScanGrads&) {
    fail(ENGRAM_ERR_UNSUPPORTED,
         "scan_linear_backward on cuda: runs on the CPU backend only (no CUDA kernel yet)");
}

}  // namespace

}  // namespace engram::cuda

namespace engram {

const ScanBackend* scan_cuda_backend() {
    static const ScanBackend table{cuda::linear_forward, cuda::linear_decode,
                                   cuda::linear_backward};
    return &table;
}

}  // namespace engram
