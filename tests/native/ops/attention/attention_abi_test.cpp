// attention_abi_test.cpp — bad input to every attention entry point: the
// status, a message naming the argument, and nothing written (outputs keep
// their bytes, the cache keeps its tokens). Also the registry, the struct
// layouts, and a cache outliving its context.
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstring>

#include "ops/attention/attention_harness.hpp"

using namespace engram_test;

namespace {

engram_attention_cache_config good_config(const int32_t* policy) {
    engram_attention_cache_config cfg;
    engram_attention_cache_config_init(&cfg);
    cfg.layers = 2;
    cfg.kv_heads = 2;
    cfg.head_dim = 16;
    cfg.sink_tokens = 1;
    cfg.window = 3;
    cfg.capacity = 8;
    cfg.policy = policy;
    return cfg;
}

TEST(AttentionAbi, CreateRejectsBadConfigsByName) {
    Context ctx(ENGRAM_BACKEND_CPU);
    ASSERT_TRUE(ctx.ok());
    const int32_t policy[] = {0, 1, 1, 0};
    const int32_t bad_policy[] = {0, 1, 2, 0};
    struct Case {
        const char* needle;
        engram_status status;
        void (*edit)(engram_attention_cache_config&);
    };
    const Case cases[] = {
        {"config->struct_size", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_attention_cache_config& c) { c.struct_size = 8; }},
        {"config->dtype", ENGRAM_ERR_UNSUPPORTED, [](engram_attention_cache_config& c) { c.dtype = ENGRAM_DTYPE_I32; }},
        {"config->dtype", ENGRAM_ERR_UNSUPPORTED, [](engram_attention_cache_config& c) { c.dtype = 77; }},
        {"config->layers", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_attention_cache_config& c) { c.layers = 0; }},
        {"config->kv_heads", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_attention_cache_config& c) { c.kv_heads = -2; }},
        {"config->head_dim", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_attention_cache_config& c) { c.head_dim = 0; }},
        {"config->head_dim", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_attention_cache_config& c) { c.head_dim = 257; }},
        {"config->sink_tokens", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_attention_cache_config& c) { c.sink_tokens = -1; }},
        {"config->window", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_attention_cache_config& c) { c.window = 0; }},
        {"config->capacity", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_attention_cache_config& c) { c.capacity = 0; }},
        {"config->reserved", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_attention_cache_config& c) { c.reserved = 1; }},
        {"config->layers * kv_heads", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_attention_cache_config& c) {
             c.layers = 1 << 20;
             c.kv_heads = 1 << 20;
             c.policy = nullptr;
         }},
    };
    for (const Case& k : cases) {
        engram_attention_cache_config cfg = good_config(policy);
        k.edit(cfg);
        engram_attention_cache* out = reinterpret_cast<engram_attention_cache*>(&cfg);
        EXPECT_STATUS(k.status, engram_attention_cache_create(ctx.get(), &cfg, &out), k.needle);
        EXPECT_EQ(nullptr, out) << k.needle;
    }
    engram_attention_cache_config cfg = good_config(bad_policy);
    engram_attention_cache* out = nullptr;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_cache_create(ctx.get(), &cfg, &out),
                  "config->policy[2] = 2");
    cfg = good_config(reinterpret_cast<const int32_t*>(reinterpret_cast<const char*>(policy) + 1));
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_cache_create(ctx.get(), &cfg, &out),
                  "config->policy", "aligned");
    cfg = good_config(policy);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_cache_create(nullptr, &cfg, &out), "ctx");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_cache_create(ctx.get(), nullptr, &out), "config");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_cache_create(ctx.get(), &cfg, nullptr), "out");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_cache_config_init(nullptr), "config");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_cache_info_init(nullptr), "info");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_options_init(nullptr), "opts");
    EXPECT_OK(engram_attention_cache_destroy(nullptr));
}

// A cache with 3 tokens in layer 0 (head 0 retrieval, head 1 streaming), and
// the snapshot of what it holds, to check that failed calls change nothing.
class AttentionAbiCall : public ::testing::Test {
protected:
    Context ctx_{ENGRAM_BACKEND_CPU};
    CacheHolder cache_;
    const int32_t policy_[4] = {0, 1, 1, 0};
    std::vector<float> k_, v_, q_;
    std::vector<float> ref_out_;

    void SetUp() override {
        ASSERT_TRUE(ctx_.ok());
        const engram_attention_cache_config cfg = good_config(policy_);
        ASSERT_OK(engram_attention_cache_create(ctx_.get(), &cfg, cache_.out()));
        Rng rng(3);
        k_.resize(2 * 3 * 16);
        v_.resize(k_.size());
        q_.resize(4 * 16);
        for (float& x : k_) x = float(rng.normal());
        for (float& x : v_) x = float(rng.normal());
        for (float& x : q_) x = float(rng.normal());
        ASSERT_OK(engram_attention_cache_append(ctx_.get(), cache_.get(), 0, 3, ENGRAM_DTYPE_F32,
                                                k_.data(), v_.data()));
        ref_out_ = decode();
    }
    std::vector<float> decode() {
        std::vector<float> out(q_.size(), 0.0f);
        EXPECT_OK(engram_attention_decode(ctx_.get(), cache_.get(), 0, 4, ENGRAM_DTYPE_F32,
                                          q_.data(), out.data(), nullptr));
        return out;
    }
    // The cache holds what it held after SetUp.
    void expect_unchanged() {
        engram_attention_cache_info info;
        engram_attention_cache_info_init(&info);
        ASSERT_OK(engram_attention_cache_get_info(ctx_.get(), cache_.get(), 0, &info));
        EXPECT_EQ(3, info.length);
        const std::vector<float> out = decode();
        EXPECT_EQ(0, std::memcmp(out.data(), ref_out_.data(), out.size() * sizeof(float)));
    }
};

TEST_F(AttentionAbiCall, AppendRejectsBadInputAndLeavesTheCache) {
    engram_context* c = ctx_.get();
    engram_attention_cache* a = cache_.get();
    const float* k = k_.data();
    const float* v = v_.data();
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_cache_append(nullptr, a, 0, 1, ENGRAM_DTYPE_F32, k, v), "ctx");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_cache_append(c, nullptr, 0, 1, ENGRAM_DTYPE_F32, k, v), "cache");
    EXPECT_STATUS(ENGRAM_ERR_OUT_OF_RANGE, engram_attention_cache_append(c, a, 2, 1, ENGRAM_DTYPE_F32, k, v), "layer = 2");
    EXPECT_STATUS(ENGRAM_ERR_OUT_OF_RANGE, engram_attention_cache_append(c, a, -1, 1, ENGRAM_DTYPE_F32, k, v), "layer = -1");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_cache_append(c, a, 0, 0, ENGRAM_DTYPE_F32, k, v), "tokens");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_cache_append(c, a, 0, -5, ENGRAM_DTYPE_F32, k, v), "tokens");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_cache_append(c, a, 0, 1, ENGRAM_DTYPE_F32, nullptr, v), "k is NULL");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_cache_append(c, a, 0, 1, ENGRAM_DTYPE_F32, k, nullptr), "v is NULL");
    EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED, engram_attention_cache_append(c, a, 0, 1, ENGRAM_DTYPE_I64, k, v), "dtype");
    EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED, engram_attention_cache_append(c, a, 0, 1, ENGRAM_DTYPE_BF16, k, v), "dtype", "storage");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_attention_cache_append(c, a, 0, 1, ENGRAM_DTYPE_F32,
                                                reinterpret_cast<const char*>(k) + 2, v), "k", "aligned");
    // Past the capacity of the layer's retrieval head: 3 + 6 > 8.
    std::vector<float> big(2 * 6 * 16, 1.0f);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_attention_cache_append(c, a, 0, 6, ENGRAM_DTYPE_F32, big.data(), big.data()),
                  "tokens = 6", "capacity = 8");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_attention_cache_append(c, a, 0, INT64_MAX, ENGRAM_DTYPE_F32, k, v), "tokens");
    expect_unchanged();
    // The same context's other cache is a different cache; another context is refused.
    Context other(ENGRAM_BACKEND_CPU);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_attention_cache_append(other.get(), a, 0, 1, ENGRAM_DTYPE_F32, k, v),
                  "cache", "context");
    expect_unchanged();
}

TEST_F(AttentionAbiCall, DecodeRejectsBadInputAndWritesNothing) {
    engram_context* c = ctx_.get();
    engram_attention_cache* a = cache_.get();
    std::vector<float> out(q_.size() + 16, 0.0f);
    std::memset(out.data(), 0x5A, out.size() * sizeof(float));
    const std::vector<float> before = out;
    const float* q = q_.data();
    float* o = out.data();
    engram_attention_options opts;
    engram_attention_options_init(&opts);
    const auto F32 = ENGRAM_DTYPE_F32;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_decode(nullptr, a, 0, 4, F32, q, o, nullptr), "ctx");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_decode(c, nullptr, 0, 4, F32, q, o, nullptr), "cache");
    EXPECT_STATUS(ENGRAM_ERR_OUT_OF_RANGE, engram_attention_decode(c, a, 7, 4, F32, q, o, nullptr), "layer = 7");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_decode(c, a, 0, 3, F32, q, o, nullptr), "q_heads = 3", "multiple", "kv_heads = 2");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_decode(c, a, 0, 0, F32, q, o, nullptr), "q_heads");
    EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED, engram_attention_decode(c, a, 0, 4, ENGRAM_DTYPE_I32, q, o, nullptr), "dtype");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_decode(c, a, 0, 4, F32, nullptr, o, nullptr), "q is NULL");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_decode(c, a, 0, 4, F32, q, nullptr, nullptr), "out is NULL");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_attention_decode(c, a, 0, 4, F32, q, reinterpret_cast<char*>(o) + 1, nullptr), "out", "aligned");
    // out overlapping q (in place is not allowed).
    std::vector<float> qo(q_.begin(), q_.end());
    qo.resize(q_.size() + 16);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_decode(c, a, 0, 4, F32, qo.data(), qo.data() + 8, nullptr), "out overlaps q");
    EXPECT_EQ(0, std::memcmp(qo.data(), q_.data(), q_.size() * sizeof(float)));
    // Options.
    opts.scale = -1.0f;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_decode(c, a, 0, 4, F32, q, o, &opts), "opts->scale");
    opts.scale = NAN;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_decode(c, a, 0, 4, F32, q, o, &opts), "opts->scale");
    opts.scale = INFINITY;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_decode(c, a, 0, 4, F32, q, o, &opts), "opts->scale");
    engram_attention_options_init(&opts);
    opts.struct_size = 4;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_decode(c, a, 0, 4, F32, q, o, &opts), "opts->struct_size");
    // An empty layer.
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_decode(c, a, 1, 4, F32, q, o, nullptr), "layer 1", "empty");
    // Another context.
    Context other(ENGRAM_BACKEND_CPU);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_decode(other.get(), a, 0, 4, F32, q, o, nullptr), "cache", "context");
    EXPECT_EQ(0, std::memcmp(out.data(), before.data(), out.size() * sizeof(float)));
    expect_unchanged();
}

TEST_F(AttentionAbiCall, CacheCallsRejectBadInput) {
    engram_context* c = ctx_.get();
    engram_attention_cache* a = cache_.get();
    engram_attention_cache_info info;
    engram_attention_cache_info_init(&info);
    EXPECT_STATUS(ENGRAM_ERR_OUT_OF_RANGE, engram_attention_cache_get_info(c, a, 2, &info), "layer = 2");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_cache_get_info(c, a, 0, nullptr), "info");
    info.struct_size = 3;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_cache_get_info(c, a, 0, &info), "info->struct_size");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_cache_get_info(c, nullptr, 0, &info), "cache");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_cache_reset(nullptr, a), "ctx");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_cache_reset(c, nullptr), "cache");
    Context other(ENGRAM_BACKEND_CPU);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_cache_reset(other.get(), a), "cache");
    const int32_t p4[] = {1, 1, 1, 1};
    const int32_t bad[] = {0, 0, -1, 0};
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_cache_set_policy(c, a, nullptr, 4), "policy");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_cache_set_policy(c, a, p4, 3), "count = 3");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_cache_set_policy(c, a, bad, 4), "policy[2] = -1");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_cache_set_policy(c, a, p4, 4), "not empty");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_attention_cache_set_policy(other.get(), a, p4, 4), "cache");
    expect_unchanged();
}

// The cache does not need its context to be destroyed (the header's contract).
TEST(AttentionAbi, CacheMayBeDestroyedAfterItsContext) {
    engram_context* ctx = nullptr;
    ASSERT_OK(engram_context_create(ENGRAM_BACKEND_CPU, 0, &ctx));
    const int32_t policy[] = {0, 1, 1, 0};
    const engram_attention_cache_config cfg = good_config(policy);
    engram_attention_cache* cache = nullptr;
    ASSERT_OK(engram_attention_cache_create(ctx, &cfg, &cache));
    std::vector<float> kv(2 * 5 * 16, 0.25f);
    ASSERT_OK(engram_attention_cache_append(ctx, cache, 1, 5, ENGRAM_DTYPE_F32, kv.data(), kv.data()));
    ASSERT_OK(engram_context_destroy(ctx));
    EXPECT_OK(engram_attention_cache_destroy(cache));  // ASan checks no freed memory is touched
}

// A CUDA context makes a cache in device memory; host tensors are refused by
// name, and the cache outlives its context as on the CPU.
TEST(AttentionAbi, CudaContextKeepsTheCacheOnTheDevice) {
    engram_context* ctx = nullptr;
    if (engram_context_create(ENGRAM_BACKEND_CUDA, 0, &ctx) != ENGRAM_OK)
        GTEST_SKIP() << "no CUDA context here: " << engram_last_error();
    const engram_attention_cache_config cfg = good_config(nullptr);
    engram_attention_cache* cache = nullptr;
    ASSERT_OK(engram_attention_cache_create(ctx, &cfg, &cache));
    ASSERT_NE(nullptr, cache);
    const size_t n = size_t(cfg.kv_heads) * size_t(cfg.head_dim);
    std::vector<float> host(n, 1.0f);
    EXPECT_STATUS(ENGRAM_ERR_WRONG_BACKEND,
                  engram_attention_cache_append(ctx, cache, 0, 1, ENGRAM_DTYPE_F32, host.data(), host.data()),
                  "k");
    void* dev = nullptr;
    ASSERT_OK(engram_device_alloc(ctx, n * 4, &dev));
    ASSERT_OK(engram_copy_to_device(ctx, dev, host.data(), n * 4));
    EXPECT_OK(engram_attention_cache_append(ctx, cache, 0, 1, ENGRAM_DTYPE_F32, dev, dev));
    engram_attention_cache_info info;
    engram_attention_cache_info_init(&info);
    EXPECT_OK(engram_attention_cache_get_info(ctx, cache, 0, &info));
    EXPECT_EQ(1, info.length);
    EXPECT_LT(0u, info.total_bytes);
    EXPECT_OK(engram_device_free(ctx, dev));
    ASSERT_OK(engram_context_destroy(ctx));
    EXPECT_OK(engram_attention_cache_destroy(cache));
}

TEST(AttentionAbi, OpsAreRegistered) {
    EXPECT_STREQ("attention_cache_append", engram_op_name(ENGRAM_OP_ATTENTION_CACHE_APPEND));
    EXPECT_STREQ("attention_decode", engram_op_name(ENGRAM_OP_ATTENTION_DECODE));
    EXPECT_STREQ("attention_prefill", engram_op_name(ENGRAM_OP_ATTENTION_PREFILL));
    EXPECT_STREQ("attention", engram_op_family(ENGRAM_OP_ATTENTION_DECODE));
    for (engram_op op : {ENGRAM_OP_ATTENTION_CACHE_APPEND, ENGRAM_OP_ATTENTION_DECODE,
                         ENGRAM_OP_ATTENTION_PREFILL}) {
        for (engram_dtype dt : {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16})
            EXPECT_OK(engram_op_supported(ENGRAM_BACKEND_CPU, op, dt));
        EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED, engram_op_supported(ENGRAM_BACKEND_CPU, op, ENGRAM_DTYPE_I32), "i32");
        const engram_capabilities caps = capabilities();
        const engram_status cuda_st = engram_op_supported(ENGRAM_BACKEND_CUDA, op, ENGRAM_DTYPE_BF16);
        EXPECT_EQ(!caps.cuda_built ? ENGRAM_ERR_UNSUPPORTED
                  : caps.cuda_device_count == 0 ? ENGRAM_ERR_NO_DEVICE : ENGRAM_OK, cuda_st)
            << engram_last_error();
    }
}

TEST(AttentionAbi, StructLayoutsAreReported) {
    uint64_t value = 0;
#define CHECK_SIZE(S)                                                  \
    ASSERT_OK(engram_struct_layout(#S, nullptr, &value));              \
    EXPECT_EQ(sizeof(S), value) << #S;
#define CHECK_FIELD(S, F)                                              \
    ASSERT_OK(engram_struct_layout(#S, #F, &value));                   \
    EXPECT_EQ(offsetof(S, F), value) << #S "." #F;
    CHECK_SIZE(engram_attention_cache_config);
    CHECK_FIELD(engram_attention_cache_config, capacity);
    CHECK_FIELD(engram_attention_cache_config, policy);
    CHECK_SIZE(engram_attention_cache_info);
    CHECK_FIELD(engram_attention_cache_info, streaming_heads);
    CHECK_FIELD(engram_attention_cache_info, total_bytes);
    CHECK_SIZE(engram_attention_options);
    CHECK_FIELD(engram_attention_options, scale);
#undef CHECK_SIZE
#undef CHECK_FIELD
}

}  // namespace
