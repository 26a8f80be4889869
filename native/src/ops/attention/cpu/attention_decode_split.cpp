// attention_decode_split.cpp — the CPU decode, split over S. A long cache with
// few KV heads (one sequence, H_kv = 8, S = 128K) would keep only H_kv cores
// busy if the work were split over heads alone; here every head's kept tokens
// are cut into parts of kAttentionSplitTokens, each (head, part) item runs the
// vectorised online softmax (decode_partial, all G query heads of the KV head
// on one read of its rows) into a partial state (m, l, acc), and the states of
// a head are merged in part order with the log-sum-exp rule:
//   m = max_p m_p,  l = sum_p l_p e^{m_p - m},  acc = sum_p acc_p e^{m_p - m}.
// The parts depend only on the kept-token count, and each merge runs in a
// fixed order, so the result is bit-identical run to run and for any thread
// count (for a given ISA). A head with at most kAttentionSplitTokens tokens
// is one part, and its merge is exactly the unsplit out = acc / l.
#include "ops/attention/cpu/attention_decode_split.hpp"

#include <cmath>
#include <vector>

#include "core/op_stats.hpp"
#include "ops/attention/attention_math.h"
#include "ops/attention/cpu/attention_kernels.hpp"

namespace engram::cpu {

int attention_slice_segments(const AttentionSegment* segs, int n, int64_t a, int64_t b,
                             uint64_t row_bytes, AttentionSegment* out) {
    int count = 0;
    int64_t start = 0;  // position of segs[i]'s first token in the concatenation
    for (int i = 0; i < n && start < b; start += segs[i].count, ++i) {
        const int64_t lo = a > start ? a : start;
        const int64_t hi = b < start + segs[i].count ? b : start + segs[i].count;
        if (lo >= hi) continue;
        const uint64_t skip = uint64_t(lo - start) * row_bytes;
        out[count++] = AttentionSegment{static_cast<const char*>(segs[i].k) + skip,
                                        static_cast<const char*>(segs[i].v) + skip, hi - lo};
    }
    return count;
}

void attention_merge_states(const float* states, int64_t parts, int64_t G, int64_t D, float* out) {
    const int64_t sf = attention_state_floats(G, D);
    for (int64_t h = 0; h < G; ++h) {
        float m = -INFINITY;
        for (int64_t i = 0; i < parts; ++i) m = attention_max_nan(m, states[i * sf + h]);
        float l = 0.0f;
        float* o = out + h * D;
        for (int64_t d = 0; d < D; ++d) o[d] = 0.0f;
        for (int64_t i = 0; i < parts; ++i) {
            const float* st = states + i * sf;
            // attention_rescale: 0 for a part that saw only -inf scores.
            const float w = attention_rescale(st[h], m);
            const float* acc = st + 2 * G + h * D;
            l += st[G + h] * w;
            for (int64_t d = 0; d < D; ++d) o[d] += acc[d] * w;
        }
        // (IEEE division: the same result in any lane width.)
        for (int64_t d = 0; d < D; ++d) o[d] /= l;
    }
}

void attention_decode_split(engram_context& ctx, const AttentionDecodeProblem& p) {
    const AttentionCache& c = *p.cache;
    const AttentionKernels& k = attention_kernels();
    const int64_t G = p.group(), D = c.head_dim, hkv = c.kv_heads;
    const uint64_t rb = uint64_t(D) * attention_elem_bytes(c.dtype);
    const uint64_t io_elem = p.dtype == ENGRAM_DTYPE_F32 ? 4 : 2;

    // Items: (head, part) in head-major order; first_item[h] is head h's first.
    std::vector<int64_t> first_item(size_t(hkv) + 1, 0);
    std::vector<int64_t> kept(size_t(hkv), 0);
    ScratchAccount index_account(ctx, (first_item.size() + kept.size()) * sizeof(int64_t));
    uint64_t tokens = 0;
    for (int64_t h = 0; h < hkv; ++h) {
        AttentionSegment segs[kAttentionMaxSegments];
        const int n = attention_head_segments(c, p.layer, int32_t(h), segs);
        for (int i = 0; i < n; ++i) kept[size_t(h)] += segs[i].count;
        tokens += uint64_t(kept[size_t(h)]);
        const int64_t parts = (kept[size_t(h)] + kAttentionSplitTokens - 1) / kAttentionSplitTokens;
        first_item[size_t(h) + 1] = first_item[size_t(h)] + parts;
    }
    const int64_t items = first_item[size_t(hkv)];
    const int64_t sf = attention_state_floats(G, D);
    const int64_t work = attention_decode_work_floats(G, D);
    const int workers = int(items < ctx.pool->size() ? items : ctx.pool->size());
    // q in f32 [H_q, D], the states [items][sf], per worker the kernel's work.
    HostScratch scratch(ctx, uint64_t(hkv * G * D + items * sf + int64_t(workers) * work) * sizeof(float));
    float* qf = scratch.as<float>();
    float* states = qf + hkv * G * D;
    float* works = states + items * sf;
    k.to_f32(p.q, p.dtype, hkv * G * D, qf);

    ctx.pool->run(workers, [&](int w, int nw) {
        const int64_t begin = items * w / nw, end = items * (w + 1) / nw;
        int64_t h = 0;
        for (int64_t it = begin; it < end; ++it) {
            while (first_item[size_t(h) + 1] <= it) ++h;
            const int64_t part = it - first_item[size_t(h)];
            AttentionSegment segs[kAttentionMaxSegments], slice[kAttentionMaxSegments];
            const int n = attention_head_segments(c, p.layer, int32_t(h), segs);
            const int64_t a = part * kAttentionSplitTokens;
            const int64_t b = a + kAttentionSplitTokens < kept[size_t(h)] ? a + kAttentionSplitTokens
                                                                          : kept[size_t(h)];
            const int ns = attention_slice_segments(segs, n, a, b, rb, slice);
            AttentionDecodeGroup g{qf + h * G * D, G, D, p.scale, c.dtype, slice, ns,
                                   states + it * sf, works + int64_t(w) * work};
            k.decode_partial(g);
        }
    });
    // Merge per KV head (in part order) into f32, then round into out. The
    // output rows of head h reuse its q rows in qf (q is no longer needed).
    const int mergers = int(hkv < ctx.pool->size() ? hkv : ctx.pool->size());
    ctx.pool->run(mergers, [&](int w, int nw) {
        for (int64_t h = hkv * w / nw; h < hkv * (w + 1) / nw; ++h) {
            float* o = qf + h * G * D;
            attention_merge_states(states + first_item[size_t(h)] * sf,
                                   first_item[size_t(h) + 1] - first_item[size_t(h)], G, D, o);
            k.from_f32(o, G * D, p.dtype, static_cast<char*>(p.out) + uint64_t(h * G * D) * io_elem);
        }
    });
    op_stats_set(ctx.last_op, "tokens_attended", tokens);
    op_stats_set(ctx.last_op, "kv_bytes_read", tokens * 2 * rb);
}

}  // namespace engram::cpu
