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
#include "cpu/convert.hpp"
#include "cpu/simd_scalar.hpp"
#include "ops/scan/cpu/scan_head.hpp"
#include "ops/scan/scan_backend.hpp"

namespace engram::cpu {

namespace {

// Conversions of a few rows per chunk are not where the time goes: the
// portable scalar path suffices.
using Conv = Convert<VecScalar>;

// Element offsets of one (sequence, head) in the caller's tensors.
struct HeadView {
    const ScanProblem& p;
    int64_t b, h;

    int64_t qk_row(int64_t t) const {  // first element of q/k at token t
        return ((b * p.t + t) * p.qk_heads + h / p.group()) * p.k_dim;
    }
    int64_t v_row(int64_t t) const { return ((b * p.t + t) * p.heads + h) * p.v_dim; }
    int64_t g_row(int64_t t) const { return ((b * p.t + t) * p.heads + h) * p.gate_width(); }
    int64_t state() const { return (b * p.heads + h) * p.k_dim * p.v_dim; }
};

const char* at(const void* base, int64_t elem, engram_dtype dt) {
    return static_cast<const char*>(base) + elem * int64_t(engram_dtype_size(dt));
}
char* at(void* base, int64_t elem, engram_dtype dt) {
    return static_cast<char*>(base) + elem * int64_t(engram_dtype_size(dt));
}

void load_row(const ScanProblem& p, const void* src, int64_t elem, int64_t n, float* dst) {
    Conv::to_f32(at(src, elem, p.dtype), p.dtype, n, dst);
}

void scale_row(float* x, int64_t n, float s) {
    for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

// Runs fn(pair, worker) for every (sequence, head) pair, pairs split into
// contiguous static ranges, one per worker.
template <class F>
void for_each_head(engram_context& ctx, int64_t pairs, F&& fn) {
    const int workers = int(std::min<int64_t>(ctx.pool->size(), pairs));
    ctx.pool->run(workers, [&](int w, int nw) {
        const int64_t begin = pairs * w / nw, end = pairs * (w + 1) / nw;
        for (int64_t pair = begin; pair < end; ++pair) fn(pair, w);
    });
}

void linear_forward(engram_context& ctx, const ScanProblem& p, void* o, float* final_state) {
    const int64_t pairs = p.batch * p.heads, kd = p.k_dim, vd = p.v_dim;
    const int64_t width = p.gate_width();
    const int64_t chunk = std::min<int64_t>(p.chunk, p.t);
    const uint64_t per_worker = ChunkBuffers::bytes(chunk, kd, vd, width);
    const int workers = int(std::min<int64_t>(ctx.pool->size(), pairs));
    HostScratch scratch(ctx, per_worker * uint64_t(workers));
    for_each_head(ctx, pairs, [&](int64_t pair, int w) {
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
                load_row(p, p.q, hv.qk_row(t0 + i), kd, buf.q + i * kd);
                scale_row(buf.q + i * kd, kd, p.scale);
                load_row(p, p.k, hv.qk_row(t0 + i), kd, buf.k + i * kd);
                load_row(p, p.v, hv.v_row(t0 + i), vd, buf.v + i * vd);
            }
            // Gate rows of consecutive tokens are H * width floats apart.
            const float* g_rows = width ? p.g + hv.g_row(t0) : nullptr;
            scan_chunk(buf, n, kd, vd, p.gate, g_rows, p.heads * width);
            for (int64_t i = 0; i < n; ++i)
                Conv::from_f32(buf.o + i * vd, vd, p.out_dtype,
                               at(o, hv.v_row(t0 + i), p.out_dtype));
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
    const int workers = int(std::min<int64_t>(ctx.pool->size(), pairs));
    HostScratch scratch(ctx, per_worker * uint64_t(workers));
    for_each_head(ctx, pairs, [&](int64_t pair, int w) {
        float* q = scratch.at<float>(per_worker * uint64_t(w));
        float* k = q + kd;
        float* v = k + kd;
        float* out = v + vd;
        const HeadView hv{p, pair / p.heads, pair % p.heads};
        load_row(p, p.q, hv.qk_row(0), kd, q);
        scale_row(q, kd, p.scale);
        load_row(p, p.k, hv.qk_row(0), kd, k);
        load_row(p, p.v, hv.v_row(0), vd, v);
        const float* g = p.gate_width() ? p.g + hv.g_row(0) : nullptr;
        const float* s_in = p.initial_state ? p.initial_state + hv.state() : nullptr;
        scan_step(s_in, state_out + hv.state(), q, k, v, g, p.gate, kd, vd, out);
        Conv::from_f32(out, vd, p.out_dtype, at(o, hv.v_row(0), p.out_dtype));
    });
    op_stats_set(ctx.last_op, "chunks", uint64_t(pairs));
}

}  // namespace

}  // namespace engram::cpu

namespace engram {

const ScanBackend& scan_cpu_backend() {
    static const ScanBackend table{cpu::linear_forward, cpu::linear_decode};
    return table;
}

}  // namespace engram
