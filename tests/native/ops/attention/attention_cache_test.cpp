// attention_cache_test.cpp — the cache's behaviour beyond one decode: memory
// of streaming heads constant as the cache grows (byte count query), reset,
// set_policy, op stats, NaN propagation by the documented contract, and
// bit-identical results run to run and across thread counts.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "ops/attention/attention_harness.hpp"

using namespace engram_test;

namespace {

engram_attention_cache_info info_of(engram_context* ctx, engram_attention_cache* c, int32_t layer) {
    engram_attention_cache_info info;
    engram_attention_cache_info_init(&info);
    EXPECT_OK(engram_attention_cache_get_info(ctx, c, layer, &info));
    return info;
}

// Layer 0 all streaming, layer 1 all retrieval: appended token by token, the
// streaming layer's bytes stop growing at sink + W tokens, the retrieval
// layer's keep growing, and the counts match the policy.
TEST(AttentionCache, StreamingMemoryIsConstantAsTheCacheGrows) {
    Context ctx(ENGRAM_BACKEND_CPU);
    ASSERT_TRUE(ctx.ok());
    const int32_t H = 2, D = 64, sink = 4, W = 60;
    const int32_t policy[] = {1, 1, 0, 0};
    engram_attention_cache_config cfg;
    engram_attention_cache_config_init(&cfg);
    cfg.dtype = ENGRAM_DTYPE_BF16;
    cfg.layers = 2;
    cfg.kv_heads = H;
    cfg.head_dim = D;
    cfg.sink_tokens = sink;
    cfg.window = W;
    cfg.capacity = 1000;
    cfg.policy = policy;
    CacheHolder cache;
    ASSERT_OK(engram_attention_cache_create(ctx.get(), &cfg, cache.out()));
    EXPECT_EQ(0u, info_of(ctx.get(), cache.get(), 0).total_bytes);
    std::vector<float> kv(size_t(H * D), 0.5f);
    uint64_t full_streaming = 0;
    for (int64_t t = 1; t <= 1000; ++t) {
        for (int32_t l = 0; l < 2; ++l)
            ASSERT_OK(engram_attention_cache_append(ctx.get(), cache.get(), l, 1, ENGRAM_DTYPE_F32,
                                                    kv.data(), kv.data()));
        const engram_attention_cache_info s = info_of(ctx.get(), cache.get(), 0);
        const engram_attention_cache_info r = info_of(ctx.get(), cache.get(), 1);
        ASSERT_EQ(t, s.length);
        ASSERT_EQ(std::min<int64_t>(t, sink + W), s.streaming_tokens);
        ASSERT_EQ(t, r.retrieval_tokens);
        ASSERT_EQ(H, s.streaming_heads);
        ASSERT_EQ(H, r.retrieval_heads);
        ASSERT_EQ(s.layer_bytes, s.layer_streaming_bytes);
        ASSERT_EQ(0u, r.layer_streaming_bytes);
        ASSERT_EQ(s.total_bytes, s.layer_bytes + r.layer_bytes);
        // Rows of D bf16 values for K and V of each head, at least the kept tokens.
        ASSERT_GE(r.layer_bytes, uint64_t(t) * D * 2 * 2 * H);
        ASSERT_GE(s.layer_bytes, uint64_t(s.streaming_tokens) * D * 2 * 2 * H);
        if (t == sink + W) full_streaming = s.layer_bytes;
        if (t > sink + W) {
            ASSERT_EQ(full_streaming, s.layer_bytes) << "t = " << t;
        }
    }
    // Exactly the full ring (128-byte rows are 64-byte multiples).
    EXPECT_EQ(uint64_t(sink + W) * D * 2 * 2 * H, full_streaming);
    EXPECT_GT(info_of(ctx.get(), cache.get(), 1).layer_bytes, 10 * full_streaming);
    // Reset releases everything; the cache is usable again.
    ASSERT_OK(engram_attention_cache_reset(ctx.get(), cache.get()));
    const engram_attention_cache_info after = info_of(ctx.get(), cache.get(), 1);
    EXPECT_EQ(0, after.length);
    EXPECT_EQ(0u, after.total_bytes);
    ASSERT_OK(engram_attention_cache_append(ctx.get(), cache.get(), 1, 1, ENGRAM_DTYPE_F32,
                                            kv.data(), kv.data()));
    EXPECT_EQ(1, info_of(ctx.get(), cache.get(), 1).length);
}

TEST(AttentionCache, SetPolicyOnAnEmptyCacheChangesWhatHeadsKeep) {
    Context ctx(ENGRAM_BACKEND_CPU);
    ASSERT_TRUE(ctx.ok());
    DecodeCase c;
    c.q_heads = 2;
    c.kv_heads = 2;
    c.policy = {0, 0};
    c.length = 30;
    c.window = 4;
    DecodeData d = make_decode_data(c);
    CacheHolder cache;
    ASSERT_TRUE(fill_cache(ctx.get(), c, d, cache));
    const int32_t streaming[] = {1, 0};
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_attention_cache_set_policy(ctx.get(), cache.get(), streaming, 2),
                  "not empty", "reset");
    EXPECT_EQ(0, info_of(ctx.get(), cache.get(), 0).streaming_heads);
    ASSERT_OK(engram_attention_cache_reset(ctx.get(), cache.get()));
    ASSERT_OK(engram_attention_cache_set_policy(ctx.get(), cache.get(), streaming, 2));
    EXPECT_EQ(1, info_of(ctx.get(), cache.get(), 0).streaming_heads);
    // Refill through the same cache and compare with the reference.
    const int64_t D = c.head_dim;
    for (int64_t t = 0; t < c.length; ++t) {
        std::vector<float> k, v;
        for (int64_t h = 0; h < c.kv_heads; ++h)
            for (int64_t e = 0; e < D; ++e) {
                k.push_back(d.k[size_t((h * c.length + t) * D + e)]);
                v.push_back(d.v[size_t((h * c.length + t) * D + e)]);
            }
        ASSERT_OK(engram_attention_cache_append(ctx.get(), cache.get(), 0, 1, ENGRAM_DTYPE_F32,
                                                k.data(), v.data()));
    }
    c.policy = {1, 0};
    d.policy = c.policy;
    std::vector<float> out;
    ASSERT_TRUE(run_decode(ctx.get(), cache.get(), c, d, out));
    const RefDecodeOutput ref = reference_decode(c, d);
    EXPECT_EQ(c.sink + c.window, ref.kept[0]);
    EXPECT_TRUE(all_within("out", out, ref.out, decode_bound(c, ref), D));
}

TEST(AttentionCache, OpStatsCountTokens) {
    Context ctx(ENGRAM_BACKEND_CPU);
    ASSERT_TRUE(ctx.ok());
    DecodeCase c;
    c.q_heads = 4;
    c.kv_heads = 2;  // head 0 retrieval, head 1 streaming
    c.head_dim = 16;
    c.length = 20;
    c.sink = 2;
    c.window = 5;
    c.chunk = 20;
    c.storage = ENGRAM_DTYPE_F16;
    const DecodeData d = make_decode_data(c);
    CacheHolder cache;
    ASSERT_TRUE(fill_cache(ctx.get(), c, d, cache));
    engram_op_stats st;
    engram_op_stats_init(&st);
    ASSERT_OK(engram_context_get_op_stats(ctx.get(), &st));
    EXPECT_EQ(ENGRAM_OP_ATTENTION_CACHE_APPEND, st.op);
    EXPECT_EQ(20u, op_counter(st, "tokens_appended"));
    EXPECT_EQ(20u - 7u, op_counter(st, "tokens_evicted"));  // one streaming head keeps 2 + 5
    std::vector<float> out;
    ASSERT_TRUE(run_decode(ctx.get(), cache.get(), c, d, out));
    ASSERT_OK(engram_context_get_op_stats(ctx.get(), &st));
    EXPECT_EQ(ENGRAM_OP_ATTENTION_DECODE, st.op);
    EXPECT_EQ(20u + 7u, op_counter(st, "tokens_attended"));
    EXPECT_EQ((20u + 7u) * 16u * 2u * 2u, op_counter(st, "kv_bytes_read"));
    // Decode's scratch is released when it returns.
    engram_memory_stats m;
    engram_memory_stats_init(&m);
    ASSERT_OK(engram_context_get_memory_stats(ctx.get(), &m));
    EXPECT_EQ(0u, m.current_bytes);
    EXPECT_GT(m.peak_bytes, 0u);
}

// The contract of engram_attention.h for non-finite values, one head at a time.
class AttentionIsaNaN : public ::testing::Test {
protected:
    // 2 KV heads (0 retrieval, 1 streaming: sink 2, W 4), G = 2, D = 8, 20 tokens.
    DecodeCase c_;
    DecodeData d_;
    void SetUp() override {
        c_.q_heads = 4;
        c_.kv_heads = 2;
        c_.head_dim = 8;
        c_.length = 20;
        c_.sink = 2;
        c_.window = 4;
        c_.chunk = 0;
        d_ = make_decode_data(c_);
    }
    float& k(int64_t h, int64_t t, int64_t e) { return d_.k[size_t((h * c_.length + t) * 8 + e)]; }
    float& v(int64_t h, int64_t t, int64_t e) { return d_.v[size_t((h * c_.length + t) * 8 + e)]; }
    std::vector<float> run() {
        Context ctx(ENGRAM_BACKEND_CPU);
        CacheHolder cache;
        std::vector<float> out;
        EXPECT_TRUE(fill_cache(ctx.get(), c_, d_, cache));
        EXPECT_TRUE(run_decode(ctx.get(), cache.get(), c_, d_, out));
        return out;
    }
    static int nans(const std::vector<float>& out, int64_t qh) {
        int n = 0;
        for (int64_t e = 0; e < 8; ++e) n += std::isnan(out[size_t(qh * 8 + e)]);
        return n;
    }
};

TEST_F(AttentionIsaNaN, NaNInQueryMakesThatHeadNaN) {
    d_.q[size_t(1 * 8 + 3)] = NAN;
    const std::vector<float> out = run();
    EXPECT_EQ(0, nans(out, 0));
    EXPECT_EQ(8, nans(out, 1));
    EXPECT_EQ(0, nans(out, 2));
    EXPECT_EQ(0, nans(out, 3));
}

TEST_F(AttentionIsaNaN, NaNInAKeptKeyMakesItsKvHeadNaN) {
    k(1, 0, 5) = NAN;  // a sink of the streaming head: kept
    const std::vector<float> out = run();
    EXPECT_EQ(0, nans(out, 0));
    EXPECT_EQ(0, nans(out, 1));
    EXPECT_EQ(8, nans(out, 2));
    EXPECT_EQ(8, nans(out, 3));
}

TEST_F(AttentionIsaNaN, NaNInAnEvictedTokenIsGone) {
    k(1, 7, 0) = NAN;  // position 7 < 20 - 4 and >= sink: evicted from the ring
    v(1, 8, 2) = NAN;
    const std::vector<float> out = run();
    for (int64_t h = 0; h < 4; ++h) EXPECT_EQ(0, nans(out, h)) << h;
    // The retrieval head keeps everything: the same NaNs there poison it.
    k(0, 7, 0) = NAN;
    const std::vector<float> out2 = run();
    EXPECT_EQ(8, nans(out2, 0));
    EXPECT_EQ(8, nans(out2, 1));
}

TEST_F(AttentionIsaNaN, NaNInAKeptValueMakesThatColumnNaN) {
    v(0, 12, 6) = NAN;
    const std::vector<float> out = run();
    EXPECT_EQ(1, nans(out, 0));
    EXPECT_TRUE(std::isnan(out[6]));
    EXPECT_EQ(1, nans(out, 1));
    EXPECT_EQ(0, nans(out, 2));
}

TEST_F(AttentionIsaNaN, InfiniteScores) {
    // +inf score (inf key against a positive query entry): the head is NaN.
    d_.q[0] = 1.0f;
    d_.q[8] = 1.0f;
    k(0, 3, 0) = INFINITY;
    std::vector<float> out = run();
    EXPECT_EQ(8, nans(out, 0));
    EXPECT_EQ(8, nans(out, 1));
    // -inf scores weigh nothing: the head equals the reference without them.
    k(0, 3, 0) = -INFINITY;
    out = run();
    EXPECT_EQ(0, nans(out, 0));
    const RefDecodeOutput ref = reference_decode(c_, d_);
    std::vector<float> h0(out.begin(), out.begin() + 16);
    std::vector<double> r0(ref.out.begin(), ref.out.begin() + 16);
    EXPECT_TRUE(all_close("out of the heads with a -inf score", h0, r0, {1e-5, 1e-5}));
}

TEST_F(AttentionIsaNaN, AllScoresMinusInfinityGivesNaN) {
    c_.length = 3;
    c_.policy = {0, 0};
    d_ = make_decode_data(c_);
    d_.q[0] = 1.0f;
    for (int64_t t = 0; t < 3; ++t) k(0, t, 0) = -INFINITY;
    const std::vector<float> out = run();
    EXPECT_EQ(8, nans(out, 0));
}

// Results are bit-identical run to run and for 1, 2 and 3 threads.
TEST(AttentionCache, DeterministicAcrossRunsAndThreadCounts) {
    DecodeCase c;
    c.q_heads = 12;
    c.kv_heads = 3;
    c.head_dim = 128;
    c.length = 333;
    c.sink = 4;
    c.window = 64;
    c.chunk = 0;
    c.storage = ENGRAM_DTYPE_BF16;
    const DecodeData d = make_decode_data(c);
    Context ctx(ENGRAM_BACKEND_CPU);
    ASSERT_TRUE(ctx.ok());
    CacheHolder cache;
    ASSERT_TRUE(fill_cache(ctx.get(), c, d, cache));
    std::vector<float> first;
    ASSERT_TRUE(run_decode(ctx.get(), cache.get(), c, d, first));
    for (int32_t threads : {1, 2, 3, 1}) {
        ASSERT_OK(engram_context_set_threads(ctx.get(), threads));
        for (int rep = 0; rep < 2; ++rep) {
            std::vector<float> again;
            ASSERT_TRUE(run_decode(ctx.get(), cache.get(), c, d, again));
            ASSERT_EQ(0, std::memcmp(first.data(), again.data(), first.size() * sizeof(float)))
                << threads << " threads, repeat " << rep;
        }
    }
}

}  // namespace
