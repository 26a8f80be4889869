// scan_mom_decode.cpp — the MoM decode step on the CPU: route each sequence's
// token, then per (sequence, value head) step only the chosen memories' states
// (and the shared memory's) with the linear scan's one-token step, and combine
// their outputs with the routing weights. Memories not chosen are not touched.
#include <cstring>

#include "core/op_stats.hpp"
#include "ops/scan/cpu/scan_head.hpp"
#include "ops/scan/cpu/scan_mom_cpu.hpp"
#include "ops/scan/cpu/scan_mom_topk.hpp"
#include "ops/scan/scan_mom_backend.hpp"
#include "ops/scan/cpu/scan_rows.hpp"

namespace engram::cpu {

void mom_decode(engram_context& ctx, const MomDecode& d, float* states, void* o,
                int32_t* indices, float* weights) {
    const ScanProblem& p = d.step;
    const int64_t m = d.memories, k = d.top_k, ns = d.slots(), kd = p.k_dim, vd = p.v_dim;
    const int64_t hk = p.qk_heads, h_all = p.heads, width = p.gate_width();
    // Routing of every sequence first (B k entries), read by all heads.
    HostScratch route_mem(ctx, uint64_t(p.batch * k) * 8 + uint64_t(m) * 8);
    int32_t* idx = route_mem.as<int32_t>();
    float* wts = reinterpret_cast<float*>(idx + p.batch * k);
    float* z = wts + p.batch * k;
    int32_t* order = reinterpret_cast<int32_t*>(z + m);
    for (int64_t b = 0; b < p.batch; ++b) {
        load_row(d.logits, p.dtype, b * m, m, z);
        mom_route_token(z, m, k, order, idx + b * k, wts + b * k);
    }
    const int64_t pairs = p.batch * h_all;
    const uint64_t per = uint64_t(2 * kd + 3 * vd) * 4;
    HostScratch scratch(ctx, per * uint64_t(unit_workers(ctx, pairs)));
    for_each_unit(ctx, pairs, [&](int64_t pair, int w) {
        const int64_t b = pair / h_all, h = pair % h_all, hq = h / p.group();
        float* q = scratch.at<float>(per * uint64_t(w));
        float* kr = q + kd;
        float* vr = kr + kd;
        float* om = vr + vd;
        float* acc = om + vd;
        load_row(p.q, p.dtype, (b * hk + hq) * kd, kd, q);
        for (int64_t c = 0; c < kd; ++c) q[c] *= p.scale;
        std::memset(acc, 0, size_t(vd) * 4);
        // One memory's step: its state row block, its k, v, g rows.
        auto step = [&](int64_t mem, float wt) {
            const int64_t slot = b * ns + mem;
            load_row(p.k, p.dtype, (slot * hk + hq) * kd, kd, kr);
            load_row(p.v, p.dtype, (slot * h_all + h) * vd, vd, vr);
            const float* g = width ? p.g + (slot * h_all + h) * width : nullptr;
            float* st = states + (slot * h_all + h) * kd * vd;
            scan_step(st, st, q, kr, vr, g, p.gate, kd, vd, om);
            for (int64_t c = 0; c < vd; ++c) acc[c] += wt * om[c];
        };
        for (int64_t j = 0; j < k; ++j) step(idx[b * k + j], wts[b * k + j]);
        if (d.shared) step(m, 1.0f);
        store_row(acc, vd, p.out_dtype, o, (b * h_all + h) * vd);
    });
    if (indices) std::memcpy(indices, idx, size_t(p.batch * k) * 4);
    if (weights) std::memcpy(weights, wts, size_t(p.batch * k) * 4);
    op_stats_set(ctx.last_op, "chunks", uint64_t(pairs * (k + (d.shared ? 1 : 0))));
}

}  // namespace engram::cpu

namespace engram {

const MomBackend& scan_mom_cpu_backend() {
    static const MomBackend table{cpu::mom_route,   cpu::mom_route_backward,
                                  cpu::mom_gather,  cpu::mom_gather_backward,
                                  cpu::mom_combine, cpu::mom_combine_backward,
                                  cpu::mom_decode};
    return table;
}

}  // namespace engram
