// scan_titans.cpp — the Titans neural memory on the CPU, token by token per
// (sequence, value head): prediction error against the previous memory, the
// momentum step of the surprise, the forgetting step of the memory, then the
// read-out. The memory and surprise live in per-worker fp32 scratch and are
// written out at the end, so in-place decode (out == initial) is safe.
#include <cstring>

#include "core/op_stats.hpp"
#include "ops/scan/cpu/scan_rows.hpp"
#include "ops/scan/scan_titans_backend.hpp"

namespace engram::cpu {

namespace {

void titans_forward(engram_context& ctx, const TitansProblem& p, void* o, float* memory_out,
                    float* surprise_out) {
    const int64_t kd = p.k_dim, vd = p.v_dim, pairs = p.batch * p.heads, kv = kd * vd;
    const uint64_t per = uint64_t(2 * kv + 2 * kd + 3 * vd) * 4;
    HostScratch scratch(ctx, per * uint64_t(unit_workers(ctx, pairs)));
    for_each_unit(ctx, pairs, [&](int64_t pair, int w) {
        const int64_t b = pair / p.heads, h = pair % p.heads, hq = h / p.group();
        float* m = scratch.at<float>(per * uint64_t(w));  // M^T [K, V]
        float* s = m + kv;                                  // S^T [K, V]
        float* q = s + kv;
        float* k = q + kd;
        float* v = k + kd;
        float* e = v + vd;
        float* out = e + vd;
        const int64_t st = pair * kv;
        if (p.initial_memory) std::memcpy(m, p.initial_memory + st, size_t(kv) * 4);
        else std::memset(m, 0, size_t(kv) * 4);
        if (p.initial_surprise) std::memcpy(s, p.initial_surprise + st, size_t(kv) * 4);
        else std::memset(s, 0, size_t(kv) * 4);
        for (int64_t t = 0; t < p.t; ++t) {
            const int64_t tok = b * p.t + t, gi = tok * p.heads + h;
            load_row(p.q, p.dtype, (tok * p.qk_heads + hq) * kd, kd, q);
            load_row(p.k, p.dtype, (tok * p.qk_heads + hq) * kd, kd, k);
            load_row(p.v, p.dtype, gi * vd, vd, v);
            const float eta = p.eta[gi], theta = p.theta[gi], keep = 1.0f - p.alpha[gi];
            // e = M_{t-1} k - v, from the whole previous memory.
            for (int64_t x = 0; x < vd; ++x) e[x] = -v[x];
            for (int64_t c = 0; c < kd; ++c) {
                const float kc = k[c];
                const float* mr = m + c * vd;
                for (int64_t x = 0; x < vd; ++x) e[x] += kc * mr[x];
            }
            // S = eta S - theta k e^T;  M = (1 - alpha) M + S;  o = M^T q.
            std::memset(out, 0, size_t(vd) * 4);
            for (int64_t c = 0; c < kd; ++c) {
                const float tk = theta * k[c], qc = q[c];
                float* sr = s + c * vd;
                float* mr = m + c * vd;
                for (int64_t x = 0; x < vd; ++x) {
                    sr[x] = eta * sr[x] - tk * e[x];
                    mr[x] = keep * mr[x] + sr[x];
                    out[x] += qc * mr[x];
                }
            }
            store_row(out, vd, p.out_dtype, o, gi * vd);
        }
        if (memory_out) std::memcpy(memory_out + st, m, size_t(kv) * 4);
        if (surprise_out) std::memcpy(surprise_out + st, s, size_t(kv) * 4);
    });
    op_stats_set(ctx.last_op, "chunks", uint64_t(pairs));
}

}  // namespace

}  // namespace engram::cpu

namespace engram {

const TitansBackend& scan_titans_cpu_backend() {
    static const TitansBackend table{cpu::titans_forward};
    return table;
}

}  // namespace engram
