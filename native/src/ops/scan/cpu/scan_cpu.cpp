// scan_cpu.cpp — CPU entry points of the scan family: split the (sequence,
// head) pairs statically among the workers (each pair is computed by one
// worker in a fixed order: bit-identical results for any thread count), load
// each chunk's rows as fp32, run the per-head kernels (scan_head.cpp) and
// write the outputs in the caller's dtype.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "core/op_stats.hpp"
#include "ops/scan/cpu/scan_head.hpp"
#include "ops/scan/cpu/scan_rows.hpp"
#include "ops/scan/scan_backend.hpp"

namespace engram::cpu {

namespace {

void scale_row(float* x, int64_t n, float s) {
    for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

void linear_forward(engram_context& ctx, const ScanProblem& p, void* o, float* final_state) {
    const int64_t pairs = p.batch * p.heads, kd = p.k_dim, vd = p.v_dim;
    const int64_t width = p.gate_width();
    const int64_t chunk = std::min<int64_t>(p.chunk, p.t);
    const uint64_t per_worker = ChunkBuffers::bytes(chunk, kd, vd, width);
    const int workers = unit_workers(ctx, pairs);
    HostScratch scratch(ctx, per_worker * uint64_t(workers));
    for_each_unit(ctx, pairs, [&](int64_t pair, int w) {
        ChunkBuffers buf = ChunkBuffers::carve(scratch.at<unsigned char>(per_worker * uint64_t(w)),
                                               chunk, kd, vd, width);
        const HeadView hv{p, pair / p.heads, pair % p.heads};
        if (p.initial_state)
            std::memcpy(buf.state, p.initial_state + hv.state(), size_t(kd * vd) * sizeof(float));
        else
            std::memset(buf.state, 0, size_t(kd * vd) * sizeof(float));
        for (int64_t t0 = 0; t0 < p.t; t0 += chunk) {
            const int64_t n = std::min(chunk, p.t - t0);
            for (int64_t i = 0; i < n; ++i) {
                load_row(p.q, p.dtype, hv.qk_row(t0 + i), kd, buf.q + i * kd);
                scale_row(buf.q + i * kd, kd, p.scale);
                load_row(p.k, p.dtype, hv.qk_row(t0 + i), kd, buf.k + i * kd);
                load_row(p.v, p.dtype, hv.v_row(t0 + i), vd, buf.v + i * vd);
            }
            // Gate rows of consecutive tokens are H * width floats apart.
            const float* g_rows = width ? p.g + hv.g_row(t0) : nullptr;
            scan_chunk(buf, n, kd, vd, p.gate, g_rows, p.heads * width);
            for (int64_t i = 0; i < n; ++i)
                store_row(buf.o + i * vd, vd, p.out_dtype, o, hv.v_row(t0 + i));
        }
        if (final_state)
            std::memcpy(final_state + hv.state(), buf.state, size_t(kd * vd) * sizeof(float));
    });
    const int64_t chunks_per_head = (p.t + chunk - 1) / chunk;
    op_stats_set(ctx.last_op, "chunks", uint64_t(pairs * chunks_per_head));
}

void linear_decode(engram_context& ctx, const ScanProblem& p, void* o, float* state_out) {
    const int64_t pairs = p.batch * p.heads, kd = p.k_dim, vd = p.v_dim;
    const uint64_t per_worker = uint64_t(2 * kd + 2 * vd) * sizeof(float);
    const int workers = unit_workers(ctx, pairs);
    HostScratch scratch(ctx, per_worker * uint64_t(workers));
    for_each_unit(ctx, pairs, [&](int64_t pair, int w) {
        float* q = scratch.at<float>(per_worker * uint64_t(w));
        float* k = q + kd;
        float* v = k + kd;
        float* out = v + vd;
        const HeadView hv{p, pair / p.heads, pair % p.heads};
        load_row(p.q, p.dtype, hv.qk_row(0), kd, q);
        scale_row(q, kd, p.scale);
        load_row(p.k, p.dtype, hv.qk_row(0), kd, k);
        load_row(p.v, p.dtype, hv.v_row(0), vd, v);
        const float* g = p.gate_width() ? p.g + hv.g_row(0) : nullptr;
        const float* s_in = p.initial_state ? p.initial_state + hv.state() : nullptr;
        scan_step(s_in, state_out + hv.state(), q, k, v, g, p.gate, kd, vd, out);
        store_row(out, vd, p.out_dtype, o, hv.v_row(0));
    });
    op_stats_set(ctx.last_op, "chunks", uint64_t(pairs));
}

}  // namespace

}  // namespace engram::cpu

namespace engram {

const ScanBackend& scan_cpu_backend() {
    static const ScanBackend table{cpu::linear_forward, cpu::linear_decode,
                                   cpu::scan_linear_backward};
    return table;
}

}  // namespace engram
