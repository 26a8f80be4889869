// attention_policy_test.cpp — per-head policies from a pattern: the JSON
// parser (valid texts read exactly, malformed ones rejected with a located
// message and the scores untouched), the sparsity ratio over scores (which
// heads stream, checked through decode against the reference with that
// policy), the 0/1 file applied by threshold, and every bad input leaving the
// cache's policy as it was.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <unistd.h>

#include "ops/attention/attention_harness.hpp"

using namespace engram_test;

namespace {

engram_status parse(const std::string& text, int32_t layers, int32_t heads, std::vector<float>& s) {
    return engram_attention_pattern_parse(text.data(), int64_t(text.size()), layers, heads, s.data(),
                                          int64_t(s.size()));
}

bool create_cache(engram_context* ctx, int32_t layers, int32_t heads, CacheHolder& cache,
                  int64_t D = 16, int32_t sink = 2, int32_t window = 5, int64_t capacity = 64) {
    engram_attention_cache_config cfg;
    engram_attention_cache_config_init(&cfg);
    cfg.layers = layers;
    cfg.kv_heads = heads;
    cfg.head_dim = int32_t(D);
    cfg.sink_tokens = sink;
    cfg.window = window;
    cfg.capacity = capacity;
    return engram_attention_cache_create(ctx, &cfg, cache.out()) == ENGRAM_OK;
}

int32_t streaming_heads(engram_context* ctx, engram_attention_cache* c, int32_t layer) {
    engram_attention_cache_info info;
    engram_attention_cache_info_init(&info);
    EXPECT_EQ(engram_attention_cache_get_info(ctx, c, layer, &info), ENGRAM_OK);
    return info.streaming_heads;
}

std::string write_temp(const std::string& text) {
    char name[] = "/tmp/engram_pattern_XXXXXX";
    const int fd = mkstemp(name);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(write(fd, text.data(), text.size()), ssize_t(text.size()));
    close(fd);
    return name;
}

// Appends the case's tokens to a cache whose policy was set by the call under
// test, decodes, and checks against the reference with `expected` policy.
void check_decode_with_policy(engram_context* ctx, engram_attention_cache* cache, DecodeCase c,
                              const std::vector<int32_t>& expected) {
    c.policy = expected;
    const DecodeData d = make_decode_data(c);
    const int64_t D = c.head_dim;
    for (int64_t t = 0; t < c.length; ++t) {
        std::vector<float> k(size_t(c.kv_heads * D)), v(k.size());
        for (int64_t h = 0; h < c.kv_heads; ++h)
            for (int64_t e = 0; e < D; ++e) {
                k[size_t(h * D + e)] = d.k[size_t((h * c.length + t) * D + e)];
                v[size_t(h * D + e)] = d.v[size_t((h * c.length + t) * D + e)];
            }
        ASSERT_EQ(engram_attention_cache_append(ctx, cache, 0, 1, ENGRAM_DTYPE_F32, k.data(), v.data()),
                  ENGRAM_OK)
            << engram_last_error();
    }
    std::vector<float> out;
    ASSERT_TRUE(run_decode(ctx, cache, c, d, out));
    const RefDecodeOutput ref = reference_decode(c, d);
    EXPECT_TRUE(all_within("out", out, ref.out, decode_bound(c, ref), c.head_dim));
}

TEST(AttentionPolicy, ParsesValidPatternsExactly) {
    std::vector<float> s(6, -7.0f);
    ASSERT_EQ(parse("{\"layers\":2,\"kv_heads\":3,\"scores\":[[1,0,0.25],[0.5,0.75,0]]}", 2, 3, s),
              ENGRAM_OK)
        << engram_last_error();
    EXPECT_EQ(s, (std::vector<float>{1, 0, 0.25f, 0.5f, 0.75f, 0}));
    // Any key order, whitespace, exponents, negatives, -0, a trailing newline.
    ASSERT_EQ(parse(" \r\n\t{ \"scores\" : [ [ -1.5e-1 , 2E+2 , -0 ] ,\n [ 1e0, 0.0625, 3 ] ],\n"
                    " \"kv_heads\" : 3 , \"layers\" : 2.0e0 }\n",
                    2, 3, s),
              ENGRAM_OK)
        << engram_last_error();
    EXPECT_EQ(s, (std::vector<float>{-0.15f, 200.0f, 0.0f, 1.0f, 0.0625f, 3.0f}));
    std::vector<float> one(1);
    ASSERT_EQ(parse("{\"layers\":1,\"kv_heads\":1,\"scores\":[[0.3]]}", 1, 1, one), ENGRAM_OK);
    EXPECT_EQ(one[0], 0.3f);  // rounded from the double 0.3, to nearest
}

TEST(AttentionPolicy, RejectsMalformedPatternsWithALocatedMessage) {
    struct Case {
        const char* text;
        const char* needle;
    };
    const Case cases[] = {
        {"", "ends where '{'"},
        {"[]", "expected '{'"},
        {"{}", "empty"},
        {"{\"layers\":1,\"kv_heads\":1,\"scores\":[[1]]", "ends where ',' or '}'"},
        {"{\"layers\":1,\"kv_heads\":1,\"scores\":[[1]]}x", "after the pattern"},
        {"{\"layers\":1,\"kv_heads\":1,\"scores\":[[1]],}", "a key string"},
        {"{\"layers\":1,\"kv_heads\":1,\"scores\":[[1,]]}", "expected a number"},
        {"{\"layers\":1,\"kv_heads\":1,\"scores\":[[01]]}", "',' or ']' in a row"},
        {"{\"layers\":1,\"kv_heads\":1,\"scores\":[[1.]]}", "digits after '.'"},
        {"{\"layers\":1,\"kv_heads\":1,\"scores\":[[1e]]}", "exponent"},
        {"{\"layers\":1,\"kv_heads\":1,\"scores\":[[+1]]}", "expected a number"},
        {"{\"layers\":1,\"kv_heads\":1,\"scores\":[[NaN]]}", "expected a number"},
        {"{\"layers\":1,\"kv_heads\":1,\"scores\":[[1e999]]}", "not a finite f32"},
        {"{\"layers\":1,\"kv_heads\":1,\"scores\":[[1e39]]}", "not a finite f32"},
        {"{\"layers\":1,\"kv_heads\":1,\"scores\":[1]}", "'[' starting a row"},
        {"{\"layers\":1,\"kv_heads\":1,\"scores\":1}", "'[' starting \"scores\""},
        {"{\"layers\":1.5,\"kv_heads\":1,\"scores\":[[1]]}", "\"layers\" must be an integer"},
        {"{\"layers\":0,\"kv_heads\":1,\"scores\":[]}", "\"layers\" must be an integer"},
        {"{\"layers\":1,\"layers\":1,\"kv_heads\":1,\"scores\":[[1]]}", "appears twice"},
        {"{\"layers\":1,\"kv_heads\":1,\"scores\":[[1]],\"scores\":[[1]]}", "appears twice"},
        {"{\"layers\":1,\"kv_heads\":1,\"gates\":[[1]]}", "unknown key \"gates\""},
        {"{\"lay\\u0065rs\":1}", "escapes"},
        {"{layers:1}", "a key string"},
        {"{\"kv_heads\":1,\"scores\":[[1]]}", "no \"layers\""},
        {"{\"layers\":1,\"scores\":[[1]]}", "no \"kv_heads\""},
        {"{\"layers\":1,\"kv_heads\":1}", "no \"scores\""},
        {"{\"layers\":\n1,\n \"kv_heads\":1,\"scores\":[[1] [1]]}", "line 3, column"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.text);
        std::vector<float> s(1, -7.0f);
        EXPECT_EQ(parse(c.text, 1, 1, s), ENGRAM_ERR_INVALID_ARGUMENT);
        EXPECT_NE(std::string(engram_last_error()).find(c.needle), std::string::npos)
            << engram_last_error();
        EXPECT_EQ(s[0], -7.0f);
    }
}

TEST(AttentionPolicy, RejectsAPatternOfAnotherShape) {
    std::vector<float> s(4, -7.0f);
    const std::string two_by_two = "{\"layers\":2,\"kv_heads\":2,\"scores\":[[1,0],[0,1]]}";
    std::vector<float> s6(6, -7.0f);
    EXPECT_EQ(parse(two_by_two, 2, 3, s6), ENGRAM_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(engram_last_error()).find("kv_heads = 2; the cache has layers = 2, kv_heads = 3"),
              std::string::npos)
        << engram_last_error();
    EXPECT_EQ(parse("{\"layers\":2,\"kv_heads\":2,\"scores\":[[1,0]]}", 2, 2, s), ENGRAM_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(engram_last_error()).find("1 rows"), std::string::npos) << engram_last_error();
    EXPECT_EQ(parse("{\"layers\":2,\"kv_heads\":2,\"scores\":[[1,0],[1]]}", 2, 2, s), ENGRAM_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(engram_last_error()).find("\"scores\"[1] has 1 values"), std::string::npos)
        << engram_last_error();
    EXPECT_EQ(s, std::vector<float>(4, -7.0f));
    // The arguments themselves.
    EXPECT_EQ(engram_attention_pattern_parse(nullptr, 0, 2, 2, s.data(), 4), ENGRAM_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(engram_last_error()).find("text"), std::string::npos);
    EXPECT_EQ(engram_attention_pattern_parse(two_by_two.data(), -1, 2, 2, s.data(), 4), ENGRAM_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(engram_last_error()).find("bytes"), std::string::npos);
    EXPECT_EQ(engram_attention_pattern_parse(two_by_two.data(), int64_t(two_by_two.size()), 2, 2, s.data(), 3),
              ENGRAM_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(engram_last_error()).find("count = 3"), std::string::npos);
    EXPECT_EQ(engram_attention_pattern_parse(two_by_two.data(), int64_t(two_by_two.size()), 0, 2, s.data(), 4),
              ENGRAM_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(engram_last_error()).find("layers"), std::string::npos);
    EXPECT_EQ(engram_attention_pattern_parse(two_by_two.data(), int64_t(two_by_two.size()), 2, 2, nullptr, 4),
              ENGRAM_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(engram_last_error()).find("scores"), std::string::npos);
    EXPECT_EQ(s, std::vector<float>(4, -7.0f));
    // A prefix of a valid text is not valid.
    EXPECT_EQ(engram_attention_pattern_parse(two_by_two.data(), int64_t(two_by_two.size()) - 1, 2, 2, s.data(), 4),
              ENGRAM_ERR_INVALID_ARGUMENT);
}

TEST(AttentionPolicy, RatioMakesTheLowestScoringHeadsStreaming) {
    Context ctx(ENGRAM_BACKEND_CPU);
    ASSERT_TRUE(ctx.ok()) << ctx.error();
    // One layer, 4 heads, ties between heads 1 and 3 (the lower index streams first).
    const float scores[] = {0.9f, 0.2f, 0.7f, 0.2f};
    struct Case {
        float sparsity;
        std::vector<int32_t> policy;
    };
    const Case cases[] = {{0.0f, {0, 0, 0, 0}},
                          {0.25f, {0, 1, 0, 0}},
                          {0.5f, {0, 1, 0, 1}},
                          {0.6f, {0, 1, 0, 1}},   // round(2.4) = 2
                          {0.625f, {0, 1, 1, 1}},  // round(2.5) = 3 (half up)
                          {1.0f, {1, 1, 1, 1}}};
    for (const Case& k : cases) {
        SCOPED_TRACE(k.sparsity);
        CacheHolder cache;
        ASSERT_TRUE(create_cache(ctx.get(), 1, 4, cache, 16, 2, 5, 64));
        ASSERT_EQ(engram_attention_cache_set_policy_by_ratio(ctx.get(), cache.get(), scores, 4, k.sparsity),
                  ENGRAM_OK)
            << engram_last_error();
        DecodeCase c;
        c.q_heads = 8;
        c.kv_heads = 4;
        c.head_dim = 16;
        c.length = 30;  // > sink + W: streaming and retrieval heads differ
        c.sink = 2;
        c.window = 5;
        c.seed = uint64_t(100 * k.sparsity) + 3;
        check_decode_with_policy(ctx.get(), cache.get(), c, k.policy);
    }
}

TEST(AttentionPolicy, RatioRanksAllLayersTogether) {
    Context ctx(ENGRAM_BACKEND_CPU);
    ASSERT_TRUE(ctx.ok());
    CacheHolder cache;
    ASSERT_TRUE(create_cache(ctx.get(), 3, 2, cache));
    const float scores[] = {0.1f, 0.2f, 0.9f, 0.8f, 0.3f, 0.05f};  // lowest three: 5, 0, 1
    ASSERT_EQ(engram_attention_cache_set_policy_by_ratio(ctx.get(), cache.get(), scores, 6, 0.5f), ENGRAM_OK);
    EXPECT_EQ(streaming_heads(ctx.get(), cache.get(), 0), 2);
    EXPECT_EQ(streaming_heads(ctx.get(), cache.get(), 1), 0);
    EXPECT_EQ(streaming_heads(ctx.get(), cache.get(), 2), 1);
}

TEST(AttentionPolicy, LoadsAZeroOnePatternFileByThresholdOrRatio) {
    Context ctx(ENGRAM_BACKEND_CPU);
    ASSERT_TRUE(ctx.ok());
    // Layer 0: heads 1, 2 retrieval (1), 0 and 3 streaming (0).
    const std::string path =
        write_temp("{\"layers\": 1, \"kv_heads\": 4,\n \"scores\": [[0, 1, 1, 0]]}\n");
    {
        CacheHolder cache;
        ASSERT_TRUE(create_cache(ctx.get(), 1, 4, cache));
        ASSERT_EQ(engram_attention_cache_load_pattern(ctx.get(), cache.get(), path.c_str(),
                                                      ENGRAM_ATTENTION_PATTERN_THRESHOLD),
                  ENGRAM_OK)
            << engram_last_error();
        DecodeCase c;
        c.q_heads = 4;
        c.kv_heads = 4;
        c.head_dim = 16;
        c.length = 25;
        c.sink = 2;
        c.window = 5;
        check_decode_with_policy(ctx.get(), cache.get(), c, {1, 0, 0, 1});
    }
    {
        CacheHolder cache;
        ASSERT_TRUE(create_cache(ctx.get(), 1, 4, cache));
        ASSERT_EQ(engram_attention_cache_load_pattern(ctx.get(), cache.get(), path.c_str(), 0.25f), ENGRAM_OK);
        EXPECT_EQ(streaming_heads(ctx.get(), cache.get(), 0), 1);  // head 0 (tie with 3, lower first)
    }
    {
        CacheHolder cache;  // a pattern for 1 x 4 heads does not fit 2 x 2
        ASSERT_TRUE(create_cache(ctx.get(), 2, 2, cache));
        EXPECT_EQ(engram_attention_cache_load_pattern(ctx.get(), cache.get(), path.c_str(), 0.5f),
                  ENGRAM_ERR_INVALID_ARGUMENT);
        EXPECT_NE(std::string(engram_last_error()).find("layers = 1, kv_heads = 4"), std::string::npos)
            << engram_last_error();
        EXPECT_EQ(streaming_heads(ctx.get(), cache.get(), 0), 0);
    }
    std::remove(path.c_str());
}

TEST(AttentionPolicy, BadInputLeavesThePolicyUnchanged) {
    Context ctx(ENGRAM_BACKEND_CPU);
    ASSERT_TRUE(ctx.ok());
    CacheHolder cache;
    ASSERT_TRUE(create_cache(ctx.get(), 1, 4, cache));
    const float base[] = {0.0f, 1.0f, 1.0f, 0.0f};
    ASSERT_EQ(engram_attention_cache_set_policy_by_ratio(ctx.get(), cache.get(), base, 4, 0.5f), ENGRAM_OK);
    ASSERT_EQ(streaming_heads(ctx.get(), cache.get(), 0), 2);
    const float nan_scores[] = {0.0f, NAN, 1.0f, 0.0f};
    const float inf_scores[] = {0.0f, 1.0f, -INFINITY, 0.0f};
    const std::string bad = write_temp("{\"layers\": 1, \"kv_heads\": 4, \"scores\": [[0, 1, 1, 0]");
    struct Case {
        engram_status got;
        engram_status want;
        const char* needle;
    };
    const float zero[] = {0, 0, 0, 0};
    const Case cases[] = {
        {engram_attention_cache_set_policy_by_ratio(ctx.get(), cache.get(), zero, 4, -0.01f), ENGRAM_ERR_INVALID_ARGUMENT, "sparsity = -0.01"},
        {engram_attention_cache_set_policy_by_ratio(ctx.get(), cache.get(), zero, 4, 1.5f), ENGRAM_ERR_INVALID_ARGUMENT, "sparsity = 1.5"},
        {engram_attention_cache_set_policy_by_ratio(ctx.get(), cache.get(), zero, 4, NAN), ENGRAM_ERR_INVALID_ARGUMENT, "sparsity = nan"},
        {engram_attention_cache_set_policy_by_ratio(ctx.get(), cache.get(), zero, 4, ENGRAM_ATTENTION_PATTERN_THRESHOLD), ENGRAM_ERR_INVALID_ARGUMENT, "sparsity = -1"},
        {engram_attention_cache_set_policy_by_ratio(ctx.get(), cache.get(), zero, 3, 1.0f), ENGRAM_ERR_INVALID_ARGUMENT, "count = 3"},
        {engram_attention_cache_set_policy_by_ratio(ctx.get(), cache.get(), nullptr, 4, 1.0f), ENGRAM_ERR_INVALID_ARGUMENT, "scores"},
        {engram_attention_cache_set_policy_by_ratio(ctx.get(), cache.get(), nan_scores, 4, 1.0f), ENGRAM_ERR_INVALID_ARGUMENT, "scores[1] = nan"},
        {engram_attention_cache_set_policy_by_ratio(ctx.get(), cache.get(), inf_scores, 4, 1.0f), ENGRAM_ERR_INVALID_ARGUMENT, "scores[2] = -inf"},
        {engram_attention_cache_set_policy_by_ratio(nullptr, cache.get(), zero, 4, 1.0f), ENGRAM_ERR_INVALID_ARGUMENT, "ctx"},
        {engram_attention_cache_set_policy_by_ratio(ctx.get(), nullptr, zero, 4, 1.0f), ENGRAM_ERR_INVALID_ARGUMENT, "cache"},
        {engram_attention_cache_load_pattern(ctx.get(), cache.get(), "/nonexistent/engram.json", 1.0f), ENGRAM_ERR_INVALID_ARGUMENT, "path = \"/nonexistent/engram.json\" cannot be opened"},
        {engram_attention_cache_load_pattern(ctx.get(), cache.get(), nullptr, 1.0f), ENGRAM_ERR_INVALID_ARGUMENT, "path"},
        {engram_attention_cache_load_pattern(ctx.get(), cache.get(), bad.c_str(), 1.0f), ENGRAM_ERR_INVALID_ARGUMENT, "pattern is not valid: line 1"},
        {engram_attention_cache_load_pattern(ctx.get(), cache.get(), bad.c_str(), -0.5f), ENGRAM_ERR_INVALID_ARGUMENT, "sparsity = -0.5"},
        {engram_attention_cache_load_pattern(ctx.get(), cache.get(), bad.c_str(), 2.0f), ENGRAM_ERR_INVALID_ARGUMENT, "sparsity = 2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        SCOPED_TRACE(i);
        EXPECT_EQ(cases[i].got, cases[i].want);
    }
    // Messages: re-run each to read its own message (the table ran them in order).
    EXPECT_EQ(engram_attention_cache_set_policy_by_ratio(ctx.get(), cache.get(), nan_scores, 4, 1.0f), ENGRAM_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(engram_last_error()).find("scores[1] = nan"), std::string::npos) << engram_last_error();
    EXPECT_EQ(engram_attention_cache_set_policy_by_ratio(ctx.get(), cache.get(), zero, 4, 1.5f), ENGRAM_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(engram_last_error()).find("sparsity = 1.5"), std::string::npos) << engram_last_error();
    EXPECT_EQ(engram_attention_cache_load_pattern(ctx.get(), cache.get(), "/nonexistent/engram.json", 1.0f), ENGRAM_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(engram_last_error()).find("/nonexistent/engram.json"), std::string::npos) << engram_last_error();
    EXPECT_EQ(engram_attention_cache_load_pattern(ctx.get(), cache.get(), bad.c_str(), 1.0f), ENGRAM_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(engram_last_error()).find("pattern is not valid: line 1"), std::string::npos) << engram_last_error();
    EXPECT_EQ(streaming_heads(ctx.get(), cache.get(), 0), 2);
    // A cache that holds tokens keeps its policy.
    std::vector<float> kv(4 * 16, 0.5f);
    ASSERT_EQ(engram_attention_cache_append(ctx.get(), cache.get(), 0, 1, ENGRAM_DTYPE_F32, kv.data(), kv.data()), ENGRAM_OK);
    EXPECT_EQ(engram_attention_cache_set_policy_by_ratio(ctx.get(), cache.get(), zero, 4, 1.0f), ENGRAM_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(engram_last_error()).find("not empty"), std::string::npos) << engram_last_error();
    EXPECT_EQ(streaming_heads(ctx.get(), cache.get(), 0), 2);
    // Wrong context.
    Context other(ENGRAM_BACKEND_CPU);
    EXPECT_EQ(engram_attention_cache_set_policy_by_ratio(other.get(), cache.get(), zero, 4, 1.0f), ENGRAM_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(engram_last_error()).find("cache"), std::string::npos);
    std::remove(bad.c_str());
}

}  // namespace
