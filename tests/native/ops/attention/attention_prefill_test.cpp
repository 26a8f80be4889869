// attention_prefill_test.cpp — dense causal prefill of a chunk against the
// cache: each query against the float64 reference of a decode at its own
// position (streaming heads: sinks + the window up to that position, even
// for window tokens the chunk itself evicts), the chunk appended afterwards,
// and bad input rejected with nothing written.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <tuple>

#include "attention_tolerance.hpp"
#include "ops/attention/attention_harness.hpp"

using namespace engram_test;

namespace {

// Tokens [from, to) of every head of a [H, length, D] history.
std::vector<float> slice(const std::vector<float>& x, int64_t H, int64_t length, int64_t D,
                         int64_t from, int64_t to) {
    std::vector<float> r;
    for (int64_t h = 0; h < H; ++h)
        r.insert(r.end(), x.begin() + (h * length + from) * D, x.begin() + (h * length + to) * D);
    return r;
}

struct PrefillRun {
    std::vector<float> out;  // [q_heads, tokens, D]
    RefDecodeOutput ref;
    std::vector<double> bound;
};

// c.length = cached + tokens; c.io is the dtype of q, k, v, out (F32 or storage).
void check_prefill(DecodeCase c, int64_t cached) {
    SCOPED_TRACE(c.describe() + " cached=" + std::to_string(cached));
    Context ctx(ENGRAM_BACKEND_CPU);
    ASSERT_TRUE(ctx.ok());
    const int64_t n = c.length - cached, D = c.head_dim, H = c.kv_heads;
    DecodeData d = make_decode_data(c);
    // The cache with the first `cached` tokens (room for all).
    DecodeCase head = c;
    head.length = cached;
    head.capacity = c.length;
    DecodeData hd = d;
    hd.k = slice(d.k, H, c.length, D, 0, cached);
    hd.v = slice(d.v, H, c.length, D, 0, cached);
    CacheHolder cache;
    ASSERT_TRUE(fill_cache(ctx.get(), head, hd, cache));
    // The chunk, given in c.io (rounding to the storage dtype is then exact
    // when io is the storage dtype, and done by the library from F32).
    const std::vector<float> kc = slice(d.k, H, c.length, D, cached, c.length);
    const std::vector<float> vc = slice(d.v, H, c.length, D, cached, c.length);
    Rng rng(c.seed + 99);
    std::vector<float> q(size_t(c.q_heads * n * D));
    for (float& x : q) x = round_to(c.io, float(rng.normal()));
    const std::vector<uint8_t> qb = encode_floats(c.io, q), kb = encode_floats(c.io, kc),
                               vb = encode_floats(c.io, vc);
    std::vector<uint8_t> ob(qb.size(), 0xFF);
    engram_attention_options opts;
    engram_attention_options_init(&opts);
    opts.scale = c.scale;
    ASSERT_OK(engram_attention_prefill(ctx.get(), cache.get(), 0, c.q_heads, n, c.io, qb.data(),
                                       kb.data(), vb.data(), ob.data(), &opts));
    const std::vector<float> out = decode_floats(c.io, ob.data(), q.size());
    RefDecodeInput in;
    in.q_heads = c.q_heads;
    in.kv_heads = H;
    in.head_dim = D;
    in.length = c.length;
    in.sink = c.sink;
    in.window = c.window;
    in.scale = c.scale != 0.0f ? double(c.scale) : 1.0 / std::sqrt(double(D));
    in.q.assign(q.begin(), q.end());
    in.k.assign(d.k.begin(), d.k.end());
    in.v.assign(d.v.begin(), d.v.end());
    in.policy = d.policy;
    const RefDecodeOutput ref = ref_attention_prefill(in, n);
    EXPECT_TRUE(all_within("prefill out", out, ref.out,
                           engram_suite::attention_prefill_bound(c.q_heads, H, n, D, c.io, ref), D));
    // The chunk was appended: a decode now matches the reference over all tokens.
    engram_attention_cache_info info;
    engram_attention_cache_info_init(&info);
    ASSERT_OK(engram_attention_cache_get_info(ctx.get(), cache.get(), 0, &info));
    EXPECT_EQ(c.length, info.length);
    std::vector<float> dec;
    ASSERT_TRUE(run_decode(ctx.get(), cache.get(), c, d, dec));
    const RefDecodeOutput dref = reference_decode(c, d);
    EXPECT_TRUE(all_within("decode after prefill", dec, dref.out, decode_bound(c, dref), D));
}

using Shape = std::tuple<int /*ratio*/, int /*D*/, engram_dtype /*storage*/>;

class AttentionIsaPrefill : public ::testing::TestWithParam<Shape> {};

TEST_P(AttentionIsaPrefill, ChunkMatchesReference) {
    const auto [ratio, D, storage] = GetParam();
    DecodeCase c;
    c.kv_heads = 2;  // head 0 retrieval, head 1 streaming
    c.q_heads = 2 * ratio;
    c.head_dim = D;
    c.sink = 3;
    c.window = 6;
    c.storage = storage;
    c.io = storage;
    c.length = 40;
    c.chunk = 0;
    c.seed = uint64_t(ratio * 100 + D);
    check_prefill(c, 0);   // the prompt's first chunk
    check_prefill(c, 17);  // a later chunk, longer than W: its ring wraps
    c.io = ENGRAM_DTYPE_F32;
    check_prefill(c, 39);  // one token
}

INSTANTIATE_TEST_SUITE_P(CPU, AttentionIsaPrefill,
                         ::testing::Combine(::testing::Values(1, 4, 8), ::testing::Values(64, 128, 80),
                                            ::testing::Values(ENGRAM_DTYPE_F32, ENGRAM_DTYPE_BF16)),
                         [](const ::testing::TestParamInfo<Shape>& i) {
                             return "r" + std::to_string(std::get<0>(i.param)) + "_d" +
                                    std::to_string(std::get<1>(i.param)) + "_" +
                                    dtype_label(std::get<2>(i.param));
                         });

TEST(AttentionIsaPrefillEdges, NoSinksOddDimsAndF16) {
    DecodeCase c;
    c.q_heads = 3;
    c.kv_heads = 3;
    c.policy = {1, 0, 1};
    c.head_dim = 17;
    c.sink = 0;
    c.window = 4;
    c.length = 25;
    c.storage = ENGRAM_DTYPE_F16;
    c.io = ENGRAM_DTYPE_F16;
    check_prefill(c, 5);
    c.sink = 9;  // chunk tokens below the sink count are sinks
    check_prefill(c, 2);
}

TEST(AttentionPrefill, RejectsBadInputAndWritesNothing) {
    Context ctx(ENGRAM_BACKEND_CPU);
    ASSERT_TRUE(ctx.ok());
    DecodeCase c;
    c.q_heads = 4;
    c.kv_heads = 2;
    c.head_dim = 8;
    c.length = 5;
    c.capacity = 8;
    const DecodeData d = make_decode_data(c);
    CacheHolder cache;
    ASSERT_TRUE(fill_cache(ctx.get(), c, d, cache));
    std::vector<float> q(4 * 3 * 8, 0.5f), k(2 * 3 * 8, 0.25f), v(k.size(), 1.0f);
    std::vector<float> out(q.size() + 8);
    std::memset(out.data(), 0x5A, out.size() * sizeof(float));
    const std::vector<float> before = out;
    engram_context* x = ctx.get();
    engram_attention_cache* a = cache.get();
    const auto F32 = ENGRAM_DTYPE_F32;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_prefill(x, a, 0, 4, 4, F32, q.data(), k.data(), v.data(), out.data(), nullptr), "tokens = 4", "capacity = 8");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_prefill(x, a, 0, 3, 3, F32, q.data(), k.data(), v.data(), out.data(), nullptr), "q_heads = 3", "multiple");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_prefill(x, a, 0, 4, 0, F32, q.data(), k.data(), v.data(), out.data(), nullptr), "tokens");
    EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED, engram_attention_prefill(x, a, 0, 4, 3, ENGRAM_DTYPE_BF16, q.data(), k.data(), v.data(), out.data(), nullptr), "dtype");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_prefill(x, a, 0, 4, 3, F32, nullptr, k.data(), v.data(), out.data(), nullptr), "q is NULL");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_prefill(x, a, 0, 4, 3, F32, q.data(), nullptr, v.data(), out.data(), nullptr), "k is NULL");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_prefill(x, a, 0, 4, 3, F32, q.data(), k.data(), v.data(), nullptr, nullptr), "out is NULL");
    EXPECT_STATUS(ENGRAM_ERR_OUT_OF_RANGE, engram_attention_prefill(x, a, 1, 4, 3, F32, q.data(), k.data(), v.data(), out.data(), nullptr), "layer = 1");
    // out over the chunk's values (inputs read while out is written).
    std::vector<float> kv(k.size() + q.size(), 0.0f);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_prefill(x, a, 0, 4, 3, F32, q.data(), k.data(), kv.data(), kv.data() + 8, nullptr), "out overlaps v");
    Context other(ENGRAM_BACKEND_CPU);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_prefill(other.get(), a, 0, 4, 3, F32, q.data(), k.data(), v.data(), out.data(), nullptr), "cache", "context");
    EXPECT_EQ(0, std::memcmp(out.data(), before.data(), out.size() * sizeof(float)));
    engram_attention_cache_info info;
    engram_attention_cache_info_init(&info);
    ASSERT_OK(engram_attention_cache_get_info(x, a, 0, &info));
    EXPECT_EQ(5, info.length);
    // Op stats of a valid call.
    ASSERT_OK(engram_attention_prefill(x, a, 0, 4, 3, F32, q.data(), k.data(), v.data(), out.data(), nullptr));
    engram_op_stats st;
    engram_op_stats_init(&st);
    ASSERT_OK(engram_context_get_op_stats(x, &st));
    EXPECT_EQ(ENGRAM_OP_ATTENTION_PREFILL, st.op);
    EXPECT_EQ(3u, op_counter(st, "tokens_appended"));
    // Head 0 retrieval: 6 + 7 + 8 tokens; head 1 streaming (sink 4, W 8): the same.
    EXPECT_EQ(2u * (6 + 7 + 8), op_counter(st, "tokens_attended"));
}

}  // namespace
