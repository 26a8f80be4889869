// test_util.hpp — what every native test shares: seeded random numbers, dtype
// encoding, tolerance comparison in the llm.c style, and a backend adapter so
// that the same test case runs on the CPU backend always and on CUDA where a
// device exists (device buffers are filled from, and read back to, the host).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engram.h"

namespace engram_test {

// ---------------------------------------------------------------------------
// Random numbers: every generator is seeded explicitly, so a failure reproduces.

class Rng {
public:
    explicit Rng(uint64_t seed) : gen_(seed) {}
    double normal() { return normal_(gen_); }
    double uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(gen_); }
    // Uniform integer in [lo, hi].
    int64_t integer(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(gen_); }
    uint32_t bits32() { return uint32_t(gen_()); }
    bool chance(double p) { return uniform(0.0, 1.0) < p; }

private:
    std::mt19937_64 gen_;
    std::normal_distribution<double> normal_{0.0, 1.0};
};

// ---------------------------------------------------------------------------
// dtypes

// x rounded to the dtype (f16/bf16 round-to-nearest-even; f32 unchanged).
float round_to(engram_dtype dtype, float x);
// Values as raw bytes of the dtype (floats are rounded; ints must be exact).
std::vector<uint8_t> encode_floats(engram_dtype dtype, const std::vector<float>& values);
std::vector<uint8_t> encode_ints(engram_dtype dtype, const std::vector<int64_t>& values);
// Raw bytes of a float dtype back to f32 (exact).
std::vector<float> decode_floats(engram_dtype dtype, const void* raw, size_t count);
const char* dtype_label(engram_dtype dtype);

// ---------------------------------------------------------------------------
// Comparison: |got - ref| <= bound, llm.c style. Prints the first mismatches
// with their indices (row, column when `cols` is given), stops listing after
// 10, reports how many there were and the worst error / bound ratio. NaN or inf
// where the reference is finite is always a mismatch.

::testing::AssertionResult all_within(const char* what, const std::vector<float>& got,
                                      const std::vector<double>& ref,
                                      const std::vector<double>& bound, int64_t cols = 0);

// Scalar tolerance: bound = atol + rtol * |ref|.
struct Tol {
    double atol = 0.0;
    double rtol = 0.0;
};
::testing::AssertionResult all_close(const char* what, const std::vector<float>& got,
                                     const std::vector<double>& ref, Tol tol, int64_t cols = 0);
// Two results of the library against each other (bound per entry).
::testing::AssertionResult all_within(const char* what, const std::vector<float>& got,
                                      const std::vector<float>& other,
                                      const std::vector<double>& bound, int64_t cols = 0);

// With ENGRAM_TEST_VERBOSE=1 every comparison prints its worst error/bound
// ratio, to see how much margin a tolerance leaves.
bool verbose();

// ---------------------------------------------------------------------------
// Capabilities and status helpers

engram_capabilities capabilities();
// Counter `name` of op stats, 0 when the op that filled them has no such
// counter (e.g. "blocks_total" after a forward).
uint64_t op_counter(const engram_op_stats& stats, const char* name);

// "" when a context of this backend can run here, else why not (for GTEST_SKIP).
std::string backend_unavailable_reason(engram_backend backend);
const char* backend_label(engram_backend backend);

// gtest printer: "ENGRAM_ERR_INVALID_ARGUMENT (1)".
std::string status_text(engram_status status);

// Asserts that `call` returned `expected` and that engram_last_error() names
// every one of `needles` (e.g. the argument).
#define EXPECT_STATUS(expected, call, ...)                                                  \
    do {                                                                                    \
        const engram_status engram_st_ = (call);                                            \
        const std::string engram_msg_ = engram_last_error();                                \
        EXPECT_EQ(::engram_test::status_text(expected), ::engram_test::status_text(engram_st_)) \
            << #call << "\n  message: \"" << engram_msg_ << "\"";                           \
        for (const char* engram_needle_ : std::vector<const char*>{__VA_ARGS__}) {         \
            EXPECT_NE(engram_msg_.find(engram_needle_), std::string::npos)                  \
                << #call << ": message \"" << engram_msg_ << "\" does not mention \""      \
                << engram_needle_ << "\"";                                                  \
        }                                                                                   \
        if (engram_st_ != ENGRAM_OK) {                                                      \
            EXPECT_FALSE(engram_msg_.empty()) << #call;                                     \
        }                                                                                   \
    } while (0)

#define EXPECT_OK(call)                                                                     \
    do {                                                                                    \
        const engram_status engram_st_ = (call);                                            \
        EXPECT_EQ(ENGRAM_OK, engram_st_) << #call << ": " << ::engram_test::status_text(engram_st_) \
                                         << ": " << engram_last_error();                    \
    } while (0)

#define ASSERT_OK(call)                                                                     \
    do {                                                                                    \
        const engram_status engram_st_ = (call);                                            \
        ASSERT_EQ(ENGRAM_OK, engram_st_) << #call << ": " << ::engram_test::status_text(engram_st_) \
                                         << ": " << engram_last_error();                    \
    } while (0)

// ---------------------------------------------------------------------------
// Backend adapter

class Context;

// Memory of a context: host memory for a CPU context, device memory (from
// engram_device_alloc) for a CUDA context. Exactly `bytes` long, so the
// sanitizers see any out-of-bounds access on the CPU.
class Buffer {
public:
    Buffer() = default;
    Buffer(Context& ctx, size_t bytes);
    ~Buffer();
    Buffer(Buffer&& other) noexcept;
    Buffer& operator=(Buffer&& other) noexcept;
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;

    void* get() const { return ptr_; }
    template <class T>
    T* as() const { return static_cast<T*>(ptr_); }
    size_t bytes() const { return bytes_; }
    explicit operator bool() const { return ptr_ != nullptr; }

    // Copies `bytes` host bytes to offset `offset` of the buffer.
    void upload(const void* src, size_t bytes, size_t offset = 0);
    void download(void* dst, size_t bytes) const;
    void fill(uint8_t byte);
    std::vector<float> floats(engram_dtype dtype = ENGRAM_DTYPE_F32) const;

private:
    void release();
    Context* ctx_ = nullptr;
    void* ptr_ = nullptr;
    size_t bytes_ = 0;
    std::vector<uint8_t> host_;  // CPU contexts
};

// An engram_context of one backend, plus helpers to move data in and out.
class Context {
public:
    explicit Context(engram_backend backend);
    ~Context();
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

    engram_context* get() const { return ctx_; }
    engram_backend backend() const { return backend_; }
    bool ok() const { return ctx_ != nullptr; }
    const std::string& error() const { return error_; }

    // A buffer holding a copy of `bytes` host bytes.
    Buffer upload(const void* src, size_t bytes);
    template <class T>
    Buffer upload(const std::vector<T>& v) { return upload(v.data(), v.size() * sizeof(T)); }
    // An output buffer filled with `fill` bytes (0xFF: NaN in f32, f16 and
    // bf16), so entries that an op fails to write stand out.
    Buffer output(size_t bytes, uint8_t fill = 0xFF);

private:
    engram_context* ctx_ = nullptr;
    engram_backend backend_;
    std::string error_;
};

// Value-parameterised fixture over backends. CUDA cases skip with the reason
// from engram_get_capabilities when there is no device.
class BackendTest : public ::testing::TestWithParam<engram_backend> {
protected:
    void SetUp() override;
    // The context lives until the fixture is destroyed, after the derived
    // fixture's buffers.
    Context& ctx() { return *ctx_; }
    engram_backend backend() const { return GetParam(); }

private:
    std::unique_ptr<Context> ctx_;
};

std::string backend_param_name(const ::testing::TestParamInfo<engram_backend>& info);

#define ENGRAM_INSTANTIATE_BACKENDS(fixture)                                                  \
    INSTANTIATE_TEST_SUITE_P(Backends, fixture,                                              \
                             ::testing::Values(ENGRAM_BACKEND_CPU, ENGRAM_BACKEND_CUDA),      \
                             ::engram_test::backend_param_name)

}  // namespace engram_test
