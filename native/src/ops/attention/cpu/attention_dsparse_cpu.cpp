// attention_dsparse_cpu.cpp — Double Sparsity on the CPU.
//
// Calibration: per KV head, channel scores mean |q_j k_j| accumulated in
// double in a fixed order (query head, token, channel), then the top r.
//
// Decode, per KV head over the tokens its policy keeps (heads split
// statically over the workers, each head whole on one worker, so results do
// not depend on the thread count): the approximate score of every candidate
// token is one r-long dot of the summed query's label channels with the
// token's label row (the label cache is contiguous per run of slots, read in
// blocks converted to f32; a streaming head's ring is two runs); the top k
// are chosen with a total order (score descending, NaN first, then position),
// put back in position order with the recent tokens, their key and value
// rows gathered into one contiguous run, and the exact online-softmax kernel
// (decode_group) attends over that run. When top_k covers every candidate no
// score is computed: the head is dense attention over what it keeps.
#include "ops/attention/cpu/attention_dsparse_cpu.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/op_stats.hpp"
#include "ops/attention/cpu/attention_kernels.hpp"

namespace engram::cpu {

namespace {

// a ranks before b: higher score first, NaN above everything, then the lower index.
template <class T>
struct RankBefore {
    const T* score;
    bool operator()(int64_t a, int64_t b) const {
        const T x = score[a], y = score[b];
        const bool xn = x != x, yn = y != y;
        if (xn != yn) return xn;
        if (!xn && x != y) return x > y;
        return a < b;
    }
};

// Rows of labels converted per block of the approximate scoring.
constexpr int64_t kLabelBlock = 256;

}  // namespace

void attention_dsparse_calibrate(engram_context& ctx, const AttentionCalibrateProblem& p) {
    const AttentionKernels& k = attention_kernels();
    const int64_t G = p.q_heads / p.kv_heads, N = p.tokens, D = p.head_dim, H = p.kv_heads;
    const int workers = int(H < ctx.pool->size() ? H : ctx.pool->size());
    // Per worker (8-byte items first, so every part stays aligned): D double
    // sums, D indices, one q row and one k row in f32; rounded to 16 floats so
    // every worker's part starts 64-byte aligned.
    const int64_t per_worker = (2 * D + 2 * D + 2 * D + 15) / 16 * 16;
    HostScratch scratch(ctx, uint64_t(workers) * uint64_t(per_worker) * sizeof(float));
    const uint64_t es = engram_dtype_size(p.dtype);
    ctx.pool->run(workers, [&](int w, int nw) {
        float* base = scratch.as<float>() + int64_t(w) * per_worker;
        double* sum = reinterpret_cast<double*>(base);
        int64_t* idx = reinterpret_cast<int64_t*>(base + 2 * D);
        float* qr = base + 4 * D;
        float* kr = qr + D;
        for (int64_t h = H * w / nw; h < H * (w + 1) / nw; ++h) {
            for (int64_t j = 0; j < D; ++j) sum[j] = 0.0;
            for (int64_t g = 0; g < G; ++g)
                for (int64_t t = 0; t < N; ++t) {
                    k.to_f32(static_cast<const char*>(p.q) + uint64_t(((h * G + g) * N + t) * D) * es,
                             p.dtype, D, qr);
                    k.to_f32(static_cast<const char*>(p.k) + uint64_t((h * N + t) * D) * es, p.dtype, D, kr);
                    for (int64_t j = 0; j < D; ++j) sum[j] += std::fabs(double(qr[j]) * double(kr[j]));
                }
            // Ranked by the sums: the mean divides them all by G * N.
            for (int64_t j = 0; j < D; ++j) idx[j] = j;
            std::partial_sort(idx, idx + p.r, idx + D, RankBefore<double>{sum});
            std::sort(idx, idx + p.r);
            for (int32_t i = 0; i < p.r; ++i) p.channels[h * p.r + i] = int32_t(idx[i]);
        }
    });
}

void attention_dsparse_decode(engram_context& ctx, const AttentionDsparseProblem& p) {
    const AttentionCache& c = *p.cache;
    const AttentionKernels& k = attention_kernels();
    const int64_t G = p.group(), D = c.head_dim, hkv = c.kv_heads;
    const int64_t S = c.length[size_t(p.layer)];
    const int32_t r = c.label_r[size_t(p.layer)];
    const uint64_t es = attention_elem_bytes(c.dtype);
    const uint64_t rb = uint64_t(D) * es;
    const uint64_t io_elem = p.dtype == ENGRAM_DTYPE_F32 ? 4 : 2;
    // A head keeps at most S tokens, and attends to at most top_k + recent.
    const int64_t attended_max = p.top_k + (p.recent < S ? p.recent : S) < S
                                     ? p.top_k + (p.recent < S ? p.recent : S) : S;
    const int workers = int(hkv < ctx.pool->size() ? hkv : ctx.pool->size());
    // Per worker, in floats: slots of the kept tokens [S] and chosen indices
    // [S] (int64: 4S); q, out [G, D]; the summed query's labels [r]; a label
    // block [kLabelBlock, r]; scores [S]; the gathered key and value rows
    // (64-byte aligned); the kernel's work.
    const int64_t gather_floats = int64_t((2 * uint64_t(attended_max) * rb + 3) / 4);
    const int64_t per_worker = (4 * S + 2 * G * D + r + kLabelBlock * r + S + 16 + gather_floats +
                                attention_decode_work_floats(G, D) + 15) / 16 * 16;
    HostScratch scratch(ctx, uint64_t(workers) * uint64_t(per_worker) * sizeof(float));
    std::vector<uint64_t> attended(size_t(hkv), 0), labelled(size_t(hkv), 0);
    ScratchAccount counts_account(ctx, 2 * attended.size() * sizeof(uint64_t));
    ctx.pool->run(workers, [&](int w, int nw) {
        int64_t* slot = reinterpret_cast<int64_t*>(scratch.as<float>() + int64_t(w) * per_worker);
        int64_t* pick = slot + S;
        float* qf = reinterpret_cast<float*>(pick + S);
        float* of = qf + G * D;
        float* ql = of + G * D;
        float* lb = ql + r;
        float* score = lb + kLabelBlock * r;
        char* gather = reinterpret_cast<char*>(
            (reinterpret_cast<uintptr_t>(score + S) + 63) & ~uintptr_t(63));
        float* work = reinterpret_cast<float*>(gather) + gather_floats;
        for (int64_t h = hkv * w / nw; h < hkv * (w + 1) / nw; ++h) {
            const uint64_t offset = uint64_t(h * G * D) * io_elem;
            k.to_f32(static_cast<const char*>(p.q) + offset, p.dtype, G * D, qf);
            const AttentionHeadStore& s = c.heads[size_t(p.layer) * size_t(hkv) + size_t(h)];
            const int32_t* ch = &c.label_channels[size_t(p.layer)][size_t(h) * size_t(r)];
            // The kept tokens in position order, as slots of the head's rows.
            AttentionSegment segs[kAttentionMaxSegments];
            const int nsegs = attention_head_segments(c, p.layer, int32_t(h), segs);
            int64_t kept = 0;
            for (int i = 0; i < nsegs; ++i) {
                const int64_t first = (static_cast<const char*>(segs[i].k) - static_cast<const char*>(s.k)) / int64_t(rb);
                for (int64_t t = 0; t < segs[i].count; ++t) slot[kept++] = first + t;
            }
            const int64_t recent = p.recent < kept ? p.recent : kept;
            const int64_t candidates = kept - recent;
            const int64_t chosen = p.top_k < candidates ? p.top_k : candidates;
            // The summed query over the G heads, at the label channels (fixed order).
            for (int32_t i = 0; i < r; ++i) {
                float x = 0.0f;
                for (int64_t g = 0; g < G; ++g) x += qf[g * D + ch[i]];
                ql[i] = x;
            }
            // Approximate scores: label rows are contiguous within a segment's
            // run of slots, converted to f32 a block at a time.
            if (chosen < candidates) {
                for (int64_t t0 = 0; t0 < candidates;) {
                    int64_t nt = 1;
                    while (t0 + nt < candidates && nt < kLabelBlock && slot[t0 + nt] == slot[t0] + nt) ++nt;
                    k.to_f32(static_cast<const char*>(s.labels) + uint64_t(slot[t0] * r) * es, c.dtype,
                             nt * r, lb);
                    for (int64_t t = 0; t < nt; ++t) {
                        const float* row = lb + t * r;
                        float a = 0.0f;
                        for (int32_t i = 0; i < r; ++i) a += ql[i] * row[i];
                        score[t0 + t] = a;
                    }
                    t0 += nt;
                }
                labelled[size_t(h)] = uint64_t(candidates);
            }
            for (int64_t t = 0; t < candidates; ++t) pick[t] = t;
            if (chosen < candidates)
                std::nth_element(pick, pick + chosen, pick + candidates, RankBefore<float>{score});
            std::sort(pick, pick + chosen);
            for (int64_t t = 0; t < recent; ++t) pick[chosen + t] = candidates + t;
            const int64_t n = chosen + recent;
            char* gk = gather;
            char* gv = gather + uint64_t(n) * rb;
            for (int64_t i = 0; i < n; ++i) {
                const uint64_t row = uint64_t(slot[pick[i]]) * rb;
                std::memcpy(gk + uint64_t(i) * rb, static_cast<const char*>(s.k) + row, rb);
                std::memcpy(gv + uint64_t(i) * rb, static_cast<const char*>(s.v) + row, rb);
            }
            const AttentionSegment run{gk, gv, n};
            attended[size_t(h)] = uint64_t(n);
            AttentionDecodeGroup g{qf, G, D, p.scale, c.dtype, &run, 1, of, work};
            k.decode_group(g);
            k.from_f32(of, G * D, p.dtype, static_cast<char*>(p.out) + offset);
        }
    });
    uint64_t tokens = 0, label_rows = 0;
    for (int64_t h = 0; h < hkv; ++h) {
        tokens += attended[size_t(h)];
        label_rows += labelled[size_t(h)];
    }
    op_stats_set(ctx.last_op, "tokens_attended", tokens);
    op_stats_set(ctx.last_op, "kv_bytes_read", tokens * 2 * rb);
    op_stats_set(ctx.last_op, "label_bytes_read", label_rows * uint64_t(r) * es);
}

}  // namespace engram::cpu
