// scan_delta_cpu.cpp — CPU entry points of the delta rule (ops 203-205): the
// (sequence, value head) pairs are split statically among the workers (each
// pair is computed by one worker in a fixed order: bit-identical results for
// any thread count); each chunk's rows are loaded as fp32 and run through
// delta_chunk (scan_delta_head.cpp); outputs are written in the caller's dtype.
#include <algorithm>
#include <cstring>

#include "core/op_stats.hpp"
#include "ops/scan/cpu/scan_delta_head.hpp"
#include "ops/scan/scan_delta_backend.hpp"

namespace engram::cpu {

namespace {

int64_t longest_sequence(const DeltaProblem& p) {
    int64_t m = 0;
    for (int64_t n = 0; n < p.seqs(); ++n)
        m = std::max(m, p.offsets[size_t(n + 1)] - p.offsets[size_t(n)]);
    return m;
}

void delta_forward(engram_context& ctx, const DeltaProblem& p, void* o, float* final_state) {
    const int64_t units = p.seqs() * p.heads, kd = p.k_dim, vd = p.v_dim;
    const int64_t chunk = std::min<int64_t>(p.chunk, longest_sequence(p));
    const uint64_t per_worker = DeltaChunkBuffers::bytes(chunk, kd, vd);
    const int workers = unit_workers(ctx, units);
    HostScratch scratch(ctx, per_worker * uint64_t(workers));
    for_each_unit(ctx, units, [&](int64_t unit, int w) {
        DeltaChunkBuffers buf =
            DeltaChunkBuffers::carve(scratch.at<unsigned char>(per_worker * uint64_t(w)), chunk, kd, vd);
        const DeltaHeadView hv{p, unit / p.heads, unit % p.heads};
        if (p.initial_state)
            std::memcpy(buf.state, p.initial_state + hv.state(), size_t(kd * vd) * sizeof(float));
        else
            std::memset(buf.state, 0, size_t(kd * vd) * sizeof(float));
        const int64_t begin = hv.begin(), len = hv.length();
        for (int64_t t0 = 0; t0 < len; t0 += chunk) {
            const int64_t n = std::min(chunk, len - t0);
            for (int64_t i = 0; i < n; ++i) {
                const int64_t tau = begin + t0 + i;
                delta_load_q(p, hv, tau, buf.q + i * kd);
                delta_load_k(p, hv, tau, buf.k + i * kd);
                load_row(p.v, p.dtype, hv.v_row(tau), vd, buf.v + i * vd);
                buf.beta[i] = p.beta[hv.gate(tau)];
            }
            // Gates of consecutive tokens are H floats apart.
            const float* g_rows = p.g ? p.g + hv.gate(begin + t0) : nullptr;
            delta_chunk(buf, n, kd, vd, g_rows, p.heads);
            for (int64_t i = 0; i < n; ++i)
                store_row(buf.o + i * vd, vd, p.out_dtype, o, hv.v_row(begin + t0 + i));
        }
        if (final_state)
            std::memcpy(final_state + hv.state(), buf.state, size_t(kd * vd) * sizeof(float));
    });
    uint64_t total = 0;
    for (int64_t n = 0; n < p.seqs(); ++n)
        total += uint64_t((p.offsets[size_t(n + 1)] - p.offsets[size_t(n)] + chunk - 1) / chunk);
    total *= uint64_t(p.heads);
    op_stats_set(ctx.last_op, "chunks", total);
}

void delta_decode(engram_context& ctx, const DeltaProblem& p, void* o, float* state_out) {
    const int64_t units = p.seqs() * p.heads, kd = p.k_dim, vd = p.v_dim;
    const uint64_t per_worker = uint64_t(2 * kd + 3 * vd) * sizeof(float);
    const int workers = unit_workers(ctx, units);
    HostScratch scratch(ctx, per_worker * uint64_t(workers));
    for_each_unit(ctx, units, [&](int64_t unit, int w) {
        float* q = scratch.at<float>(per_worker * uint64_t(w));
        float* k = q + kd;
        float* v = k + kd;
        float* u = v + vd;
        float* out = u + vd;
        const DeltaHeadView hv{p, unit / p.heads, unit % p.heads};
        const int64_t tau = hv.begin();
        delta_load_q(p, hv, tau, q);
        delta_load_k(p, hv, tau, k);
        load_row(p.v, p.dtype, hv.v_row(tau), vd, v);
        const float* g = p.g ? p.g + hv.gate(tau) : nullptr;
        const float* s_in = p.initial_state ? p.initial_state + hv.state() : nullptr;
        delta_step(s_in, state_out + hv.state(), q, k, v, p.beta[hv.gate(tau)], g, kd, vd, out, u);
        store_row(out, vd, p.out_dtype, o, hv.v_row(tau));
    });
    op_stats_set(ctx.last_op, "chunks", uint64_t(units));
}

}  // namespace

}  // namespace engram::cpu

namespace engram {

const ScanDeltaBackend& scan_delta_cpu_backend() {
    static const ScanDeltaBackend table{cpu::delta_forward, cpu::delta_decode,
                                        cpu::scan_delta_backward};
    return table;
}

}  // namespace engram
