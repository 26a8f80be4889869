// attention_test.cpp — attention decode over the KV cache against the float64
// reference: GQA ratios, head dims (64, 128 and 80, not a multiple of the
// AVX-512 width), storage and io dtypes, one token, ring-buffer wrap-around,
// no sinks, a window longer than the cache, the scale option. Fixtures named
// AttentionIsa also run with each lower CPU ISA forced (CMakeLists.txt).
#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

#include "ops/attention/attention_harness.hpp"

using namespace engram_test;

namespace {

// Fills the cache for `c`, decodes, and compares with the reference.
void check_case(const DecodeCase& c) {
    SCOPED_TRACE(c.describe());
    Context ctx(ENGRAM_BACKEND_CPU);
    ASSERT_TRUE(ctx.ok()) << ctx.error();
    const DecodeData d = make_decode_data(c);
    CacheHolder cache;
    ASSERT_TRUE(fill_cache(ctx.get(), c, d, cache));
    std::vector<float> out;
    ASSERT_TRUE(run_decode(ctx.get(), cache.get(), c, d, out));
    const RefDecodeOutput ref = reference_decode(c, d);
    EXPECT_TRUE(all_within("out", out, ref.out, decode_bound(c, ref), c.head_dim));
}

using Shape = std::tuple<int /*ratio*/, int /*D*/, engram_dtype /*storage*/>;

class AttentionIsaShapes : public ::testing::TestWithParam<Shape> {};

TEST_P(AttentionIsaShapes, DecodeMatchesReference) {
    const auto [ratio, D, storage] = GetParam();
    DecodeCase c;
    c.kv_heads = 3;  // policies alternate: heads 0, 2 retrieval, head 1 streaming
    c.q_heads = 3 * ratio;
    c.head_dim = D;
    c.length = 45;  // 45 > sink + W: the ring has wrapped
    c.sink = 3;
    c.window = 10;
    c.storage = storage;
    c.chunk = 0;  // random chunks, some longer than W
    c.seed = uint64_t(ratio * 1000 + D) + uint64_t(storage);
    check_case(c);
    c.append = storage;  // keys and values appended in the storage dtype
    c.chunk = 1;
    c.seed += 7;
    check_case(c);
}

INSTANTIATE_TEST_SUITE_P(CPU, AttentionIsaShapes,
                         ::testing::Combine(::testing::Values(1, 4, 8), ::testing::Values(64, 128, 80),
                                            ::testing::Values(ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16,
                                                              ENGRAM_DTYPE_BF16)),
                         [](const ::testing::TestParamInfo<Shape>& i) {
                             return "r" + std::to_string(std::get<0>(i.param)) + "_d" +
                                    std::to_string(std::get<1>(i.param)) + "_" +
                                    dtype_label(std::get<2>(i.param));
                         });

class AttentionIsa : public ::testing::Test {};

TEST_F(AttentionIsa, OneToken) {
    for (int32_t sink : {0, 1, 4})
        for (int32_t policy : {0, 1}) {
            DecodeCase c;
            c.q_heads = 4;
            c.kv_heads = 1;
            c.length = 1;
            c.sink = sink;
            c.window = 3;
            c.policy = {policy};
            c.seed = uint64_t(10 + sink * 2 + policy);
            check_case(c);
        }
}

TEST_F(AttentionIsa, RingBufferWrapsManyTimes) {
    DecodeCase c;
    c.q_heads = 8;
    c.kv_heads = 2;
    c.policy = {1, 1};
    c.head_dim = 80;
    c.length = 1500;  // the 7-token ring wraps ~200 times
    c.sink = 3;
    c.window = 7;
    c.chunk = 0;
    c.capacity = 1;  // no retrieval head: no capacity limit
    check_case(c);
    c.chunk = 1;
    c.length = 301;
    c.seed = 2;
    check_case(c);
}

TEST_F(AttentionIsa, NoSinkTokens) {
    DecodeCase c;
    c.q_heads = 2;
    c.kv_heads = 2;
    c.sink = 0;
    c.window = 5;
    c.length = 23;
    c.chunk = 0;
    check_case(c);
}

TEST_F(AttentionIsa, WindowLongerThanTheCache) {
    // S < W and S < sink: a streaming head keeps everything, like a retrieval head.
    for (int64_t length : {2, 9, 30}) {
        DecodeCase c;
        c.q_heads = 4;
        c.kv_heads = 2;
        c.sink = 4;
        c.window = 32;
        c.length = length;
        c.chunk = 0;
        c.seed = uint64_t(length);
        check_case(c);
    }
}

TEST_F(AttentionIsa, LongRetrievalCacheAndOddHeadDims) {
    for (int64_t D : {1, 7, 17, 33, 256}) {
        DecodeCase c;
        c.q_heads = 6;
        c.kv_heads = 2;
        c.head_dim = D;
        c.length = 200;
        c.sink = 2;
        c.window = 31;
        c.chunk = 0;
        c.storage = ENGRAM_DTYPE_BF16;
        c.seed = uint64_t(D);
        check_case(c);
    }
}

TEST_F(AttentionIsa, QueryAndOutputDtypes) {
    for (engram_dtype io : {ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16})
        for (engram_dtype storage : {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16}) {
            DecodeCase c;
            c.q_heads = 8;
            c.kv_heads = 2;
            c.head_dim = 128;
            c.length = 40;
            c.io = io;
            c.storage = storage;
            c.chunk = 5;
            c.seed = uint64_t(io * 3 + storage);
            check_case(c);
        }
}

TEST_F(AttentionIsa, ScaleOption) {
    for (float scale : {0.01f, 1.0f, 0.37f}) {
        DecodeCase c;
        c.q_heads = 4;
        c.kv_heads = 2;
        c.length = 50;
        c.scale = scale;
        c.chunk = 0;
        check_case(c);
    }
}

// A streaming head equals a retrieval head over the tokens it keeps: the same
// outputs as a retrieval cache that was given only those tokens.
TEST_F(AttentionIsa, StreamingEqualsRetrievalOverKeptTokens) {
    Context ctx(ENGRAM_BACKEND_CPU);
    ASSERT_TRUE(ctx.ok());
    DecodeCase s;
    s.q_heads = 4;
    s.kv_heads = 1;
    s.policy = {1};
    s.head_dim = 64;
    s.length = 77;
    s.sink = 5;
    s.window = 16;
    s.chunk = 0;
    const DecodeData ds = make_decode_data(s);
    CacheHolder cs;
    ASSERT_TRUE(fill_cache(ctx.get(), s, ds, cs));
    std::vector<float> out_s;
    ASSERT_TRUE(run_decode(ctx.get(), cs.get(), s, ds, out_s));

    DecodeCase r = s;
    r.policy = {0};
    DecodeData dr = ds;
    dr.policy = {0};
    const std::vector<int64_t> kept = ref_attention_kept(1, s.length, s.sink, s.window);
    r.length = int64_t(kept.size());
    dr.k.clear();
    dr.v.clear();
    for (int64_t p : kept)
        for (int64_t e = 0; e < s.head_dim; ++e) {
            dr.k.push_back(ds.k[size_t(p * s.head_dim + e)]);
            dr.v.push_back(ds.v[size_t(p * s.head_dim + e)]);
        }
    CacheHolder cr;
    ASSERT_TRUE(fill_cache(ctx.get(), r, dr, cr));
    std::vector<float> out_r;
    ASSERT_TRUE(run_decode(ctx.get(), cr.get(), r, dr, out_r));
    // (Not bit for bit: the streaming head's blocks of tokens start at its
    // segments, sinks and ring parts, so its sums are grouped differently.)
    const RefDecodeOutput ref = reference_decode(s, ds);
    EXPECT_TRUE(all_within("streaming vs retrieval", out_s, out_r, decode_bound(s, ref), s.head_dim));
}

}  // namespace
