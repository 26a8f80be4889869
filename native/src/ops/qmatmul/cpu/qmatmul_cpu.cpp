// qmatmul_cpu.cpp — the CPU 2-bit product y = x . W_hat^T and the family's CPU
// table. Work split: blocks of kQmRows weight rows, a static contiguous range
// per worker, so each y entry is computed by one thread in a fixed order
// (bit-identical for any thread count). Small m: within a block, activation
// rows go kQmBatch at a time; the block's code words (kQmRows * k / 4 bytes)
// stay in L1/L2 between those passes, so each weight byte comes from memory
// once. Large m (> kQmSmallM): a dequantise-tile GEMM over tiles of weight
// rows (product_large).
#include "ops/qmatmul/cpu/qmatmul_cpu.hpp"

#include <algorithm>

#include "core/error.hpp"
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

// Points rows/s/z at weight rows r0 .. r0 + count - 1 (rows past `valid`
// repeat row r0: their results are dropped). F16 scales are widened into
// `wide` (2 * count * groups floats).
void setup_rows(const QWeight& w, int64_t r0, int count, int valid, const uint32_t** rows,
                const float** s, const float** z, float* wide) {
    const int64_t groups = w.groups_per_row();
    for (int r = 0; r < count; ++r) {
        const int64_t row = r < valid ? r0 + r : r0;
        rows[r] = w.codes + w.row_base(row);
        if (w.scale_dtype == ENGRAM_DTYPE_F32) {
            s[r] = static_cast<const float*>(w.scales) + row * groups;
            z[r] = static_cast<const float*>(w.zeros) + row * groups;
            continue;
        }
        float* ws = wide + int64_t(r) * 2 * groups;
        for (int64_t g = 0; g < groups; ++g) {
            ws[g] = load_scale(w.scales, w.scale_dtype, row * groups + g);
            ws[groups + g] = load_scale(w.zeros, w.scale_dtype, row * groups + g);
        }
        s[r] = ws;
        z[r] = ws + groups;
    }
}

// Small m: blocks of kQmRows weight rows, activation rows kQmBatch at a time.
void product_small(engram_context& ctx, const QMatmulProblem& p, const float* x,
                   const QmatmulKernels& kern) {
    const QWeight& w = p.w;
    const int64_t blocks = (w.n_out + kQmRows - 1) / kQmRows;
    const int64_t groups = w.groups_per_row();
    const int workers = int(std::min<int64_t>(ctx.pool->size(), blocks));
    const int64_t wide_floats = int64_t(2) * kQmRows * groups;
    HostScratch sbuf(ctx, w.scale_dtype != ENGRAM_DTYPE_F32
                              ? uint64_t(workers) * uint64_t(wide_floats) * sizeof(float) : 0);
    ctx.pool->run(workers, [&](int t, int parts) {
        int64_t b0, b1;
        static_range(blocks, parts, t, b0, b1);
        float* wide = sbuf.bytes() ? sbuf.as<float>() + int64_t(t) * wide_floats : nullptr;
        float out[kQmBatch * kQmRows];
        const uint32_t* rows[kQmRows];
        const float* s[kQmRows];
        const float* z[kQmRows];
        for (int64_t b = b0; b < b1; ++b) {
            const int64_t r0 = b * kQmRows;
            const int valid = int(std::min<int64_t>(kQmRows, w.n_out - r0));
            setup_rows(w, r0, kQmRows, valid, rows, s, z, wide);
            for (int64_t i0 = 0; i0 < p.m; i0 += kQmBatch) {
                const int mb = int(std::min<int64_t>(kQmBatch, p.m - i0));
                kern.block(x + i0 * w.k, mb, w.k, w.group, rows, w.word_step(), s, z, out);
                for (int i = 0; i < mb; ++i)
                    for (int r = 0; r < valid; ++r)
                        store_y(p.y, p.y_dtype, (i0 + i) * w.n_out + r0 + r, out[i * kQmRows + r]);
            }
        }
    });
}

// Large m: tiles of gemm_nr weight rows, split statically over the workers;
// per tile, chunks of kMc activation rows; per chunk, the tile is expanded kKc
// columns at a time into an fp32 panel and multiplied into an fp32 block of
// y, which is rounded into y at the end.
int64_t product_large(engram_context& ctx, const QMatmulProblem& p, const float* x,
                      const QmatmulKernels& kern) {
    constexpr int64_t kKc = 256, kMc = 256;
    constexpr int kMaxNr = 64;
    const QWeight& w = p.w;
    const int nr = kern.gemm_nr, mr = kern.gemm_mr;
    if (nr > kMaxNr) fail(ENGRAM_ERR_INTERNAL, format("qmatmul: gemm_nr %d > %d", nr, kMaxNr));
    const int64_t tiles = (w.n_out + nr - 1) / nr;
    const int64_t groups = w.groups_per_row();
    const int workers = int(std::min<int64_t>(ctx.pool->size(), tiles));
    const int64_t mc = std::min<int64_t>(kMc, p.m), mc_pad = (mc + mr - 1) / mr * mr;
    const int64_t wide_floats = w.scale_dtype != ENGRAM_DTYPE_F32 ? int64_t(2) * nr * groups : 0;
    const int64_t per_worker = kKc * nr + mc_pad * nr + wide_floats;
    HostScratch buf(ctx, uint64_t(workers) * uint64_t(per_worker) * sizeof(float));
    ctx.pool->run(workers, [&](int t, int parts) {
        int64_t t0, t1;
        static_range(tiles, parts, t, t0, t1);
        float* panel = buf.as<float>() + int64_t(t) * per_worker;
        float* cblk = panel + kKc * nr;
        float* wide = cblk + mc_pad * nr;
        const uint32_t* rows[kMaxNr];
        const float* s[kMaxNr];
        const float* z[kMaxNr];
        for (int64_t tile = t0; tile < t1; ++tile) {
            const int64_t r0 = tile * nr;
            const int valid = int(std::min<int64_t>(nr, w.n_out - r0));
            setup_rows(w, r0, nr, valid, rows, s, z, wide);
            for (int64_t i0 = 0; i0 < p.m; i0 += mc) {
                const int64_t mi = std::min<int64_t>(mc, p.m - i0);
                for (int64_t k0 = 0; k0 < w.k; k0 += kKc) {
                    const int64_t kc = std::min<int64_t>(kKc, w.k - k0);
                    kern.dequant_panel(k0, kc, w.group, rows, valid, w.word_step(), s, z, panel);
                    kern.gemm_panel(x + i0 * w.k + k0, w.k, mi, kc, panel, cblk, k0 > 0);
                }
                for (int64_t i = 0; i < mi; ++i)
                    for (int r = 0; r < valid; ++r)
                        store_y(p.y, p.y_dtype, (i0 + i) * w.n_out + r0 + r, cblk[i * nr + r]);
            }
        }
    });
    return tiles;
}

}  // namespace

void qmatmul_product(engram_context& ctx, const QMatmulProblem& p) {
    const QmatmulKernels& kern = qmatmul_kernels();
    const QWeight& w = p.w;
    HostScratch xbuf;
    const float* x = activations_f32(ctx, p, xbuf);
    int64_t tiles = 0;
    if (p.m <= kQmSmallM)
        product_small(ctx, p, x, kern);
    else
        tiles = product_large(ctx, p, x, kern);
    const uint64_t sbytes = w.scale_dtype == ENGRAM_DTYPE_F16 ? 2 : 4;
    op_stats_set(ctx.last_op, "weight_bytes",
                 uint64_t(w.n_out) * uint64_t(w.k) / 4 +
                     2 * uint64_t(w.n_out) * uint64_t(w.groups_per_row()) * sbytes);
    op_stats_set(ctx.last_op, "dequant_tiles", uint64_t(tiles));
}

const QmatmulBackend& qmatmul_cpu_backend_table() {
    static const QmatmulBackend table{&qmatmul_product, &qmatmul_quantize_rtn,
                                      &qmatmul_quantize_refine, &qmatmul_pack,
                                      &qmatmul_unpack, &qmatmul_prepare,
                                      &qmatmul_unprepare};
    return table;
}

}  // namespace engram::cpu

namespace engram {

const QmatmulBackend& qmatmul_cpu_backend() { return cpu::qmatmul_cpu_backend_table(); }

}  // namespace engram
