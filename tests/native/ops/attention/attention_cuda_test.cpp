// attention_cuda_test.cpp — decode and prefill on every backend (CPU and CUDA,
// BackendTest) against the float64 reference: GQA ratios up to 12 (more than
// the 8 query heads of one CUDA block), head dims 1 to 256 (lanes holding
// partial rows), storage and io dtypes, retrieval and streaming heads with the
// ring wrapped, caches long enough for many CUDA splits, appends in F32 and
// in the storage dtype, prefill chunks (first, later, one token), NaN in a
// query, determinism and op stats. The CUDA cases skip on a machine without a
// device (the cache then lives in device memory); the CPU cases run here.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "ops/attention/attention_harness.hpp"

using namespace engram_test;

namespace {

class AttentionBackendTest : public BackendTest {
protected:
    void check_decode(const DecodeCase& c) {
        SCOPED_TRACE(c.describe());
        const DecodeData d = make_decode_data(c);
        CacheHolder cache;
        ASSERT_TRUE(fill_cache(ctx().get(), c, d, cache));
        std::vector<float> out;
        ASSERT_TRUE(run_decode(ctx().get(), cache.get(), c, d, out));
        const RefDecodeOutput ref = reference_decode(c, d);
        EXPECT_TRUE(all_within("out", out, ref.out, decode_bound(c, ref), c.head_dim)) << c.describe();
    }

    // A chunk of c.length - cached tokens after `cached` ones; c.io is the
    // dtype of q, k, v and out (F32 or the storage dtype).
    void check_prefill(DecodeCase c, int64_t cached) {
        SCOPED_TRACE(c.describe() + " cached=" + std::to_string(cached));
        const int64_t n = c.length - cached, D = c.head_dim, H = c.kv_heads;
        const DecodeData d = make_decode_data(c);
        auto slice = [&](const std::vector<float>& x, int64_t from, int64_t to) {
            std::vector<float> r;
            for (int64_t h = 0; h < H; ++h)
                r.insert(r.end(), x.begin() + (h * c.length + from) * D,
                         x.begin() + (h * c.length + to) * D);
            return r;
        };
        DecodeCase head = c;
        head.length = cached;
        head.capacity = c.length;
        DecodeData hd = d;
        hd.k = slice(d.k, 0, cached);
        hd.v = slice(d.v, 0, cached);
        CacheHolder cache;
        ASSERT_TRUE(fill_cache(ctx().get(), head, hd, cache));
        Rng rng(c.seed + 99);
        std::vector<float> q(size_t(c.q_heads * n * D));
        for (float& x : q) x = round_to(c.io, float(rng.normal()));
        const std::vector<uint8_t> qh = encode_floats(c.io, q);
        StagedBytes qb(ctx().get(), qh), kb(ctx().get(), encode_floats(c.io, slice(d.k, cached, c.length))),
            vb(ctx().get(), encode_floats(c.io, slice(d.v, cached, c.length))),
            ob(ctx().get(), std::vector<uint8_t>(qh.size(), 0xFF));
        engram_attention_options opts;
        engram_attention_options_init(&opts);
        opts.scale = c.scale;
        ASSERT_OK(engram_attention_prefill(ctx().get(), cache.get(), 0, c.q_heads, n, c.io, qb.get(),
                                           kb.get(), vb.get(), ob.get(), &opts));
        const std::vector<float> out = decode_floats(c.io, ob.read().data(), q.size());
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
        // decode_bound's model row by row (row = query head x token).
        DecodeCase rows = c;
        rows.q_heads = c.q_heads * n;
        rows.kv_heads = rows.q_heads;
        RefDecodeOutput per_row = ref;
        std::vector<int64_t> kept(size_t(c.q_heads * n));
        const int64_t G = c.q_heads / H;
        for (int64_t h = 0; h < c.q_heads; ++h)
            for (int64_t i = 0; i < n; ++i) kept[size_t(h * n + i)] = ref.kept[size_t((h / G) * n + i)];
        per_row.kept = kept;
        EXPECT_TRUE(all_within("prefill out", out, ref.out, decode_bound(rows, per_row), D));
        // The chunk was appended: a decode now matches the reference over all tokens.
        std::vector<float> dec;
        ASSERT_TRUE(run_decode(ctx().get(), cache.get(), c, d, dec));
        const RefDecodeOutput dref = reference_decode(c, d);
        EXPECT_TRUE(all_within("decode after prefill", dec, dref.out, decode_bound(c, dref), D));
    }
};

const engram_dtype kFloat[] = {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16};

}  // namespace

TEST_P(AttentionBackendTest, DecodeRatiosDimsAndDtypes) {
    uint64_t seed = 500;
    for (int ratio : {1, 4, 12})
        for (int D : {1, 33, 80, 128, 256})
            for (engram_dtype storage : kFloat) {
                DecodeCase c;
                c.kv_heads = 3;  // heads 0, 2 retrieval, head 1 streaming
                c.q_heads = 3 * ratio;
                c.head_dim = D;
                c.length = 45;   // > sink + W: the ring has wrapped
                c.sink = 3;
                c.window = 10;
                c.storage = storage;
                c.io = ratio == 4 ? storage : ENGRAM_DTYPE_F32;
                c.append = D % 2 ? storage : ENGRAM_DTYPE_F32;
                c.chunk = 0;     // random chunk sizes, some longer than W
                c.seed = seed++;
                check_decode(c);
                if (HasFailure()) return;
            }
}

// Long caches: the CUDA decode cuts them into many splits (at least 64
// tokens each) and merges; one KV head, so all of a GPU's blocks go to it.
TEST_P(AttentionBackendTest, LongCachesSplitAndMerge) {
    for (int64_t length : {1, 63, 64, 65, 1000, 5003}) {
        DecodeCase c;
        c.kv_heads = 1;
        c.q_heads = 2;
        c.head_dim = 64;
        c.length = length;
        c.policy = {0};
        c.chunk = 257;
        c.storage = ENGRAM_DTYPE_BF16;
        c.seed = uint64_t(length);
        check_decode(c);
        c.policy = {1};  // streaming: sinks + a wrapped window
        c.sink = 4;
        c.window = 700;
        check_decode(c);
    }
}

TEST_P(AttentionBackendTest, ScaleOptionAndNoSinks) {
    DecodeCase c;
    c.kv_heads = 2;
    c.q_heads = 6;
    c.head_dim = 40;
    c.length = 90;
    c.sink = 0;
    c.window = 16;
    c.scale = 0.9f;  // sharper softmax than 1/sqrt(D)
    c.chunk = 5;
    check_decode(c);
}

TEST_P(AttentionBackendTest, PrefillChunks) {
    for (int ratio : {1, 3, 9})
        for (engram_dtype storage : {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_BF16}) {
            DecodeCase c;
            c.kv_heads = 2;  // head 0 retrieval, head 1 streaming
            c.q_heads = 2 * ratio;
            c.head_dim = ratio == 3 ? 17 : 64;
            c.sink = 3;
            c.window = 6;
            c.storage = storage;
            c.io = storage;
            c.length = 40;
            c.chunk = 0;
            c.seed = uint64_t(ratio * 100) + uint64_t(storage);
            check_prefill(c, 0);   // the prompt's first chunk
            check_prefill(c, 17);  // a later chunk, longer than W: its ring wraps
            c.io = ENGRAM_DTYPE_F32;
            check_prefill(c, 39);  // one token, F32 rounded to the storage dtype
            if (HasFailure()) return;
        }
}

// A NaN in query head h makes exactly that head's output NaN.
TEST_P(AttentionBackendTest, NanInQueryPoisonsItsHeadOnly) {
    DecodeCase c;
    c.kv_heads = 2;
    c.q_heads = 4;
    c.head_dim = 24;
    c.length = 100;
    c.chunk = 7;
    DecodeData d = make_decode_data(c);
    d.q[size_t(1 * c.head_dim + 5)] = NAN;  // query head 1 (KV head 0)
    CacheHolder cache;
    ASSERT_TRUE(fill_cache(ctx().get(), c, d, cache));
    std::vector<float> out;
    ASSERT_TRUE(run_decode(ctx().get(), cache.get(), c, d, out));
    for (int64_t h = 0; h < c.q_heads; ++h)
        for (int64_t e = 0; e < c.head_dim; ++e)
            EXPECT_EQ(h == 1, std::isnan(out[size_t(h * c.head_dim + e)])) << "head " << h << " e " << e;
}

TEST_P(AttentionBackendTest, DecodeIsBitIdenticalAndCountsTokens) {
    DecodeCase c;
    c.kv_heads = 2;
    c.q_heads = 10;
    c.head_dim = 96;
    c.length = 777;
    c.sink = 4;
    c.window = 100;
    c.chunk = 64;
    const DecodeData d = make_decode_data(c);  // head 0 retrieval, head 1 streaming
    CacheHolder cache;
    ASSERT_TRUE(fill_cache(ctx().get(), c, d, cache));
    std::vector<float> a, b;
    ASSERT_TRUE(run_decode(ctx().get(), cache.get(), c, d, a));
    engram_op_stats st;
    engram_op_stats_init(&st);
    ASSERT_OK(engram_context_get_op_stats(ctx().get(), &st));
    EXPECT_EQ(uint64_t(777 + 104), op_counter(st, "tokens_attended"));
    EXPECT_EQ(uint64_t(777 + 104) * 2 * 96 * 4, op_counter(st, "kv_bytes_read"));
    ASSERT_TRUE(run_decode(ctx().get(), cache.get(), c, d, b));
    ASSERT_EQ(a.size(), b.size());
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * 4));
}

ENGRAM_INSTANTIATE_BACKENDS(AttentionBackendTest);
