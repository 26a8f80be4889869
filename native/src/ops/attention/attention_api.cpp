// attention_api.cpp — the attention entry points: validate every argument
// (messages name it), then act on the cache or dispatch to the backend. Every
// check runs before anything is written, so a failed call leaves the cache
// and the outputs as they were.
#include <cmath>
#include <cstring>
#include <memory>
#include <string>

#include "api/backend_table.hpp"
#include "api/run_op.hpp"
#include "api/tensor_checks.hpp"
#include "cuda/cuda_backend.hpp"
#include "ops/attention/attention_backend.hpp"
#include "ops/attention/attention_cache.hpp"
#include "ops/attention/attention_checks.hpp"
#include "ops/attention/attention_dsparse.hpp"

using namespace engram;

// The checks every attention entry point shares (attention_checks.hpp).
namespace engram {

const AttentionBackend& attention_backend(const engram_context& c) {
    return backend_table(c, attention_cpu_backend(), attention_cuda_backend(), "attention");
}

void attention_require_range(int64_t value, int64_t lo, int64_t hi, const char* name) {
    if (value < lo || value > hi)
        fail(ENGRAM_ERR_INVALID_ARGUMENT, format("%s = %lld is outside [%lld, %lld]", name,
                                                 (long long)value, (long long)lo, (long long)hi));
}

// The cache, checked against the context it is used with.
AttentionCache& attention_require_cache(engram_context& ctx, engram_attention_cache* cache) {
    require_not_null(cache, "cache");
    if (cache->ctx != &ctx)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("cache was created on context %p, not on ctx %p: a cache is used only with "
                    "its own context", (void*)cache->ctx, (void*)&ctx));
    return *cache;
}

void attention_require_layer(const AttentionCache& c, int32_t layer) {
    if (layer < 0 || layer >= c.layers)
        fail(ENGRAM_ERR_OUT_OF_RANGE,
             format("layer = %d is outside [0, %d) (the cache's layers)", layer, c.layers));
}

void attention_check_host(const void* p, const char* name) { cuda::check_host_buffer(p, name); }

float attention_resolve_scale(const engram_attention_options* opts, int64_t head_dim) {
    engram_attention_options o;
    engram_attention_options_init(&o);
    if (opts) {
        require_struct_size(opts->struct_size, sizeof *opts, "opts", "engram_attention_options_init");
        o = *opts;
    }
    if (!std::isfinite(o.scale) || o.scale < 0.0f)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("opts->scale must be finite and >= 0 (0 = 1/sqrt(D)), got %g", double(o.scale)));
    return o.scale == 0.0f ? float(1.0 / std::sqrt(double(head_dim))) : o.scale;
}

}  // namespace engram

namespace {

void require_range(int64_t value, int64_t lo, int64_t hi, const char* name) {
    attention_require_range(value, lo, hi, name);
}
AttentionCache& require_cache(engram_context& ctx, engram_attention_cache* cache) {
    return attention_require_cache(ctx, cache);
}
void require_layer(const AttentionCache& c, int32_t layer) { attention_require_layer(c, layer); }
void check_host(const void* p, const char* name) { attention_check_host(p, name); }
float resolve_scale(const engram_attention_options* opts, int64_t head_dim) {
    return attention_resolve_scale(opts, head_dim);
}

void check_policy(const int32_t* policy, int64_t count, const char* name) {
    for (int64_t i = 0; i < count; ++i)
        if (policy[i] != ENGRAM_ATTENTION_HEAD_RETRIEVAL && policy[i] != ENGRAM_ATTENTION_HEAD_STREAMING)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("%s[%lld] = %d is not an engram_attention_head_policy (0 retrieval, "
                        "1 streaming)", name, (long long)i, policy[i]));
}

std::unique_ptr<AttentionCache> validate_config(engram_context& ctx,
                                                const engram_attention_cache_config* cfg) {
    require_not_null(cfg, "config");
    require_struct_size(cfg->struct_size, sizeof *cfg, "config",
                        "engram_attention_cache_config_init");
    require_float_dtype(cfg->dtype, "config->dtype");
    require_dim(cfg->layers, "config->layers");
    require_dim(cfg->kv_heads, "config->kv_heads");
    require_range(cfg->head_dim, 1, ENGRAM_ATTENTION_MAX_HEAD_DIM, "config->head_dim");
    require_range(cfg->sink_tokens, 0, INT32_MAX, "config->sink_tokens");
    require_dim(cfg->window, "config->window");
    if (cfg->reserved != 0)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("config->reserved must be 0, got %d", cfg->reserved));
    require_dim(cfg->capacity, "config->capacity");
    const uint64_t heads = checked_bytes(cfg->layers, cfg->kv_heads, 1, "config->layers * kv_heads");
    // The per-head bookkeeping is allocated at create: keep it reasonable.
    if (heads > (uint64_t(1) << 24))
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("config->layers * kv_heads = %llu exceeds the supported maximum 2^24 heads",
                    (unsigned long long)heads));
    // The largest buffer a head may reach must be addressable.
    checked_bytes(cfg->capacity, cfg->head_dim, 4, "config->capacity * head_dim");
    if (cfg->policy) {
        require_aligned(cfg->policy, 4, "config->policy");
        check_host(cfg->policy, "config->policy");
        check_policy(cfg->policy, int64_t(heads), "config->policy");
    }
    auto c = std::make_unique<AttentionCache>();
    c->ctx = &ctx;
    c->dtype = engram_dtype(cfg->dtype);
    c->layers = cfg->layers;
    c->kv_heads = cfg->kv_heads;
    c->head_dim = cfg->head_dim;
    c->sink = cfg->sink_tokens;
    c->window = cfg->window;
    c->capacity = cfg->capacity;
    c->policy.assign(size_t(heads), ENGRAM_ATTENTION_HEAD_RETRIEVAL);
    if (cfg->policy) c->policy.assign(cfg->policy, cfg->policy + heads);
    c->length.assign(size_t(c->layers), 0);
    c->heads.resize(size_t(heads));
    c->label_r.assign(size_t(c->layers), 0);
    c->label_channels.resize(size_t(c->layers));
    return c;
}

// The checks append and prefill share: layer, tokens, dtype, capacity, k and v.
void validate_chunk(engram_context& ctx, const AttentionCache& a, int32_t layer, int64_t tokens,
                    engram_dtype dtype, const void* k, const void* v) {
    require_layer(a, layer);
    require_dim(tokens, "tokens");
    require_float_dtype(dtype, "dtype");
    if (dtype != ENGRAM_DTYPE_F32 && dtype != a.dtype)
        fail(ENGRAM_ERR_UNSUPPORTED,
             format("dtype = %s: keys and values are given as F32 or as the cache's storage "
                    "dtype (%s)", dtype_name(dtype), dtype_name(a.dtype)));
    const int64_t length = a.length[size_t(layer)];
    if (tokens > INT64_MAX / 2 - length)
        fail(ENGRAM_ERR_INVALID_ARGUMENT, format("tokens = %lld overflows the layer's length",
                                                 (long long)tokens));
    if (attention_layer_has_retrieval(a, layer) && length + tokens > a.capacity)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("tokens = %lld: layer %d holds %lld tokens and its retrieval heads hold at "
                    "most capacity = %lld", (long long)tokens, layer, (long long)length,
                    (long long)a.capacity));
    require_not_null(k, "k");
    require_not_null(v, "v");
    const uint64_t es = engram_dtype_size(dtype);
    require_aligned(k, es, "k");
    require_aligned(v, es, "v");
    const uint64_t rows = checked_bytes(a.kv_heads, tokens, 1, "k [H_kv, tokens, D]");
    const uint64_t bytes = checked_bytes(int64_t(rows), a.head_dim, es, "k [H_kv, tokens, D]");
    check_buffer(ctx, k, bytes, "k");
    check_buffer(ctx, v, bytes, "v");
}

// Writes a validated chunk into the layer (its storage already reserved) and
// sets the append counters. Nothing here can fail on the CPU (on CUDA only a
// failing device can).
void write_chunk(engram_context& ctx, const AttentionBackend& be, AttentionCache& a, int32_t layer,
                 int64_t tokens, engram_dtype dtype, const void* k, const void* v) {
    const int64_t length = a.length[size_t(layer)];
    const uint64_t sb = uint64_t(a.head_dim) * attention_elem_bytes(a.dtype);
    const uint64_t ib = uint64_t(a.head_dim) * engram_dtype_size(dtype);
    uint64_t evicted = 0;
    for (int32_t h = 0; h < a.kv_heads; ++h) {
        const bool streaming = attention_is_streaming(a, layer, h);
        const AttentionHeadStore& s = a.heads[size_t(layer) * size_t(a.kv_heads) + size_t(h)];
        // Tokens i0 .. i0 + run - 1 go to consecutive slots from slot0: one
        // store per run (a run breaks where the ring wraps or at a skip).
        int64_t i0 = 0, slot0 = 0, run = 0;
        auto flush = [&] {
            if (run == 0) return;
            const uint64_t in = (uint64_t(h) * uint64_t(tokens) + uint64_t(i0)) * ib;
            const int64_t elements = run * a.head_dim;
            be.store_rows(ctx, static_cast<const char*>(k) + in, dtype, elements, a.dtype,
                          static_cast<char*>(s.k) + uint64_t(slot0) * sb);
            be.store_rows(ctx, static_cast<const char*>(v) + in, dtype, elements, a.dtype,
                          static_cast<char*>(s.v) + uint64_t(slot0) * sb);
            for (int64_t j = 0; j < run; ++j)
                attention_store_label_row(a, layer, h, slot0 + j);  // Double Sparsity, if set
            run = 0;
        };
        for (int64_t i = 0; i < tokens; ++i) {
            const int64_t pos = length + i;
            // A window token a later token of this call overwrites is skipped.
            if (streaming && pos >= a.sink && pos < length + tokens - a.window) continue;
            const int64_t slot = attention_slot(a, streaming, pos);
            if (run > 0 && i == i0 + run && slot == slot0 + run) {
                ++run;
                continue;
            }
            flush();
            i0 = i;
            slot0 = slot;
            run = 1;
        }
        flush();
        if (streaming)
            evicted += uint64_t(attention_streaming_kept(a, length) + tokens -
                                attention_streaming_kept(a, length + tokens));
    }
    a.length[size_t(layer)] = length + tokens;
    op_stats_set(ctx.last_op, "tokens_appended", uint64_t(tokens));
    op_stats_set(ctx.last_op, "tokens_evicted", evicted);
}


}  // namespace

extern "C" {

ENGRAM_API engram_status engram_attention_cache_config_init(engram_attention_cache_config* config) {
    return guard(__func__, [&] {
        require_not_null(config, "config");
        std::memset(config, 0, sizeof *config);
        config->struct_size = sizeof *config;
        config->dtype = ENGRAM_DTYPE_F32;
        config->layers = 1;
        config->kv_heads = 1;
        config->head_dim = 128;
        config->sink_tokens = 4;
        config->window = 1024;
        config->capacity = 4096;
        config->policy = nullptr;
    });
}

ENGRAM_API engram_status engram_attention_cache_info_init(engram_attention_cache_info* info) {
    return guard(__func__, [&] {
        require_not_null(info, "info");
        std::memset(info, 0, sizeof *info);
        info->struct_size = sizeof *info;
    });
}

ENGRAM_API engram_status engram_attention_options_init(engram_attention_options* opts) {
    return guard(__func__, [&] {
        require_not_null(opts, "opts");
        std::memset(opts, 0, sizeof *opts);
        opts->struct_size = sizeof *opts;
        opts->scale = 0.0f;
    });
}

ENGRAM_API engram_status engram_attention_cache_create(engram_context* ctx,
                                                       const engram_attention_cache_config* config,
                                                       engram_attention_cache** out) {
    return guard(__func__, [&] {
        engram_context& c = require_context(ctx);
        require_not_null(out, "out");
        *out = nullptr;
        std::lock_guard<std::mutex> lock(c.mutex);
        attention_backend(c);  // a build without CUDA attention refuses a CUDA context
        std::unique_ptr<AttentionCache> cache = validate_config(c, config);
        // A CUDA context's cache keeps its rows in that device's memory.
        if (c.backend == ENGRAM_BACKEND_CUDA) cache->device = c.device;
        *out = cache.release();
    });
}

ENGRAM_API engram_status engram_attention_cache_destroy(engram_attention_cache* cache) {
    return guard(__func__, [&] { delete cache; });
}

ENGRAM_API engram_status engram_attention_cache_reset(engram_context* ctx,
                                                      engram_attention_cache* cache) {
    return guard(__func__, [&] {
        engram_context& c = require_context(ctx);
        std::lock_guard<std::mutex> lock(c.mutex);
        attention_cache_clear(require_cache(c, cache));
    });
}

ENGRAM_API engram_status engram_attention_cache_set_policy(engram_context* ctx,
                                                           engram_attention_cache* cache,
                                                           const int32_t* policy, int64_t count) {
    return guard(__func__, [&] {
        engram_context& c = require_context(ctx);
        std::lock_guard<std::mutex> lock(c.mutex);
        AttentionCache& a = require_cache(c, cache);
        require_not_null(policy, "policy");
        const int64_t heads = int64_t(a.layers) * a.kv_heads;
        if (count != heads)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("count = %lld, but the cache has layers * kv_heads = %d * %d = %lld heads",
                        (long long)count, a.layers, a.kv_heads, (long long)heads));
        require_aligned(policy, 4, "policy");
        check_host(policy, "policy");
        check_policy(policy, count, "policy");
        for (int32_t l = 0; l < a.layers; ++l)
            if (a.length[size_t(l)] != 0)
                fail(ENGRAM_ERR_INVALID_ARGUMENT,
                     format("cache is not empty (layer %d holds %lld tokens): set the policy "
                            "after create or reset", l, (long long)a.length[size_t(l)]));
        a.policy.assign(policy, policy + count);
    });
}

ENGRAM_API engram_status engram_attention_cache_get_info(engram_context* ctx,
                                                         engram_attention_cache* cache,
                                                         int32_t layer,
                                                         engram_attention_cache_info* info) {
    return guard(__func__, [&] {
        engram_context& c = require_context(ctx);
        std::lock_guard<std::mutex> lock(c.mutex);
        const AttentionCache& a = require_cache(c, cache);
        require_layer(a, layer);
        require_not_null(info, "info");
        require_struct_size(info->struct_size, sizeof *info, "info", "engram_attention_cache_info_init");
        engram_attention_cache_info r;
        std::memset(&r, 0, sizeof r);
        r.struct_size = sizeof r;
        r.layer = layer;
        r.length = a.length[size_t(layer)];
        r.retrieval_tokens = r.length;
        r.streaming_tokens = attention_streaming_kept(a, r.length);
        for (int32_t h = 0; h < a.kv_heads; ++h)
            (attention_is_streaming(a, layer, h) ? r.streaming_heads : r.retrieval_heads) += 1;
        r.layer_bytes = attention_layer_bytes(a, layer, false);
        r.layer_streaming_bytes = attention_layer_bytes(a, layer, true);
        r.total_bytes = attention_total_bytes(a);
        *info = r;
    });
}

ENGRAM_API engram_status engram_attention_cache_append(engram_context* ctx,
                                                       engram_attention_cache* cache,
                                                       int32_t layer, int64_t tokens,
                                                       engram_dtype dtype, const void* k,
                                                       const void* v) {
    return run_op(__func__, ENGRAM_OP_ATTENTION_CACHE_APPEND, ctx, [&](engram_context& c) {
        const AttentionBackend& be = attention_backend(c);
        AttentionCache& a = require_cache(c, cache);
        validate_chunk(c, a, layer, tokens, dtype, k, v);
        attention_cache_reserve(a, layer, a.length[size_t(layer)] + tokens);
        write_chunk(c, be, a, layer, tokens, dtype, k, v);
    });
}

ENGRAM_API engram_status engram_attention_decode(engram_context* ctx,
                                                 engram_attention_cache* cache, int32_t layer,
                                                 int64_t q_heads, engram_dtype dtype,
                                                 const void* q, void* out,
                                                 const engram_attention_options* opts) {
    return run_op(__func__, ENGRAM_OP_ATTENTION_DECODE, ctx, [&](engram_context& c) {
        const AttentionBackend& be = attention_backend(c);
        AttentionCache& a = require_cache(c, cache);
        require_layer(a, layer);
        require_dim(q_heads, "q_heads");
        if (q_heads % a.kv_heads != 0)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("q_heads = %lld is not a multiple of the cache's kv_heads = %d (GQA)",
                        (long long)q_heads, a.kv_heads));
        require_float_dtype(dtype, "dtype");
        AttentionDecodeProblem p;
        p.cache = &a;
        p.layer = layer;
        p.q_heads = q_heads;
        p.dtype = dtype;
        p.scale = resolve_scale(opts, a.head_dim);
        require_not_null(q, "q");
        require_not_null(out, "out");
        const uint64_t es = engram_dtype_size(dtype);
        require_aligned(q, es, "q");
        require_aligned(out, es, "out");
        const uint64_t bytes = checked_bytes(q_heads, a.head_dim, es, "q [q_heads, D]");
        check_buffer(c, q, bytes, "q");
        check_buffer(c, out, bytes, "out");
        require_disjoint({{q, bytes, "q", false}, {out, bytes, "out", true}});
        if (a.length[size_t(layer)] == 0)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("layer %d of cache is empty: append the token's keys and values before "
                        "decode", layer));
        p.q = q;
        p.out = out;
        be.decode(c, p);
    });
}

ENGRAM_API engram_status engram_attention_prefill(engram_context* ctx,
                                                  engram_attention_cache* cache, int32_t layer,
                                                  int64_t q_heads, int64_t tokens,
                                                  engram_dtype dtype, const void* q,
                                                  const void* k, const void* v, void* out,
                                                  const engram_attention_options* opts) {
    return run_op(__func__, ENGRAM_OP_ATTENTION_PREFILL, ctx, [&](engram_context& c) {
        const AttentionBackend& be = attention_backend(c);
        AttentionCache& a = require_cache(c, cache);
        validate_chunk(c, a, layer, tokens, dtype, k, v);
        require_dim(q_heads, "q_heads");
        if (q_heads % a.kv_heads != 0)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("q_heads = %lld is not a multiple of the cache's kv_heads = %d (GQA)",
                        (long long)q_heads, a.kv_heads));
        AttentionPrefillProblem p;
        p.cache = &a;
        p.layer = layer;
        p.q_heads = q_heads;
        p.tokens = tokens;
        p.cached = a.length[size_t(layer)];
        p.dtype = dtype;
        p.scale = resolve_scale(opts, a.head_dim);
        require_not_null(q, "q");
        require_not_null(out, "out");
        const uint64_t es = engram_dtype_size(dtype);
        require_aligned(q, es, "q");
        require_aligned(out, es, "out");
        const uint64_t qrows = checked_bytes(q_heads, tokens, 1, "q [q_heads, tokens, D]");
        const uint64_t qbytes = checked_bytes(int64_t(qrows), a.head_dim, es, "q [q_heads, tokens, D]");
        check_buffer(c, q, qbytes, "q");
        check_buffer(c, out, qbytes, "out");
        const uint64_t kvbytes = uint64_t(a.kv_heads) * uint64_t(tokens) * uint64_t(a.head_dim) * es;
        require_disjoint({{q, qbytes, "q", false},
                          {k, kvbytes, "k", false},
                          {v, kvbytes, "v", false},
                          {out, qbytes, "out", true}});
        // Grow first (the only step that can fail), attend over the cache as
        // it is, then append.
        attention_cache_reserve(a, layer, p.cached + tokens);
        p.q = q;
        p.k = k;
        p.v = v;
        p.out = out;
        be.prefill(c, p);
        write_chunk(c, be, a, layer, tokens, dtype, k, v);
    });
}

}  // extern "C"
