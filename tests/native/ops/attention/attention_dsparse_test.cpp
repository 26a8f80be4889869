// attention_dsparse_test.cpp — Double Sparsity against the float64 reference:
// calibration (channel scores mean |q k|, top r) on GQA 1/4/8, D 64/80/128,
// f32/bf16; decode with top_k = S equal to dense decode, and with top_k < S
// equal to exact attention over the reference's selection (cases whose
// selection f32 rounding cannot change: the reference's margin), with label
// channels set before the tokens arrive (label cache kept in step by appends
// and prefill) or after (built from the keys), on streaming heads whose ring
// wrapped many times; recent = 0, > S; S = 1; NaN; bad input with the cache
// and outputs unchanged; bit-identical over repeats and thread counts.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "ops/attention/attention_harness.hpp"
#include "ops/attention/reference/attention_dsparse_reference.hpp"

using namespace engram_test;

namespace {

RefDecodeInput ref_input(const DecodeCase& c, const DecodeData& d) {
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
    return in;
}

// Random increasing channels [kv_heads, r].
std::vector<int32_t> random_channels(int64_t heads, int64_t D, int32_t r, uint64_t seed) {
    Rng rng(seed);
    std::vector<int32_t> ch;
    for (int64_t h = 0; h < heads; ++h) {
        std::vector<int32_t> all(static_cast<size_t>(D));
        for (int64_t j = 0; j < D; ++j) all[size_t(j)] = int32_t(j);
        for (int64_t j = D - 1; j > 0; --j) std::swap(all[size_t(j)], all[size_t(rng.integer(0, j))]);
        std::sort(all.begin(), all.begin() + r);
        ch.insert(ch.end(), all.begin(), all.begin() + r);
    }
    return ch;
}

::testing::AssertionResult run_dsparse(engram_context* ctx, engram_attention_cache* cache,
                                       const DecodeCase& c, const DecodeData& d, int64_t top_k,
                                       int64_t recent, std::vector<float>& out) {
    const std::vector<uint8_t> qb = encode_floats(c.io, d.q);
    std::vector<uint8_t> ob(qb.size(), 0xFF);
    engram_attention_dsparse_options opts;
    engram_attention_dsparse_options_init(&opts);
    opts.scale = c.scale;
    opts.recent = recent;
    if (engram_attention_dsparse_decode(ctx, cache, 0, c.q_heads, c.io, qb.data(), ob.data(), top_k, &opts) !=
        ENGRAM_OK)
        return ::testing::AssertionFailure() << "dsparse_decode: " << engram_last_error();
    out = decode_floats(c.io, ob.data(), d.q.size());
    return ::testing::AssertionSuccess();
}

// Fills a cache (channels set before the first append when `before`), runs
// the Double Sparsity decode and checks it against the reference selection.
// Returns false when the selection is too close to call (the caller shifts
// the seed).
bool check_dsparse(const DecodeCase& c, int32_t r, int64_t top_k, int64_t recent, bool before,
                   std::vector<float>* got = nullptr) {
    SCOPED_TRACE(c.describe() + " r=" + std::to_string(r) + " k=" + std::to_string(top_k) +
                 " recent=" + std::to_string(recent) + (before ? " before" : " after"));
    const DecodeData d = make_decode_data(c);
    const std::vector<int32_t> ch = random_channels(c.kv_heads, c.head_dim, r, c.seed + 1);
    const RefDecodeInput in = ref_input(c, d);
    const RefSelection sel = ref_dsparse_select(in, ch, r, top_k, recent);
    if (sel.margin < 1e-3) return false;
    Context ctx(ENGRAM_BACKEND_CPU);
    EXPECT_TRUE(ctx.ok());
    CacheHolder cache;
    if (before) {
        DecodeCase empty = c;
        // fill_cache creates and fills: create with no tokens is not possible
        // through it, so create here and append as it would.
        engram_attention_cache_config cfg;
        engram_attention_cache_config_init(&cfg);
        cfg.dtype = c.storage;
        cfg.kv_heads = int32_t(c.kv_heads);
        cfg.head_dim = int32_t(c.head_dim);
        cfg.sink_tokens = c.sink;
        cfg.window = c.window;
        cfg.capacity = std::max<int64_t>(c.length, 1);
        cfg.policy = d.policy.data();
        EXPECT_EQ(engram_attention_cache_create(ctx.get(), &cfg, cache.out()), ENGRAM_OK);
        EXPECT_EQ(engram_attention_dsparse_set_channels(ctx.get(), cache.get(), 0, r, ch.data()), ENGRAM_OK)
            << engram_last_error();
        Rng rng(c.seed ^ 0x5eed);
        const int64_t D = c.head_dim;
        for (int64_t t0 = 0; t0 < c.length;) {
            const int64_t n = std::min<int64_t>(rng.integer(1, 2 * int64_t(c.window)), c.length - t0);
            std::vector<float> k(size_t(c.kv_heads * n * D)), v(k.size());
            for (int64_t h = 0; h < c.kv_heads; ++h)
                for (int64_t i = 0; i < n; ++i)
                    for (int64_t e = 0; e < D; ++e) {
                        k[size_t((h * n + i) * D + e)] = d.k[size_t((h * c.length + t0 + i) * D + e)];
                        v[size_t((h * n + i) * D + e)] = d.v[size_t((h * c.length + t0 + i) * D + e)];
                    }
            EXPECT_EQ(engram_attention_cache_append(ctx.get(), cache.get(), 0, n, ENGRAM_DTYPE_F32, k.data(),
                                                    v.data()),
                      ENGRAM_OK);
            t0 += n;
        }
        (void)empty;
    } else {
        EXPECT_TRUE(fill_cache(ctx.get(), c, d, cache));
        EXPECT_EQ(engram_attention_dsparse_set_channels(ctx.get(), cache.get(), 0, r, ch.data()), ENGRAM_OK)
            << engram_last_error();
    }
    std::vector<float> out;
    EXPECT_TRUE(run_dsparse(ctx.get(), cache.get(), c, d, top_k, recent, out));
    const RefDecodeOutput ref = ref_attention_over(in, sel.positions);
    EXPECT_TRUE(all_within("out", out, ref.out, decode_bound(c, ref), c.head_dim));
    if (got) *got = out;
    return true;
}

// Runs check_dsparse, moving the seed until the selection is clear (at most 20 tries).
void check_clear(DecodeCase c, int32_t r, int64_t top_k, int64_t recent, bool before) {
    for (int tries = 0; tries < 20; ++tries, c.seed += 1000)
        if (check_dsparse(c, r, top_k, recent, before)) return;
    FAIL() << "no seed with a clear selection";
}

using Shape = std::tuple<int /*ratio*/, int /*D*/, engram_dtype /*storage*/>;

class AttentionIsaDsparse : public ::testing::TestWithParam<Shape> {};

TEST_P(AttentionIsaDsparse, MatchesReferenceSelectionAndDenseAtKEqualsS) {
    const auto [ratio, D, storage] = GetParam();
    DecodeCase c;
    c.kv_heads = 2;  // head 0 retrieval, head 1 streaming (ring wrapped: 150 > 3 + 20)
    c.q_heads = 2 * ratio;
    c.head_dim = D;
    c.length = 150;
    c.sink = 3;
    c.window = 20;
    c.storage = storage;
    c.chunk = 0;
    c.seed = uint64_t(ratio * 100 + D) + uint64_t(storage);
    check_clear(c, 16, 10, 4, false);
    check_clear(c, 8, 25, 0, true);
    // top_k = S: dense decode, whatever the labels.
    std::vector<float> sparse;
    ASSERT_TRUE(check_dsparse(c, 16, c.length, 4, true, &sparse));
    Context ctx(ENGRAM_BACKEND_CPU);
    const DecodeData d = make_decode_data(c);
    CacheHolder cache;
    ASSERT_TRUE(fill_cache(ctx.get(), c, d, cache));
    std::vector<float> dense;
    ASSERT_TRUE(run_decode(ctx.get(), cache.get(), c, d, dense));
    const RefDecodeOutput ref = reference_decode(c, d);
    EXPECT_TRUE(all_within("dense", sparse, ref.out, decode_bound(c, ref), c.head_dim));
    // The retrieval head (KV head 0, query heads 0..G-1) reads the same
    // tokens in the same order and 32-token blocks as decode: bit-identical.
    // (A streaming head's sinks and ring parts are separate runs in decode,
    // so its blocks, and last bits, differ.)
    EXPECT_EQ(0, std::memcmp(sparse.data(), dense.data(), size_t(ratio * D) * sizeof(float)));
}

INSTANTIATE_TEST_SUITE_P(CPU, AttentionIsaDsparse,
                         ::testing::Combine(::testing::Values(1, 4, 8), ::testing::Values(64, 128, 80),
                                            ::testing::Values(ENGRAM_DTYPE_F32, ENGRAM_DTYPE_BF16)),
                         [](const ::testing::TestParamInfo<Shape>& i) {
                             return "r" + std::to_string(std::get<0>(i.param)) + "_d" +
                                    std::to_string(std::get<1>(i.param)) + "_" +
                                    dtype_label(std::get<2>(i.param));
                         });

class AttentionIsaDsparseEdges : public ::testing::Test {};

TEST_F(AttentionIsaDsparseEdges, AwkwardSizes) {
    DecodeCase c;
    c.q_heads = 4;
    c.kv_heads = 2;
    c.head_dim = 64;
    // S = 1; S < W; recent > S; W > S; a ring wrapped many times (W = 7).
    for (int64_t length : {1, 5, 13, 400}) {
        c.length = length;
        c.window = length == 400 ? 7 : 9;
        c.sink = 2;
        c.seed = uint64_t(length);
        for (int64_t recent : {int64_t(0), int64_t(3), length + 5})
            for (int64_t k : {int64_t(1), (length + 1) / 2, length}) check_clear(c, 4, k, recent, true);
    }
    c.length = 50;
    c.head_dim = 16;
    check_clear(c, 16, 7, 2, false);  // r = D
}

TEST_F(AttentionIsaDsparseEdges, CalibrationMatchesReference) {
    for (int ratio : {1, 4, 8})
        for (int D : {64, 80, 128})
            for (engram_dtype dt : {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_BF16}) {
                const int64_t H = 2, Hq = H * ratio, N = 37;
                Rng rng(uint64_t(ratio * 1000 + D + dt));
                std::vector<float> q(size_t(Hq * N * D)), k(size_t(H * N * D));
                // Channel-dependent magnitudes, as real keys have outlier channels.
                for (size_t i = 0; i < q.size(); ++i) q[i] = round_to(dt, float(rng.normal() * (1 + (i % D) % 5)));
                for (size_t i = 0; i < k.size(); ++i) k[i] = round_to(dt, float(rng.normal()));
                for (int32_t r : {1, 16, D}) {
                    SCOPED_TRACE(::testing::Message() << "ratio " << ratio << " D " << D << " r " << r);
                    const RefCalibration ref = ref_dsparse_calibrate(
                        Hq, H, N, D, std::vector<double>(q.begin(), q.end()),
                        std::vector<double>(k.begin(), k.end()), r);
                    ASSERT_GT(ref.margin, 0.0);
                    const std::vector<uint8_t> qb = encode_floats(dt, q), kb = encode_floats(dt, k);
                    std::vector<int32_t> ch(size_t(H * r), -1);
                    Context ctx(ENGRAM_BACKEND_CPU);
                    ASSERT_EQ(engram_attention_dsparse_calibrate(ctx.get(), Hq, H, N, D, dt, qb.data(), kb.data(),
                                                                 r, ch.data()),
                              ENGRAM_OK)
                        << engram_last_error();
                    EXPECT_EQ(ch, ref.channels);
                }
            }
}

TEST_F(AttentionIsaDsparseEdges, NaNContract) {
    DecodeCase c;
    c.q_heads = 2;
    c.kv_heads = 1;
    c.head_dim = 32;
    c.length = 60;
    c.policy = {0};
    c.chunk = 60;
    const int32_t r = 4;
    const std::vector<int32_t> ch = {1, 5, 9, 30};
    auto run = [&](const DecodeData& d, int64_t k) {
        Context ctx(ENGRAM_BACKEND_CPU);
        CacheHolder cache;
        EXPECT_TRUE(fill_cache(ctx.get(), c, d, cache));
        EXPECT_EQ(engram_attention_dsparse_set_channels(ctx.get(), cache.get(), 0, r, ch.data()), ENGRAM_OK);
        std::vector<float> out;
        EXPECT_TRUE(run_dsparse(ctx.get(), cache.get(), c, d, k, 2, out));
        return out;
    };
    {  // NaN in a label channel of a key: it ranks first, is attended, the head is NaN.
        DecodeData d = make_decode_data(c);
        d.k[size_t(10 * c.head_dim + 5)] = NAN;
        for (float x : run(d, 3)) EXPECT_TRUE(std::isnan(x));
    }
    {  // NaN in another channel of a key not chosen: no effect.
        DecodeData d = make_decode_data(c);
        const RefSelection sel = ref_dsparse_select(ref_input(c, d), ch, r, 3, 2);
        int64_t dropped = 0;
        while (std::find(sel.positions[0].begin(), sel.positions[0].end(), dropped) != sel.positions[0].end())
            ++dropped;
        d.k[size_t(dropped * c.head_dim + 2)] = NAN;
        for (float x : run(d, 3)) EXPECT_FALSE(std::isnan(x));
    }
    // NaN in q, outside or at a label channel (where every approximate score
    // is NaN and the first positions are chosen): that query head's output is
    // NaN, the other head of the KV head attends with its own finite q.
    for (size_t at : {size_t(3), size_t(5)}) {
        DecodeData d = make_decode_data(c);
        d.q[at] = NAN;
        const std::vector<float> out = run(d, 3);
        for (int64_t e = 0; e < 2 * c.head_dim; ++e) EXPECT_EQ(std::isnan(out[size_t(e)]), e < c.head_dim) << e;
    }
    {  // NaN in q at a label channel of both heads: all NaN.
        DecodeData d = make_decode_data(c);
        d.q[5] = NAN;
        d.q[size_t(c.head_dim + 5)] = NAN;
        for (float x : run(d, 3)) EXPECT_TRUE(std::isnan(x));
    }
}

TEST(AttentionDsparse, BitIdenticalOverRepeatsAndThreadCounts) {
    DecodeCase c;
    c.q_heads = 8;
    c.kv_heads = 4;
    c.head_dim = 64;
    c.length = 700;
    c.sink = 4;
    c.window = 64;
    c.storage = ENGRAM_DTYPE_BF16;
    c.chunk = 0;
    c.seed = 4;
    const DecodeData d = make_decode_data(c);
    const std::vector<int32_t> ch = random_channels(c.kv_heads, c.head_dim, 16, 5);
    std::vector<float> first;
    for (int threads : {1, 2, 3})
        for (int rep = 0; rep < 2; ++rep) {
            Context ctx(ENGRAM_BACKEND_CPU);
            ASSERT_EQ(engram_context_set_threads(ctx.get(), threads), ENGRAM_OK);
            CacheHolder cache;
            ASSERT_TRUE(fill_cache(ctx.get(), c, d, cache));
            ASSERT_EQ(engram_attention_dsparse_set_channels(ctx.get(), cache.get(), 0, 16, ch.data()), ENGRAM_OK);
            std::vector<float> out;
            ASSERT_TRUE(run_dsparse(ctx.get(), cache.get(), c, d, 40, 16, out));
            if (first.empty()) first = out;
            ASSERT_EQ(0, std::memcmp(first.data(), out.data(), out.size() * sizeof(float))) << threads;
        }
}

TEST(AttentionDsparse, LabelCacheFollowsPrefillAndStats) {
    // Channels set on an empty cache, tokens arriving by prefill: the labels
    // prefill stores give the same selection as labels built afterwards.
    DecodeCase c;
    c.q_heads = 4;
    c.kv_heads = 2;
    c.head_dim = 32;
    c.length = 90;
    c.sink = 2;
    c.window = 30;
    c.seed = 12;
    const DecodeData d = make_decode_data(c);
    const std::vector<int32_t> ch = random_channels(2, 32, 6, 3);
    Context ctx(ENGRAM_BACKEND_CPU);
    engram_attention_cache_config cfg;
    engram_attention_cache_config_init(&cfg);
    cfg.kv_heads = 2;
    cfg.head_dim = 32;
    cfg.sink_tokens = 2;
    cfg.window = 30;
    cfg.capacity = 90;
    cfg.policy = d.policy.data();
    CacheHolder a;
    ASSERT_EQ(engram_attention_cache_create(ctx.get(), &cfg, a.out()), ENGRAM_OK);
    ASSERT_EQ(engram_attention_dsparse_set_channels(ctx.get(), a.get(), 0, 6, ch.data()), ENGRAM_OK);
    const int64_t D = 32, n = 90;
    std::vector<float> q(size_t(4 * n * D), 0.25f), out(q.size());
    ASSERT_EQ(engram_attention_prefill(ctx.get(), a.get(), 0, 4, n, ENGRAM_DTYPE_F32, q.data(), d.k.data(),
                                       d.v.data(), out.data(), nullptr),
              ENGRAM_OK);
    CacheHolder b;
    ASSERT_TRUE(fill_cache(ctx.get(), c, d, b));
    ASSERT_EQ(engram_attention_dsparse_set_channels(ctx.get(), b.get(), 0, 6, ch.data()), ENGRAM_OK);
    std::vector<float> oa, ob;
    ASSERT_TRUE(run_dsparse(ctx.get(), a.get(), c, d, 11, 3, oa));
    engram_op_stats st;
    engram_op_stats_init(&st);
    ASSERT_EQ(engram_context_get_op_stats(ctx.get(), &st), ENGRAM_OK);
    // Retrieval head: 11 + 3 tokens of 87 candidates labelled; streaming
    // head: 2 + 30 kept, 11 + 3 of them, 29 labelled.
    EXPECT_EQ(op_counter(st, "tokens_attended"), 28u);
    EXPECT_EQ(op_counter(st, "kv_bytes_read"), 28u * 2 * 32 * 4);
    EXPECT_EQ(op_counter(st, "label_bytes_read"), (87u + 29u) * 6 * 4);
    ASSERT_TRUE(run_dsparse(ctx.get(), b.get(), c, d, 11, 3, ob));
    EXPECT_EQ(0, std::memcmp(oa.data(), ob.data(), oa.size() * sizeof(float)));
}

TEST(AttentionDsparse, BadInputIsRejectedAndChangesNothing) {
    Context ctx(ENGRAM_BACKEND_CPU);
    DecodeCase c;
    c.q_heads = 4;
    c.kv_heads = 2;
    c.head_dim = 16;
    c.length = 20;
    c.window = 6;
    c.sink = 1;
    const DecodeData d = make_decode_data(c);
    CacheHolder cache;
    ASSERT_TRUE(fill_cache(ctx.get(), c, d, cache));
    const std::vector<uint8_t> qb = encode_floats(ENGRAM_DTYPE_F32, d.q);
    std::vector<uint8_t> ob(qb.size(), 0xAB);
    const std::vector<uint8_t> untouched = ob;
    std::vector<int32_t> ch = {0, 3, 1, 2};
    // No label channels yet.
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_attention_dsparse_decode(ctx.get(), cache.get(), 0, 4, ENGRAM_DTYPE_F32, qb.data(),
                                                  ob.data(), 5, nullptr),
                  "no label channels");
    ASSERT_EQ(engram_attention_dsparse_set_channels(ctx.get(), cache.get(), 0, 2, ch.data()), ENGRAM_OK);
    struct Bad {
        int32_t r;
        std::vector<int32_t> ch;
        const char* needle;
    };
    const Bad bad[] = {{17, std::vector<int32_t>(34, 0), "r = 17 is outside [1, head_dim = 16]"},
                       {0, {0}, "r = 0"},
                       {2, {0, 16, 1, 2}, "channels[1] = 16 is outside [0, 16)"},
                       {2, {0, 3, 2, 2}, "channels[3] = 2 follows 2"},
                       {2, {0, 3, -1, 2}, "channels[2] = -1"}};
    for (const Bad& b : bad)
        EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                      engram_attention_dsparse_set_channels(ctx.get(), cache.get(), 0, b.r, b.ch.data()), b.needle);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_attention_dsparse_set_channels(ctx.get(), cache.get(), 0, 2, nullptr), "channels");
    EXPECT_STATUS(ENGRAM_ERR_OUT_OF_RANGE,
                  engram_attention_dsparse_set_channels(ctx.get(), cache.get(), 1, 2, ch.data()), "layer");
    auto decode = [&](int64_t hq, int64_t k, const engram_attention_dsparse_options* o, void* out) {
        return engram_attention_dsparse_decode(ctx.get(), cache.get(), 0, hq, ENGRAM_DTYPE_F32, qb.data(), out, k, o);
    };
    engram_attention_dsparse_options neg;
    engram_attention_dsparse_options_init(&neg);
    neg.recent = -1;
    engram_attention_dsparse_options badscale;
    engram_attention_dsparse_options_init(&badscale);
    badscale.scale = -2.0f;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, decode(4, 21, nullptr, ob.data()), "top_k = 21 is outside [1, S = 20]");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, decode(4, 0, nullptr, ob.data()), "top_k = 0");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, decode(3, 5, nullptr, ob.data()), "q_heads = 3");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, decode(4, 5, &neg, ob.data()), "opts->recent = -1");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, decode(4, 5, &badscale, ob.data()), "opts->scale");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, decode(4, 5, nullptr, nullptr), "out");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, decode(4, 5, nullptr, ob.data() + 1), "out");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_attention_dsparse_decode(ctx.get(), cache.get(), 0, 4, ENGRAM_DTYPE_F32, qb.data(),
                                                  const_cast<uint8_t*>(qb.data()), 5, nullptr),
                  "overlap");
    EXPECT_EQ(ob, untouched);
    // The layer kept its channels {0, 3 | 1, 2}: the decode equals the reference with them.
    std::vector<float> out;
    ASSERT_TRUE(run_dsparse(ctx.get(), cache.get(), c, d, 20, 2, out));
    const RefDecodeInput in = ref_input(c, d);
    const RefDecodeOutput ref = ref_attention_over(in, ref_dsparse_select(in, {0, 3, 1, 2}, 2, 20, 2).positions);
    EXPECT_TRUE(all_within("out", out, ref.out, decode_bound(c, ref), c.head_dim));
    // Calibration arguments.
    std::vector<float> q(4 * 3 * 16, 1.0f), k(2 * 3 * 16, 1.0f);
    std::vector<int32_t> chan(2 * 4, -5);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_attention_dsparse_calibrate(ctx.get(), 4, 2, 3, 16, ENGRAM_DTYPE_F32, q.data(), k.data(), 17, chan.data()),
                  "r = 17 is outside [1, head_dim = 16]");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_attention_dsparse_calibrate(ctx.get(), 5, 2, 3, 16, ENGRAM_DTYPE_F32, q.data(), k.data(), 4, chan.data()),
                  "q_heads = 5");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_attention_dsparse_calibrate(ctx.get(), 4, 2, 0, 16, ENGRAM_DTYPE_F32, q.data(), k.data(), 4, chan.data()),
                  "tokens");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_attention_dsparse_calibrate(ctx.get(), 4, 2, 3, 257, ENGRAM_DTYPE_F32, q.data(), k.data(), 4, chan.data()),
                  "head_dim");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_attention_dsparse_calibrate(ctx.get(), 4, 2, 3, 16, ENGRAM_DTYPE_F32, q.data(), k.data(), 4,
                                                     reinterpret_cast<int32_t*>(k.data())),
                  "overlap");
    EXPECT_EQ(chan, std::vector<int32_t>(8, -5));
}

}  // namespace
