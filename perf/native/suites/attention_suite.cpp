// attention_suite.cpp — see attention_suite.hpp. Inputs: q, k, v ~ N(0, 1),
// keys and values rounded to the storage dtype, q (and the prefill chunk) to
// the io dtype, so the float64 reference sees exactly what the library reads.
#include "attention_suite.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <memory>
#include <random>
#include <stdexcept>

#include "attention_tolerance.hpp"
#include "suite_memory.hpp"
#include "suite_values.hpp"

namespace engram_suite {

using engram_test::RefDecodeInput;
using engram_test::RefDecodeOutput;

namespace {

// Decode shapes {hq, hkv, d, s, sink, w}: S = 1, S < W, W > S, S = sink,
// S = sink + W exactly, H_q/H_kv = 1, 3, 4, 8, D = 1, 3, 7, 64, 80, 128,
// 256, sink 0, and the ring buffer wrapped many times (S >> W).
constexpr int64_t kDecode[][6] = {
    {1, 1, 1, 1, 0, 1},      {4, 1, 64, 5, 4, 8},     {8, 8, 80, 40, 3, 6},
    {32, 4, 128, 300, 4, 16}, {4, 1, 64, 1, 4, 1024}, {6, 2, 128, 97, 2, 5},
    {3, 3, 7, 500, 0, 3},    {16, 2, 256, 33, 1, 32}, {2, 1, 3, 10, 10, 1},
    {4, 4, 64, 64, 4, 60},   {8, 1, 64, 1000, 4, 7},  {2, 2, 80, 2, 5, 1},
};
// Prefill shapes {hq, hkv, d, s (cached before), n (chunk), sink, w}: the
// prompt's first chunk, one token, chunks longer than W (their own ring
// wraps), a chunk onto a cache that already wrapped.
constexpr int64_t kPrefill[][7] = {
    {2, 1, 64, 0, 1, 1, 1},  {4, 2, 64, 0, 40, 3, 6},  {8, 2, 80, 17, 23, 3, 6},
    {2, 2, 128, 39, 1, 4, 8}, {4, 1, 16, 100, 37, 2, 5}, {8, 1, 64, 5, 70, 4, 16},
    {3, 3, 1, 9, 9, 0, 4},   {16, 4, 128, 200, 13, 4, 32},
};

const engram_dtype kDtypes[] = {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_BF16, ENGRAM_DTYPE_F16};

int64_t dim(const Case& c, const char* name, int64_t min_value = 1) {
    const auto it = c.dims.find(name);
    if (it == c.dims.end() || it->second < min_value)
        throw std::runtime_error(std::string("dimension ") + name + " missing or < " +
                                 std::to_string(min_value));
    return it->second;
}

void expect_ok(engram_status st, const char* call) {
    if (st != ENGRAM_OK)
        throw std::runtime_error(std::string(call) + " returned status " + std::to_string(int(st)) +
                                 ": " + engram_last_error());
}

struct CacheDeleter {
    void operator()(engram_attention_cache* c) const { engram_attention_cache_destroy(c); }
};
using CachePtr = std::unique_ptr<engram_attention_cache, CacheDeleter>;

struct Problem {
    int64_t hq = 1, hkv = 1, d = 1, s = 0, n = 0, sink = 0, w = 1;
    engram_dtype storage = ENGRAM_DTYPE_F32, io = ENGRAM_DTYPE_F32;
    std::vector<int32_t> policy;
    std::vector<float> q;     // decode [hq, d]; prefill [hq, n, d]; rounded to io
    std::vector<float> k, v;  // [hkv, s + n, d], rounded to the storage dtype (and io for the chunk)
    float scale_option = 0.0f;
};

Problem make_problem(const Case& c, bool prefill) {
    Problem p;
    p.hq = dim(c, "hq");
    p.hkv = dim(c, "hkv");
    p.d = dim(c, "d");
    p.s = dim(c, "s", prefill ? 0 : 1);
    p.n = prefill ? dim(c, "n") : 0;
    p.sink = dim(c, "sink", 0);
    p.w = dim(c, "w");
    p.storage = c.dtype;
    p.io = c.option("io", 0) != 0 ? c.dtype : ENGRAM_DTYPE_F32;
    p.policy = attention_policy(int(c.option("policy", 0)), p.hkv);
    p.scale_option = float(c.option("scale", 0));
    std::mt19937_64 rng(c.seed);
    const int64_t total = p.s + p.n;
    p.q = normal_values(rng, size_t(p.hq * std::max<int64_t>(p.n, 1) * p.d), p.io);
    p.k = normal_values(rng, size_t(p.hkv * total * p.d), p.storage);
    p.v = normal_values(rng, size_t(p.hkv * total * p.d), p.storage);
    // The prefill chunk is passed in the io dtype: its values must be exact there too.
    for (int64_t h = 0; h < p.hkv; ++h)
        for (int64_t t = p.s; t < total; ++t)
            for (int64_t e = 0; e < p.d; ++e) {
                const size_t i = size_t((h * total + t) * p.d + e);
                p.k[i] = round_to_dtype(p.io, p.k[i]);
                p.v[i] = round_to_dtype(p.io, p.v[i]);
            }
    return p;
}

// Tokens [from, to) of every head of a [H, total, D] history.
std::vector<float> slice(const std::vector<float>& x, int64_t H, int64_t total, int64_t D,
                         int64_t from, int64_t to) {
    std::vector<float> r;
    r.reserve(size_t(H * (to - from) * D));
    for (int64_t h = 0; h < H; ++h)
        r.insert(r.end(), x.begin() + (h * total + from) * D, x.begin() + (h * total + to) * D);
    return r;
}

// A one-layer cache holding tokens [0, p.s), appended in the case's chunks.
CachePtr fill_cache(engram_context* ctx, const Case& c, const Problem& p) {
    engram_attention_cache_config cfg;
    engram_attention_cache_config_init(&cfg);
    cfg.dtype = p.storage;
    cfg.layers = 1;
    cfg.kv_heads = int32_t(p.hkv);
    cfg.head_dim = int32_t(p.d);
    cfg.sink_tokens = int32_t(p.sink);
    cfg.window = int32_t(p.w);
    cfg.capacity = std::max<int64_t>(p.s + p.n, 1);
    cfg.policy = p.policy.data();
    engram_attention_cache* raw = nullptr;
    expect_ok(engram_attention_cache_create(ctx, &cfg, &raw), "engram_attention_cache_create");
    CachePtr cache(raw);
    const engram_dtype append = c.option("append_f32", 1) != 0 ? ENGRAM_DTYPE_F32 : p.storage;
    const int64_t fixed = int64_t(c.option("chunk", 0));
    std::mt19937_64 rng(c.seed ^ 0x5eedULL);
    const int64_t total = p.s + p.n;
    for (int64_t t0 = 0; t0 < p.s;) {
        int64_t n = fixed > 0 ? fixed : 1 + int64_t(rng() % uint64_t(2 * p.w));
        n = std::min(n, p.s - t0);
        // Tensors on the context's backend (device memory on CUDA).
        const SuiteBuffer kb = upload(ctx, encode_as(append, slice(p.k, p.hkv, total, p.d, t0, t0 + n)));
        const SuiteBuffer vb = upload(ctx, encode_as(append, slice(p.v, p.hkv, total, p.d, t0, t0 + n)));
        expect_ok(engram_attention_cache_append(ctx, cache.get(), 0, n, append, kb.get(), vb.get()),
                  "engram_attention_cache_append");
        t0 += n;
    }
    return cache;
}

RefDecodeInput reference_input(const Problem& p) {
    RefDecodeInput in;
    in.q_heads = p.hq;
    in.kv_heads = p.hkv;
    in.head_dim = p.d;
    in.length = p.s + p.n;
    in.sink = p.sink;
    in.window = p.w;
    in.scale = p.scale_option != 0.0f ? double(p.scale_option) : 1.0 / std::sqrt(double(p.d));
    in.q.assign(p.q.begin(), p.q.end());
    in.k.assign(p.k.begin(), p.k.end());
    in.v.assign(p.v.begin(), p.v.end());
    in.policy = p.policy;
    return in;
}

engram_attention_options options_of(const Problem& p) {
    engram_attention_options o;
    engram_attention_options_init(&o);
    o.scale = p.scale_option;
    return o;
}

void run_decode(Comparison& cmp, engram_context* ctx, const Case& c) {
    const Problem p = make_problem(c, false);
    CachePtr cache = fill_cache(ctx, c, p);
    const SuiteBuffer qb = upload(ctx, encode_as(p.io, p.q));
    SuiteBuffer ob = output(ctx, p.q.size() * engram_dtype_size(p.io));
    const engram_attention_options o = options_of(p);
    expect_ok(engram_attention_decode(ctx, cache.get(), 0, p.hq, p.io, qb.get(), ob.get(), &o),
              "engram_attention_decode");
    const RefDecodeOutput ref = engram_test::ref_attention_decode(reference_input(p));
    cmp.check("out", ob.floats(p.io), ref.out,
              attention_decode_bound(p.hq, p.hkv, p.d, p.io, ref), p.d);
}

void run_prefill(Comparison& cmp, engram_context* ctx, const Case& c) {
    const Problem p = make_problem(c, true);
    CachePtr cache = fill_cache(ctx, c, p);
    const int64_t total = p.s + p.n;
    const SuiteBuffer qb = upload(ctx, encode_as(p.io, p.q));
    const SuiteBuffer kb = upload(ctx, encode_as(p.io, slice(p.k, p.hkv, total, p.d, p.s, total)));
    const SuiteBuffer vb = upload(ctx, encode_as(p.io, slice(p.v, p.hkv, total, p.d, p.s, total)));
    SuiteBuffer ob = output(ctx, p.q.size() * engram_dtype_size(p.io));
    const engram_attention_options o = options_of(p);
    expect_ok(engram_attention_prefill(ctx, cache.get(), 0, p.hq, p.n, p.io, qb.get(), kb.get(), vb.get(),
                                       ob.get(), &o),
              "engram_attention_prefill");
    const RefDecodeOutput ref = engram_test::ref_attention_prefill(reference_input(p), p.n);
    cmp.check("out", ob.floats(p.io), ref.out,
              attention_prefill_bound(p.hq, p.hkv, p.n, p.d, p.io, ref), p.d);
    // The chunk was appended.
    engram_attention_cache_info info;
    engram_attention_cache_info_init(&info);
    expect_ok(engram_attention_cache_get_info(ctx, cache.get(), 0, &info), "engram_attention_cache_get_info");
    if (info.length != total)
        cmp.fail("cache length after prefill " + std::to_string(info.length) + ", expected " +
                 std::to_string(total));
}

Options options_for(size_t k) {
    Options o;
    o["policy"] = double(k % 4);
    o["io"] = double(k % 2 == 1);
    o["append_f32"] = double(k % 3 != 2);
    if (k % 3 == 1) o["chunk"] = double(1 + k % 5);
    if (k % 5 == 4) o["scale"] = 0.2;
    return o;
}

}  // namespace

std::vector<int32_t> attention_policy(int policy, int64_t kv_heads) {
    std::vector<int32_t> out(static_cast<size_t>(kv_heads), 0);
    for (int64_t h = 0; h < kv_heads; ++h) {
        const bool streaming = policy == 2 || (policy == 0 && h % 2 == 1) ||
                               (policy == 3 && h < (kv_heads + 1) / 2);
        out[size_t(h)] = streaming ? ENGRAM_ATTENTION_HEAD_STREAMING : ENGRAM_ATTENTION_HEAD_RETRIEVAL;
    }
    return out;
}

std::string AttentionSuite::summary() const {
    return "attention over a KV cache with retrieval and streaming heads: decode and chunked prefill";
}

std::vector<OpInfo> AttentionSuite::ops() const {
    return {{"attention_decode", "one query per head over what each KV head keeps"},
            {"attention_prefill", "a causal chunk of queries over the cache, then appended"}};
}

std::vector<DimInfo> AttentionSuite::dims() const {
    return {{"hq", "query heads"},
            {"hkv", "KV heads (divides hq)"},
            {"d", "head dim"},
            {"s", "tokens in the cache before the op"},
            {"n", "prefill: tokens in the chunk"},
            {"sink", "streaming heads' attention-sink tokens"},
            {"w", "streaming heads' window"}};
}

std::vector<Case> AttentionSuite::verify_cases(const std::string& op, uint64_t seed, int max_per_op) const {
    std::vector<Case> cases;
    auto wanted = [&](const char* name) { return op.empty() || op == family() || op == name; };
    auto add = [&](const char* name, size_t k, size_t op_index, Dims dims) {
        if (max_per_op > 0 && int(k) >= max_per_op) return;
        Case c;
        c.op = name;
        c.dims = std::move(dims);
        c.dtype = kDtypes[(k + op_index) % 3];
        c.seed = seed * 1000 + k + 100 * op_index;
        c.options = options_for(k + op_index);
        cases.push_back(std::move(c));
    };
    if (wanted("attention_decode"))
        for (size_t k = 0; k < sizeof kDecode / sizeof kDecode[0]; ++k) {
            const int64_t* x = kDecode[k];
            add("attention_decode", k, 0,
                {{"hq", x[0]}, {"hkv", x[1]}, {"d", x[2]}, {"s", x[3]}, {"sink", x[4]}, {"w", x[5]}});
        }
    if (wanted("attention_prefill"))
        for (size_t k = 0; k < sizeof kPrefill / sizeof kPrefill[0]; ++k) {
            const int64_t* x = kPrefill[k];
            add("attention_prefill", k, 1,
                {{"hq", x[0]}, {"hkv", x[1]}, {"d", x[2]}, {"s", x[3]}, {"n", x[4]}, {"sink", x[5]},
                 {"w", x[6]}});
        }
    return cases;
}

std::vector<Dims> AttentionSuite::bench_shapes() const {
    return {{{"hq", 32}, {"hkv", 8}, {"d", 128}, {"s", 131072}, {"n", 4096}, {"sink", 64}, {"w", 1024}},
            {{"hq", 32}, {"hkv", 8}, {"d", 128}, {"s", 8192}, {"n", 4096}, {"sink", 64}, {"w", 1024}}};
}

Dims AttentionSuite::reduced(const Dims& bench) const {
    // Two KV heads with the benchmark's group size (both policies of a mix),
    // the benchmark's head dim, sinks and window, and a cache long enough to
    // wrap the ring buffer and span several of the kernel's token blocks.
    const int64_t hkv = std::min<int64_t>(bench.at("hkv"), 2);
    const int64_t group = bench.at("hq") / bench.at("hkv");
    Dims r = bench;
    r["hkv"] = hkv;
    r["hq"] = hkv * group;
    r["s"] = std::min<int64_t>(bench.at("s"), 2500);
    if (bench.count("n")) r["n"] = std::min<int64_t>(bench.at("n"), 100);
    return r;
}

Outcome AttentionSuite::run(engram_context* ctx, const Case& c) const {
    Comparison cmp;
    try {
        if (c.op == "attention_decode") run_decode(cmp, ctx, c);
        else if (c.op == "attention_prefill") run_prefill(cmp, ctx, c);
        else throw std::runtime_error("unknown op " + c.op);
    } catch (const std::exception& e) {
        cmp.fail(e.what());
    }
    return cmp.outcome();
}

}  // namespace engram_suite
