// attention_dsparse.cpp — Double Sparsity: the entry points (calibrate, set
// the label channels, decode), validated before anything is written, and the
// label cache kept in step with the keys. The label rows of a head sit in
// the same slots as its keys (AttentionHeadStore::labels, grown with them by
// attention_cache_reserve), so they wrap exactly as a streaming head's ring.
#include "ops/attention/attention_dsparse.hpp"

#include <cstring>
#include <vector>

#include "api/run_op.hpp"
#include "api/tensor_checks.hpp"
#include "ops/attention/attention_checks.hpp"

namespace engram {

void attention_store_label_row(AttentionCache& c, int32_t layer, int32_t head, int64_t slot) {
    if (c.label_r.empty() || c.label_r[size_t(layer)] == 0) return;
    const int32_t r = c.label_r[size_t(layer)];
    const AttentionHeadStore& s = c.heads[size_t(layer) * size_t(c.kv_heads) + size_t(head)];
    const uint64_t es = attention_elem_bytes(c.dtype);
    const char* key = static_cast<const char*>(s.k) + uint64_t(slot) * uint64_t(c.head_dim) * es;
    char* row = static_cast<char*>(s.labels) + uint64_t(slot) * uint64_t(r) * es;
    const int32_t* ch = &c.label_channels[size_t(layer)][size_t(head) * size_t(r)];
    for (int32_t i = 0; i < r; ++i) std::memcpy(row + uint64_t(i) * es, key + uint64_t(ch[i]) * es, es);
}

uint64_t attention_layer_label_bytes(const AttentionCache& c, int32_t layer) {
    uint64_t bytes = 0;
    for (int32_t h = 0; h < c.kv_heads; ++h)
        bytes += c.heads[size_t(layer) * size_t(c.kv_heads) + size_t(h)].label_bytes;
    return bytes;
}

}  // namespace engram

using namespace engram;

namespace {

void require_gqa(int64_t q_heads, int64_t kv_heads) {
    require_dim(q_heads, "q_heads");
    if (q_heads % kv_heads != 0)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("q_heads = %lld is not a multiple of kv_heads = %lld (GQA)", (long long)q_heads,
                    (long long)kv_heads));
}

void check_channels(const int32_t* channels, int64_t heads, int32_t r, int32_t D) {
    for (int64_t h = 0; h < heads; ++h)
        for (int32_t i = 0; i < r; ++i) {
            const int32_t c = channels[h * r + i];
            const int64_t at = h * r + i;
            if (c < 0 || c >= D)
                fail(ENGRAM_ERR_INVALID_ARGUMENT,
                     format("channels[%lld] = %d is outside [0, %d) (head_dim)", (long long)at, c, D));
            if (i > 0 && c <= channels[at - 1])
                fail(ENGRAM_ERR_INVALID_ARGUMENT,
                     format("channels[%lld] = %d follows %d: a head's channels must be strictly "
                            "increasing", (long long)at, c, channels[at - 1]));
        }
}

}  // namespace

extern "C" {

ENGRAM_API engram_status engram_attention_dsparse_options_init(engram_attention_dsparse_options* opts) {
    return guard(__func__, [&] {
        require_not_null(opts, "opts");
        std::memset(opts, 0, sizeof *opts);
        opts->struct_size = sizeof *opts;
        opts->scale = 0.0f;
        opts->recent = 64;
    });
}

ENGRAM_API engram_status engram_attention_dsparse_calibrate(engram_context* ctx, int64_t q_heads,
                                                            int64_t kv_heads, int64_t tokens,
                                                            int64_t head_dim, engram_dtype dtype,
                                                            const void* q, const void* k, int32_t r,
                                                            int32_t* channels) {
    return run_op(__func__, ENGRAM_OP_ATTENTION_DSPARSE_CALIBRATE, ctx, [&](engram_context& c) {
        const AttentionBackend& be = attention_backend(c);
        if (!be.dsparse_calibrate || !be.dsparse_decode)
            fail(ENGRAM_ERR_UNSUPPORTED, "Double Sparsity runs on the CPU backend only (no CUDA kernels yet)");
        require_dim(kv_heads, "kv_heads");
        require_gqa(q_heads, kv_heads);
        require_dim(tokens, "tokens");
        attention_require_range(head_dim, 1, ENGRAM_ATTENTION_MAX_HEAD_DIM, "head_dim");
        require_float_dtype(dtype, "dtype");
        if (r < 1 || r > head_dim)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("r = %d is outside [1, head_dim = %lld]", r, (long long)head_dim));
        require_not_null(q, "q");
        require_not_null(k, "k");
        require_not_null(channels, "channels");
        const uint64_t es = engram_dtype_size(dtype);
        require_aligned(q, es, "q");
        require_aligned(k, es, "k");
        require_aligned(channels, 4, "channels");
        attention_check_host(q, "q");
        attention_check_host(k, "k");
        attention_check_host(channels, "channels");
        const uint64_t qrows = checked_bytes(q_heads, tokens, 1, "q [q_heads, tokens, D]");
        const uint64_t qbytes = checked_bytes(int64_t(qrows), head_dim, es, "q [q_heads, tokens, D]");
        const uint64_t krows = checked_bytes(kv_heads, tokens, 1, "k [kv_heads, tokens, D]");
        const uint64_t kbytes = checked_bytes(int64_t(krows), head_dim, es, "k [kv_heads, tokens, D]");
        const uint64_t cbytes = checked_bytes(kv_heads, r, 4, "channels [kv_heads, r]");
        require_disjoint({{q, qbytes, "q", false}, {k, kbytes, "k", false}, {channels, cbytes, "channels", true}});
        AttentionCalibrateProblem p;
        p.q_heads = q_heads;
        p.kv_heads = kv_heads;
        p.tokens = tokens;
        p.head_dim = head_dim;
        p.dtype = dtype;
        p.q = q;
        p.k = k;
        p.r = r;
        p.channels = channels;
        be.dsparse_calibrate(c, p);
    });
}

ENGRAM_API engram_status engram_attention_dsparse_set_channels(engram_context* ctx,
                                                               engram_attention_cache* cache,
                                                               int32_t layer, int32_t r,
                                                               const int32_t* channels) {
    return guard(__func__, [&] {
        engram_context& c = require_context(ctx);
        std::lock_guard<std::mutex> lock(c.mutex);
        AttentionCache& a = attention_require_cache(c, cache);
        attention_require_layer(a, layer);
        // The label cache is host memory, filled from the keys on the host.
        if (a.device >= 0)
            fail(ENGRAM_ERR_UNSUPPORTED,
                 "Double Sparsity labels need a cache on a CPU context (this cache is in device memory)");
        if (r < 1 || r > a.head_dim)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("r = %d is outside [1, head_dim = %d]", r, a.head_dim));
        require_not_null(channels, "channels");
        require_aligned(channels, 4, "channels");
        attention_check_host(channels, "channels");
        check_channels(channels, a.kv_heads, r, a.head_dim);
        // Allocate every head's new label rows first (the only step that can
        // fail), then commit: on error the layer keeps its old labels.
        const uint64_t es = attention_elem_bytes(a.dtype);
        const size_t base = size_t(layer) * size_t(a.kv_heads);
        std::vector<void*> rows(size_t(a.kv_heads), nullptr);
        std::vector<uint64_t> bytes(size_t(a.kv_heads), 0);
        try {
            for (int32_t h = 0; h < a.kv_heads; ++h) {
                const int64_t slots = a.heads[base + size_t(h)].slots;
                if (slots == 0) continue;
                bytes[size_t(h)] = (uint64_t(slots) * uint64_t(r) * es + 63) & ~uint64_t(63);
                rows[size_t(h)] = std::aligned_alloc(64, size_t(bytes[size_t(h)]));
                if (!rows[size_t(h)])
                    fail(ENGRAM_ERR_OUT_OF_MEMORY,
                         format("cannot allocate %llu bytes for the label cache",
                                (unsigned long long)bytes[size_t(h)]));
            }
        } catch (...) {
            for (void* p : rows) std::free(p);
            throw;
        }
        a.label_r[size_t(layer)] = r;
        a.label_channels[size_t(layer)].assign(channels, channels + int64_t(a.kv_heads) * r);
        const int64_t length = a.length[size_t(layer)];
        for (int32_t h = 0; h < a.kv_heads; ++h) {
            AttentionHeadStore& s = a.heads[base + size_t(h)];
            std::free(s.labels);
            s.labels = rows[size_t(h)];
            s.label_bytes = bytes[size_t(h)];
            // Fill the rows the head holds now (every slot below its kept count
            // is a token's row, whatever the policy).
            const bool streaming = attention_is_streaming(a, layer, h);
            const int64_t held = streaming ? attention_streaming_kept(a, length) : length;
            for (int64_t slot = 0; slot < held; ++slot) attention_store_label_row(a, layer, h, slot);
        }
    });
}

ENGRAM_API engram_status engram_attention_dsparse_decode(engram_context* ctx,
                                                         engram_attention_cache* cache,
                                                         int32_t layer, int64_t q_heads,
                                                         engram_dtype dtype, const void* q,
                                                         void* out, int64_t top_k,
                                                         const engram_attention_dsparse_options* opts) {
    return run_op(__func__, ENGRAM_OP_ATTENTION_DSPARSE_DECODE, ctx, [&](engram_context& c) {
        const AttentionBackend& be = attention_backend(c);
        if (!be.dsparse_calibrate || !be.dsparse_decode)
            fail(ENGRAM_ERR_UNSUPPORTED, "Double Sparsity runs on the CPU backend only (no CUDA kernels yet)");
        AttentionCache& a = attention_require_cache(c, cache);
        attention_require_layer(a, layer);
        require_gqa(q_heads, a.kv_heads);
        require_float_dtype(dtype, "dtype");
        engram_attention_dsparse_options o;
        engram_attention_dsparse_options_init(&o);
        if (opts) {
            require_struct_size(opts->struct_size, sizeof *opts, "opts",
                                "engram_attention_dsparse_options_init");
            o = *opts;
        }
        engram_attention_options so;
        engram_attention_options_init(&so);
        so.scale = o.scale;
        AttentionDsparseProblem p;
        p.cache = &a;
        p.layer = layer;
        p.q_heads = q_heads;
        p.dtype = dtype;
        p.scale = attention_resolve_scale(&so, a.head_dim);
        if (o.recent < 0)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("opts->recent = %lld must be >= 0", (long long)o.recent));
        require_not_null(q, "q");
        require_not_null(out, "out");
        const uint64_t es = engram_dtype_size(dtype);
        require_aligned(q, es, "q");
        require_aligned(out, es, "out");
        attention_check_host(q, "q");
        attention_check_host(out, "out");
        const uint64_t bytes = checked_bytes(q_heads, a.head_dim, es, "q [q_heads, D]");
        require_disjoint({{q, bytes, "q", false}, {out, bytes, "out", true}});
        const int64_t length = a.length[size_t(layer)];
        if (length == 0)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("layer %d of cache is empty: append the token's keys and values before "
                        "decode", layer));
        if (top_k < 1 || top_k > length)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("top_k = %lld is outside [1, S = %lld] (the layer's length)",
                        (long long)top_k, (long long)length));
        if (a.label_r[size_t(layer)] == 0)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("layer %d of cache has no label channels: call "
                        "engram_attention_dsparse_set_channels first", layer));
        p.q = q;
        p.out = out;
        p.top_k = top_k;
        p.recent = o.recent;
        be.dsparse_decode(c, p);
    });
}

}  // extern "C"
