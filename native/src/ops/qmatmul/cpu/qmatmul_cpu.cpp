// qmatmul_cpu.cpp — the CPU 2-bit product y = x . W_hat^T and the family's CPU
// table. Work split: blocks of kQmRows weight rows, a static contiguous range
// per worker, so each y entry is computed by one thread in a fixed order
// (bit-identical for any thread count). Within a block, activation rows go
// kQmBatch at a time; the block's code words (kQmRows * k / 4 bytes) stay in
// L1/L2 between those passes, so each weight byte comes from memory once.
// Large m uses the same kernel (a dequantise-tile GEMM is phase 2).
#include "ops/qmatmul/cpu/qmatmul_cpu.hpp"

#include <algorithm>
#include <vector>

#include "core/op_stats.hpp"
#include "cpu/convert.hpp"
#include "cpu/simd_scalar.hpp"
#include "ops/qmatmul/cpu/qmatmul_kernels.hpp"
#include "shared/half.h"

namespace engram::cpu {

namespace {

float load_scale(const void* base, engram_dtype dt, int64_t i) {
    if (dt == ENGRAM_DTYPE_F16) return f16_to_f32(static_cast<const uint16_t*>(base)[i]);
    return static_cast<const float*>(base)[i];
}

void store_y(void* y, engram_dtype dt, int64_t i, float v) {
    switch (dt) {
        case ENGRAM_DTYPE_F16: static_cast<uint16_t*>(y)[i] = f32_to_f16(v); break;
        case ENGRAM_DTYPE_BF16: static_cast<uint16_t*>(y)[i] = f32_to_bf16(v); break;
        default: static_cast<float*>(y)[i] = v; break;
    }
}

// x as fp32 rows [m, k]: the caller's array for F32, else converted into
// scratch (rows split statically over the workers).
const float* activations_f32(engram_context& ctx, const QMatmulProblem& p, HostScratch& buf) {
    if (p.x_dtype == ENGRAM_DTYPE_F32) return static_cast<const float*>(p.x);
    buf = HostScratch(ctx, uint64_t(p.m) * uint64_t(p.w.k) * sizeof(float));
    float* xf = buf.as<float>();
    const int workers = int(std::min<int64_t>(ctx.pool->size(), p.m));
    const auto* src = static_cast<const uint16_t*>(p.x);
    ctx.pool->run(workers, [&](int t, int parts) {
        int64_t b, e;
        static_range(p.m, parts, t, b, e);
        Convert<VecScalar>::to_f32(src + b * p.w.k, p.x_dtype, (e - b) * p.w.k, xf + b * p.w.k);
    });
    return xf;
}

}  // namespace

void qmatmul_product(engram_context& ctx, const QMatmulProblem& p) {
    const QmatmulKernels& kern = qmatmul_kernels();
    const QWeight& w = p.w;
    HostScratch xbuf;
    const float* x = activations_f32(ctx, p, xbuf);
    const int64_t blocks = (w.n_out + kQmRows - 1) / kQmRows;
    const int64_t groups = w.groups_per_row();
    const int workers = int(std::min<int64_t>(ctx.pool->size(), blocks));
    // F16 scales are widened per block into each worker's slice of this.
    const bool widen = w.scale_dtype != ENGRAM_DTYPE_F32;
    HostScratch sbuf(ctx, widen ? uint64_t(workers) * 2 * kQmRows * groups * sizeof(float) : 0);
    ctx.pool->run(workers, [&](int t, int parts) {
        int64_t b0, b1;
        static_range(blocks, parts, t, b0, b1);
        float* wide = widen ? sbuf.as<float>() + int64_t(t) * 2 * kQmRows * groups : nullptr;
        float out[kQmBatch * kQmRows];
        for (int64_t b = b0; b < b1; ++b) {
            const int64_t r0 = b * kQmRows;
            const int valid = int(std::min<int64_t>(kQmRows, w.n_out - r0));
            const uint32_t* rows[kQmRows];
            const float* s[kQmRows];
            const float* z[kQmRows];
            for (int r = 0; r < kQmRows; ++r) {
                // Rows past n_out repeat row r0; their results are dropped.
                const int64_t row = r < valid ? r0 + r : r0;
                rows[r] = w.codes + w.row_base(row);
                if (widen) {
                    float* ws = wide + int64_t(r) * 2 * groups;
                    for (int64_t g = 0; g < groups; ++g) {
                        ws[g] = load_scale(w.scales, w.scale_dtype, row * groups + g);
                        ws[groups + g] = load_scale(w.zeros, w.scale_dtype, row * groups + g);
                    }
                    s[r] = ws;
                    z[r] = ws + groups;
                } else {
                    s[r] = static_cast<const float*>(w.scales) + row * groups;
                    z[r] = static_cast<const float*>(w.zeros) + row * groups;
                }
            }
            for (int64_t i0 = 0; i0 < p.m; i0 += kQmBatch) {
                const int mb = int(std::min<int64_t>(kQmBatch, p.m - i0));
                kern.block(x + i0 * w.k, mb, w.k, w.group, rows, w.word_step(), s, z, out);
                for (int i = 0; i < mb; ++i)
                    for (int r = 0; r < valid; ++r)
                        store_y(p.y, p.y_dtype, (i0 + i) * w.n_out + r0 + r, out[i * kQmRows + r]);
            }
        }
    });
    const uint64_t sbytes = w.scale_dtype == ENGRAM_DTYPE_F16 ? 2 : 4;
    op_stats_set(ctx.last_op, "weight_bytes",
                 uint64_t(w.n_out) * uint64_t(w.k) / 4 + 2 * uint64_t(w.n_out) * groups * sbytes);
    op_stats_set(ctx.last_op, "row_blocks", uint64_t(blocks));
}

const QmatmulBackend& qmatmul_cpu_backend_table() {
    static const QmatmulBackend table{&qmatmul_product, &qmatmul_quantize_rtn, &qmatmul_pack,
                                      &qmatmul_unpack,  &qmatmul_prepare,      &qmatmul_unprepare};
    return table;
}

}  // namespace engram::cpu

namespace engram {

const QmatmulBackend& qmatmul_cpu_backend() { return cpu::qmatmul_cpu_backend_table(); }

}  // namespace engram
