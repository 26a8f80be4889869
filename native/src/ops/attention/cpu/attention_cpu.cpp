// attention_cpu.cpp — the CPU attention backend: threads and scratch around
// the per-ISA kernels. Decode splits every KV head's tokens into parts and
// merges them (attention_decode_split.cpp); prefill splits the KV heads over
// the workers with a static, contiguous assignment; each KV head (with its G
// query heads) is computed whole by one worker, so neither result depends on
// the thread count.
#include <cstring>
#include <vector>

#include "core/context.hpp"
#include "core/op_stats.hpp"
#include "ops/attention/attention_backend.hpp"
#include "ops/attention/cpu/attention_decode_split.hpp"
#include "ops/attention/cpu/attention_dsparse_cpu.hpp"
#include "ops/attention/cpu/attention_kernels.hpp"

namespace engram {

namespace {

using cpu::AttentionKernels;
using cpu::attention_kernels;

// Decode: split over S and merged (cpu/attention_decode_split.cpp).
void decode(engram_context& ctx, const AttentionDecodeProblem& p) { cpu::attention_decode_split(ctx, p); }

// Prefill: the chunk's keys and values are first converted to the storage
// dtype (so its queries see the values the cache will hold), then each KV
// head's queries run one by one through the decode kernel over the segments
// attention_query_segments gives for their positions. The same static split
// over KV heads as decode.
void store_rows(engram_context&, const void* src, engram_dtype dtype, int64_t elements,
                engram_dtype storage, void* dst);

void prefill(engram_context& ctx, const AttentionPrefillProblem& p) {
    const AttentionCache& c = *p.cache;
    const AttentionKernels& k = attention_kernels();
    const int64_t G = p.group(), D = c.head_dim, hkv = c.kv_heads, n = p.tokens;
    const uint64_t sb = uint64_t(D) * attention_elem_bytes(c.dtype);
    const uint64_t io_elem = p.dtype == ENGRAM_DTYPE_F32 ? 4 : 2;
    const uint64_t chunk_bytes = uint64_t(hkv) * uint64_t(n) * sb;
    HostScratch chunk(ctx, 2 * chunk_bytes);
    char* kc = chunk.as<char>();
    char* vc = kc + chunk_bytes;
    store_rows(ctx, p.k, p.dtype, hkv * n * D, c.dtype, kc);
    store_rows(ctx, p.v, p.dtype, hkv * n * D, c.dtype, vc);
    const int workers = int(hkv < ctx.pool->size() ? hkv : ctx.pool->size());
    const int64_t per_worker = 2 * G * D + cpu::attention_decode_work_floats(G, D);
    HostScratch scratch(ctx, uint64_t(workers) * uint64_t(per_worker) * sizeof(float));
    std::vector<uint64_t> attended(size_t(hkv), 0);  // per KV head: no shared counter
    ScratchAccount attended_account(ctx, attended.size() * sizeof(uint64_t));
    ctx.pool->run(workers, [&](int w, int nw) {
        float* qf = scratch.as<float>() + int64_t(w) * per_worker;
        float* of = qf + G * D;
        float* work = of + G * D;
        const int64_t begin = hkv * w / nw, end = hkv * (w + 1) / nw;
        for (int64_t kh = begin; kh < end; ++kh) {
            const char* hk = kc + uint64_t(kh) * uint64_t(n) * sb;
            const char* hv = vc + uint64_t(kh) * uint64_t(n) * sb;
            for (int64_t i = 0; i < n; ++i) {
                AttentionSegment segs[kAttentionMaxSegments];
                const int nsegs = attention_query_segments(c, p.layer, int32_t(kh), p.cached,
                                                           p.cached + i, hk, hv, segs);
                for (int s = 0; s < nsegs; ++s) attended[size_t(kh)] += uint64_t(segs[s].count);
                // Query heads kh*G .. kh*G+G-1 at token i: rows (h * n + i) of q.
                for (int64_t g = 0; g < G; ++g) {
                    const uint64_t row = uint64_t((kh * G + g) * n + i) * uint64_t(D) * io_elem;
                    k.to_f32(static_cast<const char*>(p.q) + row, p.dtype, D, qf + g * D);
                }
                cpu::AttentionDecodeGroup grp{qf, G, D, p.scale, c.dtype, segs, nsegs, of, work};
                k.decode_group(grp);
                for (int64_t g = 0; g < G; ++g) {
                    const uint64_t row = uint64_t((kh * G + g) * n + i) * uint64_t(D) * io_elem;
                    k.from_f32(of + g * D, D, p.dtype, static_cast<char*>(p.out) + row);
                }
            }
        }
    });
    uint64_t tokens = 0;
    for (uint64_t a : attended) tokens += a;
    op_stats_set(ctx.last_op, "tokens_attended", tokens);
    op_stats_set(ctx.last_op, "kv_bytes_read", tokens * 2 * sb);
}

void store_rows(engram_context&, const void* src, engram_dtype dtype, int64_t elements,
                engram_dtype storage, void* dst) {
    const AttentionKernels& k = attention_kernels();
    if (dtype == storage) {
        std::memcpy(dst, src, size_t(uint64_t(elements) * attention_elem_bytes(storage)));
        return;
    }
    // dtype is F32 here (the API allows F32 or the storage dtype).
    k.from_f32(static_cast<const float*>(src), elements, storage, dst);
}

}  // namespace

const AttentionBackend& attention_cpu_backend() {
    static const AttentionBackend b{&decode, &prefill, &store_rows, &cpu::attention_dsparse_calibrate,
                                    &cpu::attention_dsparse_decode};
    return b;
}

}  // namespace engram
