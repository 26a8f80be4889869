// qmatmul_cuda.cpp — host side of the CUDA 2-bit product (kernels/qmatmul/):
// picks the register kernel (m <= 16) or the dequantise-tile kernel, decides
// the 16-byte load paths from the layout and the pointers' alignment, and
// fills the op stats as the CPU backend does. No synchronisation: the product
// is queued on the context's stream.
//
// The quantizers (RTN, refinement) and the layout conversions run on the CPU
// backend only: on a CUDA context they fail with ENGRAM_ERR_UNSUPPORTED
// before touching anything (the registry lists no CUDA dtypes for them).
// Quantize on the host, upload codes/scales/zeros, multiply on the device.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/error.hpp"
#include "core/op_stats.hpp"
#include "cuda/cuda_state.hpp"
#include "ops/qmatmul/qmatmul_backend.hpp"
#include "qmatmul/qmatmul_launch.cuh"

namespace engram::cuda {

namespace {

namespace k = engram::kernels;

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

void qmatmul_product(engram_context& ctx, const QMatmulProblem& p) {
    DeviceState& st = state(ctx);
    DeviceGuard guard(st.device);
    const QWeight& w = p.w;
    k::QmatmulDev d{};
    d.codes = w.codes;
    d.scales = w.scales;
    d.zeros = w.zeros;
    d.x = p.x;
    d.y = p.y;
    d.n_out = w.n_out;
    d.k = w.k;
    d.m = p.m;
    d.group = int32_t(w.group);
    d.scale_f16 = w.scale_dtype == ENGRAM_DTYPE_F16 ? 1 : 0;
    d.x_dtype = int32_t(p.x_dtype);
    d.y_dtype = int32_t(p.y_dtype);
    d.prepared = w.layout == ENGRAM_QLAYOUT_PLAIN ? 0 : 1;
    d.vec_codes = !d.prepared && w.words_per_row() % 4 == 0 && aligned16(w.codes) ? 1 : 0;
    d.vec_x = aligned16(p.x) ? 1 : 0;
    uint64_t tiles = 0;
    if (p.m <= k::kQmatmulSmallM)
        check_cuda(k::launch_qmatmul_small(d, st.stream), "launching the qmatmul GEMV kernel");
    else
        check_cuda(k::launch_qmatmul_large(d, st.stream, &tiles),
                   "launching the qmatmul dequantise-tile kernel");
    const uint64_t sbytes = w.scale_dtype == ENGRAM_DTYPE_F16 ? 2 : 4;
    op_stats_set(ctx.last_op, "weight_bytes",
                 uint64_t(w.n_out) * uint64_t(w.k) / 4 +
                     2 * uint64_t(w.n_out) * uint64_t(w.groups_per_row()) * sbytes);
    op_stats_set(ctx.last_op, "dequant_tiles", tiles);
}

[[noreturn]] void host_only(const char* op) {
    fail(ENGRAM_ERR_UNSUPPORTED,
         format("%s on cuda: runs on the CPU backend only (quantize and convert layouts on the "
                "host, then upload the plain-layout codes, scales and zeros)",
                op));
}

}  // namespace

}  // namespace engram::cuda

namespace engram {

const QmatmulBackend* qmatmul_cuda_backend() {
    static const QmatmulBackend table{
        cuda::qmatmul_product,
        [](engram_context&, const QuantizeProblem&) { cuda::host_only("qmatmul_quantize_rtn"); },
        [](engram_context&, const QuantizeProblem&, const float*, int) {
            cuda::host_only("qmatmul_quantize_refine");
        },
        [](engram_context&, int64_t, int64_t, const uint8_t*, uint32_t*) {
            cuda::host_only("qmatmul_pack");
        },
        [](engram_context&, int64_t, int64_t, const uint32_t*, uint8_t*) {
            cuda::host_only("qmatmul_unpack");
        },
        [](engram_context&, int64_t, int64_t, const uint32_t*, uint32_t*) {
            cuda::host_only("qmatmul_prepare");
        },
        [](engram_context&, int64_t, int64_t, const uint32_t*, uint32_t*) {
            cuda::host_only("qmatmul_unprepare");
        }};
    return &table;
}

}  // namespace engram
