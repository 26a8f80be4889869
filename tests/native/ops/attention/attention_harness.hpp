// attention_harness.hpp — builds an attention decode case (random keys,
// values and queries, a cache filled in chunks), runs it through the C ABI and
// computes the float64 reference and the tolerance of every output.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engram.h"
#include "ops/attention/reference/attention_reference.hpp"
#include "test_util.hpp"

namespace engram_test {

// Owns a cache; destroyed with the holder.
class CacheHolder {
public:
    CacheHolder() = default;
    explicit CacheHolder(engram_attention_cache* c) : c_(c) {}
    ~CacheHolder() { engram_attention_cache_destroy(c_); }
    CacheHolder(const CacheHolder&) = delete;
    CacheHolder& operator=(const CacheHolder&) = delete;
    engram_attention_cache* get() const { return c_; }
    engram_attention_cache** out() { return &c_; }

private:
    engram_attention_cache* c_ = nullptr;
};

// Host bytes as an op of ctx's backend takes them: the host vector itself on
// a CPU context, a device copy on a CUDA context (freed with the object).
class StagedBytes {
public:
    StagedBytes(engram_context* ctx, const std::vector<uint8_t>& host);
    ~StagedBytes();
    StagedBytes(const StagedBytes&) = delete;
    StagedBytes& operator=(const StagedBytes&) = delete;
    void* get() { return dev_ ? dev_ : host_.data(); }
    // The current contents (copied back from the device on CUDA).
    std::vector<uint8_t> read() const;

private:
    engram_context* ctx_;
    std::vector<uint8_t> host_;
    void* dev_ = nullptr;
};

struct DecodeCase {
    int64_t q_heads = 4;
    int64_t kv_heads = 1;
    int64_t head_dim = 64;
    int64_t length = 16;
    int32_t sink = 4;
    int32_t window = 8;
    int64_t capacity = 0;              // 0: length
    engram_dtype storage = ENGRAM_DTYPE_F32;
    engram_dtype io = ENGRAM_DTYPE_F32;       // q and out
    engram_dtype append = ENGRAM_DTYPE_F32;   // k, v as appended: F32 or storage
    std::vector<int32_t> policy;       // [kv_heads]; empty: alternate retrieval/streaming
    int64_t chunk = 1;                 // tokens per append; <= 0: random chunk sizes in [1, 2W]
    float scale = 0.0f;
    uint64_t seed = 1;

    std::string describe() const;
};

struct DecodeData {
    std::vector<float> q;   // [q_heads, D] rounded to io
    std::vector<float> k;   // [kv_heads, length, D] rounded to storage
    std::vector<float> v;
    std::vector<int32_t> policy;
};

// Random data for a case (normal values, rounded to the dtypes).
DecodeData make_decode_data(const DecodeCase& c);

// Creates a cache for the case on ctx, appends every token in the case's
// chunks; returns false (with a gtest failure) if a call fails.
::testing::AssertionResult fill_cache(engram_context* ctx, const DecodeCase& c,
                                      const DecodeData& d, CacheHolder& cache);

// Runs engram_attention_decode; out decoded to f32.
::testing::AssertionResult run_decode(engram_context* ctx, engram_attention_cache* cache,
                                      const DecodeCase& c, const DecodeData& d,
                                      std::vector<float>& out);

RefDecodeOutput reference_decode(const DecodeCase& c, const DecodeData& d);

// Error bound per output from the f32 error model (see the .cpp).
std::vector<double> decode_bound(const DecodeCase& c, const RefDecodeOutput& ref);

}  // namespace engram_test
