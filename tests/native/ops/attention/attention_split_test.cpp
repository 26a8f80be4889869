// attention_split_test.cpp — decode split over S (cpu/attention_decode_split):
// caches longer than one part (kAttentionSplitTokens = 1024 tokens) against
// the float64 reference — part boundaries at 1024 and 1025 tokens, a
// streaming window longer than a part that wraps its ring many times, GQA
// 1/4/8, D 64/80/128, f32/f16/bf16 —, the merge of parts whose scores are
// all -inf or all below -88 (exp of the shift overflows f32), NaN in one
// part, and bit-identical results over repeats and thread counts 1/2/3.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "ops/attention/attention_harness.hpp"

using namespace engram_test;

namespace {

// Fills a cache for c with data d (possibly edited), decodes with `threads`.
std::vector<float> decode_with(const DecodeCase& c, const DecodeData& d, int threads) {
    Context ctx(ENGRAM_BACKEND_CPU);
    EXPECT_TRUE(ctx.ok()) << ctx.error();
    EXPECT_EQ(engram_context_set_threads(ctx.get(), threads), ENGRAM_OK);
    CacheHolder cache;
    EXPECT_TRUE(fill_cache(ctx.get(), c, d, cache));
    std::vector<float> out;
    EXPECT_TRUE(run_decode(ctx.get(), cache.get(), c, d, out));
    return out;
}

void check(const DecodeCase& c, const DecodeData& d) {
    SCOPED_TRACE(c.describe());
    const std::vector<float> out = decode_with(c, d, 2);
    const RefDecodeOutput ref = reference_decode(c, d);
    EXPECT_TRUE(all_within("out", out, ref.out, decode_bound(c, ref), c.head_dim));
}

using Shape = std::tuple<int /*ratio*/, int /*D*/, engram_dtype /*storage*/>;

class AttentionIsaSplit : public ::testing::TestWithParam<Shape> {};

TEST_P(AttentionIsaSplit, LongCacheMatchesReference) {
    const auto [ratio, D, storage] = GetParam();
    DecodeCase c;
    c.kv_heads = 2;  // head 0 retrieval (3 parts), head 1 streaming (2 parts, ring wrapped)
    c.q_heads = 2 * ratio;
    c.head_dim = D;
    c.length = 2 * 1024 + 37;
    c.sink = 5;
    c.window = 1100;  // sink + W > 1024: the streaming head is split too
    c.storage = storage;
    c.chunk = 0;
    c.seed = uint64_t(ratio * 100 + D) + uint64_t(storage);
    check(c, make_decode_data(c));
}

INSTANTIATE_TEST_SUITE_P(CPU, AttentionIsaSplit,
                         ::testing::Combine(::testing::Values(1, 4, 8), ::testing::Values(64, 128, 80),
                                            ::testing::Values(ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16,
                                                              ENGRAM_DTYPE_BF16)),
                         [](const ::testing::TestParamInfo<Shape>& i) {
                             return "r" + std::to_string(std::get<0>(i.param)) + "_d" +
                                    std::to_string(std::get<1>(i.param)) + "_" +
                                    dtype_label(std::get<2>(i.param));
                         });

class AttentionIsaSplitEdges : public ::testing::Test {};

TEST_F(AttentionIsaSplitEdges, PartBoundaries) {
    for (int64_t length : {1023, 1024, 1025, 2048, 3073}) {
        DecodeCase c;
        c.q_heads = 4;
        c.kv_heads = 1;
        c.head_dim = 64;
        c.length = length;
        c.policy = {0};
        c.chunk = 500;
        c.seed = uint64_t(length);
        check(c, make_decode_data(c));
    }
}

TEST_F(AttentionIsaSplitEdges, StreamingRingWrappedManyTimes) {
    DecodeCase c;
    c.q_heads = 8;
    c.kv_heads = 1;
    c.head_dim = 80;
    c.length = 9000;  // the 1500-token ring wraps 5 times; 2 parts of kept tokens
    c.sink = 3;
    c.window = 1500;
    c.capacity = 9000;
    c.policy = {1};
    c.chunk = 0;
    c.seed = 77;
    check(c, make_decode_data(c));
}

// Part 0's scores all -inf (a key component -inf, q's positive): it weighs
// nothing and the output is softmax over the other parts.
TEST_F(AttentionIsaSplitEdges, APartOfMinusInfinityScoresWeighsNothing) {
    DecodeCase c;
    c.q_heads = 1;
    c.kv_heads = 1;
    c.head_dim = 64;
    c.length = 2500;
    c.policy = {0};
    c.chunk = 300;
    DecodeData d = make_decode_data(c);
    d.q[0] = 1.0f;
    for (int64_t t = 0; t < 1024; ++t) d.k[size_t(t * c.head_dim)] = -INFINITY;
    check(c, d);
}

// Every score near -100: exp(0 - m) overflows f32, which must not turn the
// running sum 0 into 0 * inf = NaN (PyTorch gives a finite softmax).
TEST_F(AttentionIsaSplitEdges, AllScoresFarBelowZero) {
    for (int64_t length : {40, 2100}) {
        DecodeCase c;
        c.q_heads = 1;
        c.kv_heads = 1;
        c.head_dim = 64;
        c.length = length;
        c.policy = {0};
        c.chunk = 0;
        c.window = 100;
        c.seed = uint64_t(length) + 5;
        DecodeData d = make_decode_data(c);
        for (float& x : d.q) x = 1.0f;
        // scale = 1/8: score = 8 * k over 64 equal components = -(100 + t % 7).
        for (int64_t t = 0; t < length; ++t)
            for (int64_t e = 0; e < c.head_dim; ++e)
                d.k[size_t(t * c.head_dim + e)] = -float(100 + t % 7) / 512.0f;
        check(c, d);
        const std::vector<float> out = decode_with(c, d, 1);
        for (float x : out) ASSERT_TRUE(std::isfinite(x));
    }
}

TEST_F(AttentionIsaSplitEdges, NaNKeyInOnePartMakesTheHeadNaN) {
    DecodeCase c;
    c.q_heads = 4;
    c.kv_heads = 2;
    c.head_dim = 64;
    c.length = 3000;
    c.policy = {0, 0};
    c.chunk = 1000;
    DecodeData d = make_decode_data(c);
    d.k[size_t((1 * c.length + 2500) * c.head_dim + 3)] = NAN;  // head 1, part 2
    const std::vector<float> out = decode_with(c, d, 2);
    for (int64_t h = 0; h < 4; ++h)
        for (int64_t e = 0; e < c.head_dim; ++e)
            ASSERT_EQ(std::isnan(out[size_t(h * c.head_dim + e)]), h >= 2) << h << " " << e;
}

TEST(AttentionSplit, BitIdenticalOverRepeatsAndThreadCounts) {
    DecodeCase c;
    c.q_heads = 8;
    c.kv_heads = 2;
    c.head_dim = 128;
    c.length = 5000;
    c.sink = 4;
    c.window = 2000;
    c.capacity = 5000;
    c.storage = ENGRAM_DTYPE_BF16;
    c.chunk = 0;
    c.seed = 9;
    const DecodeData d = make_decode_data(c);
    const std::vector<float> first = decode_with(c, d, 1);
    for (int threads : {1, 2, 3})
        for (int rep = 0; rep < 2; ++rep) {
            const std::vector<float> again = decode_with(c, d, threads);
            ASSERT_EQ(0, std::memcmp(first.data(), again.data(), first.size() * sizeof(float)))
                << "threads " << threads;
        }
}

}  // namespace
