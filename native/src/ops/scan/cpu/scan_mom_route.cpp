// scan_mom_route.cpp — MoM routing on the CPU: per token the top-k memories
// and their weights (in parallel over tokens), then the counting sort that
// groups the choices per (sequence, memory) segment in time order, applying
// the capacity (in parallel over sequences, each sequence in time order, so
// the admitted tokens and every slot are the same for any thread count).
// And the route's backward, token by token.
#include <cstring>
#include <vector>

#include "core/op_stats.hpp"
#include "ops/scan/cpu/scan_mom_cpu.hpp"
#include "ops/scan/cpu/scan_mom_topk.hpp"
#include "ops/scan/cpu/scan_rows.hpp"

namespace engram::cpu {

namespace {

// Per-worker scratch of the top-k pass: the logit row as fp32 and the ranking.
uint64_t row_scratch_bytes(int64_t m) { return uint64_t(2 * m) * 4; }

}  // namespace

void mom_route(engram_context& ctx, const MomRouting& r, const MomRouteOut& out) {
    const int64_t n_tok = r.tokens(), m = r.memories, k = r.top_k, t = r.t;
    {
        const uint64_t per = row_scratch_bytes(m);
        HostScratch scratch(ctx, per * uint64_t(unit_workers(ctx, n_tok)));
        for_each_unit(ctx, n_tok, [&](int64_t n, int w) {
            float* z = scratch.at<float>(per * uint64_t(w));
            int32_t* order = reinterpret_cast<int32_t*>(z + m);
            load_row(r.logits, r.dtype, n * m, m, z);
            mom_route_token(z, m, k, order, out.indices + n * k, out.weights + n * k);
        });
    }
    // Counting sort. counts[s]: choices admitted to segment s = b M + m.
    const int64_t segs = r.segments();
    HostScratch counts_mem(ctx, uint64_t(segs) * sizeof(int64_t));
    int64_t* counts = counts_mem.as<int64_t>();
    std::memset(counts, 0, size_t(segs) * sizeof(int64_t));
    for_each_unit(ctx, r.batch, [&](int64_t b, int) {
        int64_t* c = counts + b * m;
        for (int64_t n = b * t; n < (b + 1) * t; ++n)
            for (int64_t j = 0; j < k; ++j) {
                const int32_t mem = out.indices[n * k + j];
                if (r.capacity == 0 || c[mem] < r.capacity) {
                    out.slots[n * k + j] = int32_t(c[mem]++);  // position within the segment
                } else {  // over capacity: the latest tokens are dropped
                    out.slots[n * k + j] = -1;
                    out.weights[n * k + j] = 0.0f;
                }
            }
    });
    int64_t total = 0;
    for (int64_t s = 0; s < segs; ++s) {
        out.offsets[s] = int32_t(total);
        total += counts[s];
    }
    out.offsets[segs] = int32_t(total);
    for_each_unit(ctx, r.batch, [&](int64_t b, int) {
        for (int64_t n = b * t; n < (b + 1) * t; ++n)
            for (int64_t j = 0; j < k; ++j) {
                int32_t& slot = out.slots[n * k + j];
                if (slot < 0) continue;
                slot += out.offsets[b * m + out.indices[n * k + j]];
                out.gather_index[slot] = int32_t(n);
            }
    });
    for (int64_t p = total; p < n_tok * k; ++p) out.gather_index[p] = -1;
    op_stats_set(ctx.last_op, "routed", uint64_t(total));
    op_stats_set(ctx.last_op, "dropped", uint64_t(n_tok * k - total));
}

void mom_route_backward(engram_context& ctx, const MomRouting& r, const int32_t* indices,
                        const int32_t* slots, const float* d_weights, float* d_logits) {
    const int64_t n_tok = r.tokens(), m = r.memories, k = r.top_k;
    // Per worker: the logit row (fp32, padded to 8 bytes), then k doubles.
    const uint64_t z_bytes = (uint64_t(m) * 4 + 7) & ~uint64_t(7);
    const uint64_t per = z_bytes + uint64_t(k) * 8;
    HostScratch scratch(ctx, per * uint64_t(unit_workers(ctx, n_tok)));
    for_each_unit(ctx, n_tok, [&](int64_t n, int w) {
        float* z = scratch.at<float>(per * uint64_t(w));
        double* wt = scratch.at<double>(per * uint64_t(w) + z_bytes);
        load_row(r.logits, r.dtype, n * m, m, z);
        const int32_t* idx = indices + n * k;
        const ChosenSoftmax sm(z, idx, k);
        // w~ before any drop; a dropped choice's weight is the constant 0, so
        // its upstream gradient counts as 0.
        double dot = 0.0;
        for (int64_t j = 0; j < k; ++j) {
            wt[j] = sm.weight(z[idx[j]]);
            if (slots[n * k + j] >= 0) dot += wt[j] * double(d_weights[n * k + j]);
        }
        float* dz = d_logits + n * m;
        std::memset(dz, 0, size_t(m) * sizeof(float));
        for (int64_t j = 0; j < k; ++j) {
            const double dj = slots[n * k + j] >= 0 ? double(d_weights[n * k + j]) : 0.0;
            dz[idx[j]] = float(wt[j] * (dj - dot));
        }
    });
}

}  // namespace engram::cpu
