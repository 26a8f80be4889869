// attention_cuda.cpp — host side of CUDA attention (kernels/attention/): the
// cache's rows live in device memory (attention_storage_cuda.cpp); decode and
// prefill describe each unit's kept tokens as the cache's segments (computed
// on the host from the cache's lengths and policies, pointers into device
// rows), upload that table, pick the number of splits and launch the split-S
// kernels on the context's stream. No synchronisation.
//
// Prefill: the chunk's keys and values are first rounded to the storage dtype
// in device scratch (its queries see what the cache will hold, as on the
// CPU); each (token, KV head) is then a unit over attention_query_segments.
#include <cuda_runtime_api.h>

#include <vector>

#include "attention/attention_launch.cuh"
#include "core/error.hpp"
#include "core/op_stats.hpp"
#include "cuda/cuda_state.hpp"
#include "ops/attention/attention_backend.hpp"

namespace engram::cuda {

namespace {

namespace k = engram::kernels;

static_assert(k::kAttnMaxSegs == kAttentionMaxSegments, "one segment table layout");

k::AttnUnit make_unit(const AttentionSegment* segs, int n, int64_t q_row) {
    k::AttnUnit u{};
    u.nsegs = n;
    for (int i = 0; i < n; ++i) {
        u.segs[i] = k::AttnSeg{segs[i].k, segs[i].v, segs[i].count};
        u.total += segs[i].count;
    }
    u.q_row = q_row;
    return u;
}

// Uploads the units and runs partials + merge. longest: the most tokens of a unit.
void run_units(engram_context& ctx, const std::vector<k::AttnUnit>& units, int64_t longest,
               const AttentionCache& c, int64_t group, int64_t q_head_stride, engram_dtype dtype,
               const void* q, void* out, float scale) {
    DeviceState& st = state(ctx);
    k::AttnDecodeDev d{};
    d.q = q;
    d.out = out;
    d.n_units = int64_t(units.size());
    d.q_head_stride = q_head_stride;
    d.group = int32_t(group);
    d.head_dim = c.head_dim;
    d.io_dtype = int32_t(dtype);
    d.storage = int32_t(c.dtype);
    d.scale = scale;
    // Splits: enough blocks for about two waves over the SMs, splits of at
    // least 64 tokens (a split has fixed costs: its q load and the merge).
    const int64_t gblocks = (group + k::kAttnHeadsPerBlock - 1) / k::kAttnHeadsPerBlock;
    const int64_t base = d.n_units * gblocks;
    int64_t splits = (2 * int64_t(st.sm_count) + base - 1) / base;
    const int64_t most = (longest + 63) / 64;
    if (splits > most) splits = most;
    if (splits < 1) splits = 1;
    if (splits > 65535) splits = 65535;
    d.splits = int32_t(splits);
    d.split_len = (longest + splits - 1) / splits;
    ScratchLayout layout;
    const uint64_t units_at = layout.add(units.size() * sizeof(k::AttnUnit));
    const uint64_t part_at = layout.add(k::attn_partial_floats(d) * sizeof(float));
    DeviceScratch mem(ctx, layout.total());
    k::AttnUnit* dev_units = mem.at<k::AttnUnit>(units_at);
    d.units = dev_units;
    d.part = mem.at<float>(part_at);
    // Pageable source: the call returns once the table is staged.
    check_cuda(cudaMemcpyAsync(dev_units, units.data(), units.size() * sizeof(k::AttnUnit),
                               cudaMemcpyHostToDevice, st.stream),
               "cudaMemcpyAsync (attention segment table)");
    check_cuda(k::launch_attn_decode(d, st.stream), "launching the attention decode kernels");
}

void decode(engram_context& ctx, const AttentionDecodeProblem& p) {
    DeviceGuard guard(state(ctx).device);
    const AttentionCache& c = *p.cache;
    const int64_t G = p.group();
    std::vector<k::AttnUnit> units;
    units.reserve(size_t(c.kv_heads));
    int64_t longest = 0;
    uint64_t tokens = 0;
    for (int32_t h = 0; h < c.kv_heads; ++h) {
        AttentionSegment segs[kAttentionMaxSegments];
        const int n = attention_head_segments(c, p.layer, h, segs);
        units.push_back(make_unit(segs, n, int64_t(h) * G));  // q rows h*G .. h*G+G-1
        longest = units.back().total > longest ? units.back().total : longest;
        tokens += uint64_t(units.back().total);
    }
    run_units(ctx, units, longest, c, G, 1, p.dtype, p.q, p.out, p.scale);
    op_stats_set(ctx.last_op, "tokens_attended", tokens);
    op_stats_set(ctx.last_op, "kv_bytes_read",
                 tokens * 2 * uint64_t(c.head_dim) * attention_elem_bytes(c.dtype));
}

void store_rows(engram_context& ctx, const void* src, engram_dtype dtype, int64_t elements,
                engram_dtype storage, void* dst) {
    check_cuda(k::launch_attn_store(src, int32_t(dtype), elements, int32_t(storage), dst,
                                    state(ctx).stream),
               "storing attention cache rows");
}

void prefill(engram_context& ctx, const AttentionPrefillProblem& p) {
    DeviceGuard guard(state(ctx).device);
    const AttentionCache& c = *p.cache;
    const int64_t G = p.group(), D = c.head_dim, hkv = c.kv_heads, n = p.tokens;
    const uint64_t sb = uint64_t(D) * attention_elem_bytes(c.dtype);
    const uint64_t chunk_bytes = uint64_t(hkv) * uint64_t(n) * sb;
    DeviceScratch chunk(ctx, 2 * chunk_bytes);
    char* kc = chunk.at<char>(0);
    char* vc = kc + chunk_bytes;
    store_rows(ctx, p.k, p.dtype, hkv * n * D, c.dtype, kc);
    store_rows(ctx, p.v, p.dtype, hkv * n * D, c.dtype, vc);
    std::vector<k::AttnUnit> units;
    units.reserve(size_t(hkv * n));
    int64_t longest = 0;
    uint64_t tokens = 0;
    for (int64_t h = 0; h < hkv; ++h) {
        const char* hk = kc + uint64_t(h) * uint64_t(n) * sb;
        const char* hv = vc + uint64_t(h) * uint64_t(n) * sb;
        for (int64_t i = 0; i < n; ++i) {
            AttentionSegment segs[kAttentionMaxSegments];
            const int ns = attention_query_segments(c, p.layer, int32_t(h), p.cached, p.cached + i,
                                                    hk, hv, segs);
            // Query head h*G + g at token i is row (h*G + g) * n + i of q.
            units.push_back(make_unit(segs, ns, h * G * n + i));
            longest = units.back().total > longest ? units.back().total : longest;
            tokens += uint64_t(units.back().total);
        }
    }
    ScratchAccount table_account(ctx, units.size() * sizeof(k::AttnUnit));
    run_units(ctx, units, longest, c, G, n, p.dtype, p.q, p.out, p.scale);
    op_stats_set(ctx.last_op, "tokens_attended", tokens);
    op_stats_set(ctx.last_op, "kv_bytes_read", tokens * 2 * sb);
}

}  // namespace

}  // namespace engram::cuda

namespace engram {

const AttentionBackend* attention_cuda_backend() {
    static const AttentionBackend table{cuda::decode, cuda::prefill, cuda::store_rows};
    return &table;
}

}  // namespace engram
