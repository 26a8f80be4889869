// attention_harness.cpp — see attention_harness.hpp.
#include "ops/attention/attention_harness.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "attention_tolerance.hpp"

namespace engram_test {

std::string DecodeCase::describe() const {
    std::ostringstream s;
    s << "Hq=" << q_heads << " Hkv=" << kv_heads << " D=" << head_dim << " S=" << length
      << " sink=" << sink << " W=" << window << " storage=" << dtype_label(storage)
      << " io=" << dtype_label(io) << " chunk=" << chunk << " seed=" << seed;
    return s.str();
}

DecodeData make_decode_data(const DecodeCase& c) {
    Rng rng(c.seed);
    DecodeData d;
    const int64_t D = c.head_dim;
    d.q.resize(size_t(c.q_heads * D));
    d.k.resize(size_t(c.kv_heads * c.length * D));
    d.v.resize(d.k.size());
    for (float& x : d.q) x = round_to(c.io, float(rng.normal()));
    for (float& x : d.k) x = round_to(c.storage, float(rng.normal()));
    for (float& x : d.v) x = round_to(c.storage, float(rng.normal()));
    d.policy = c.policy;
    if (d.policy.empty())
        for (int64_t h = 0; h < c.kv_heads; ++h) d.policy.push_back(int32_t(h % 2));
    return d;
}

StagedBytes::StagedBytes(engram_context* ctx, const std::vector<uint8_t>& host)
    : ctx_(ctx), host_(host) {
    engram_backend backend = ENGRAM_BACKEND_CPU;
    EXPECT_EQ(ENGRAM_OK, engram_context_get_backend(ctx, &backend));
    if (backend != ENGRAM_BACKEND_CUDA || host_.empty()) return;
    EXPECT_EQ(ENGRAM_OK, engram_device_alloc(ctx, host_.size(), &dev_)) << engram_last_error();
    if (dev_) {
        EXPECT_EQ(ENGRAM_OK, engram_copy_to_device(ctx, dev_, host_.data(), host_.size()))
            << engram_last_error();
    }
}

StagedBytes::~StagedBytes() {
    if (dev_) engram_device_free(ctx_, dev_);
}

std::vector<uint8_t> StagedBytes::read() const {
    if (!dev_) return host_;
    std::vector<uint8_t> r(host_.size());
    EXPECT_EQ(ENGRAM_OK, engram_copy_to_host(ctx_, r.data(), dev_, r.size())) << engram_last_error();
    return r;
}

::testing::AssertionResult fill_cache(engram_context* ctx, const DecodeCase& c,
                                      const DecodeData& d, CacheHolder& cache) {
    engram_attention_cache_config cfg;
    engram_attention_cache_config_init(&cfg);
    cfg.dtype = c.storage;
    cfg.layers = 1;
    cfg.kv_heads = int32_t(c.kv_heads);
    cfg.head_dim = int32_t(c.head_dim);
    cfg.sink_tokens = c.sink;
    cfg.window = c.window;
    cfg.capacity = c.capacity > 0 ? c.capacity : std::max<int64_t>(c.length, 1);
    cfg.policy = d.policy.data();
    if (engram_attention_cache_create(ctx, &cfg, cache.out()) != ENGRAM_OK)
        return ::testing::AssertionFailure() << "create: " << engram_last_error();
    Rng rng(c.seed ^ 0x5eed);
    const int64_t D = c.head_dim;
    for (int64_t t0 = 0; t0 < c.length;) {
        int64_t n = c.chunk > 0 ? c.chunk : rng.integer(1, 2 * int64_t(c.window));
        n = std::min(n, c.length - t0);
        std::vector<float> k(size_t(c.kv_heads * n * D)), v(k.size());
        for (int64_t h = 0; h < c.kv_heads; ++h)
            for (int64_t i = 0; i < n; ++i)
                for (int64_t e = 0; e < D; ++e) {
                    const size_t src = size_t((h * c.length + t0 + i) * D + e);
                    k[size_t((h * n + i) * D + e)] = d.k[src];
                    v[size_t((h * n + i) * D + e)] = d.v[src];
                }
        StagedBytes kb(ctx, encode_floats(c.append, k)), vb(ctx, encode_floats(c.append, v));
        if (engram_attention_cache_append(ctx, cache.get(), 0, n, c.append, kb.get(), vb.get()) !=
            ENGRAM_OK)
            return ::testing::AssertionFailure()
                   << "append at " << t0 << ": " << engram_last_error();
        t0 += n;
    }
    return ::testing::AssertionSuccess();
}

::testing::AssertionResult run_decode(engram_context* ctx, engram_attention_cache* cache,
                                      const DecodeCase& c, const DecodeData& d,
                                      std::vector<float>& out) {
    const std::vector<uint8_t> qh = encode_floats(c.io, d.q);
    StagedBytes qb(ctx, qh), ob(ctx, std::vector<uint8_t>(qh.size(), 0xFF));
    engram_attention_options opts;
    engram_attention_options_init(&opts);
    opts.scale = c.scale;
    if (engram_attention_decode(ctx, cache, 0, c.q_heads, c.io, qb.get(), ob.get(), &opts) !=
        ENGRAM_OK)
        return ::testing::AssertionFailure() << "decode: " << engram_last_error();
    out = decode_floats(c.io, ob.read().data(), d.q.size());
    return ::testing::AssertionSuccess();
}

RefDecodeOutput reference_decode(const DecodeCase& c, const DecodeData& d) {
    RefDecodeInput in;
    in.q_heads = c.q_heads;
    in.kv_heads = c.kv_heads;
    in.head_dim = c.head_dim;
    in.length = c.length;
    in.sink = c.sink;
    in.window = c.window;
    in.scale = c.scale != 0.0f ? double(c.scale) : 1.0 / std::sqrt(double(c.head_dim));
    in.q.assign(d.q.begin(), d.q.end());
    in.k.assign(d.k.begin(), d.k.end());
    in.v.assign(d.v.begin(), d.v.end());
    in.policy = d.policy;
    return ref_attention_decode(in);
}

// The attention tolerance model (perf/native/suites/attention_tolerance.hpp,
// shared with the case suite).
std::vector<double> decode_bound(const DecodeCase& c, const RefDecodeOutput& ref) {
    return engram_suite::attention_decode_bound(c.q_heads, c.kv_heads, c.head_dim, c.io, ref);
}

}  // namespace engram_test
