// suite_memory.hpp — buffers on a context's backend for the suites: host
// memory for a CPU context, device memory for a CUDA context, filled from and
// read back to the host through the C ABI. Exactly as long as asked, so the
// sanitizers see any out-of-bounds access on the CPU.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "engram.h"

namespace engram_suite {

class SuiteBuffer {
public:
    SuiteBuffer() = default;
    // `bytes` of memory on ctx's backend (none when bytes is 0).
    SuiteBuffer(engram_context* ctx, size_t bytes);
    ~SuiteBuffer();
    SuiteBuffer(SuiteBuffer&& other) noexcept { *this = std::move(other); }
    SuiteBuffer& operator=(SuiteBuffer&& other) noexcept;
    SuiteBuffer(const SuiteBuffer&) = delete;
    SuiteBuffer& operator=(const SuiteBuffer&) = delete;

    void* get() const { return ptr_; }
    float* f32() const { return static_cast<float*>(ptr_); }
    void upload(const void* src, size_t bytes);
    // Every byte set to `value` (0xFF: NaN in f32/f16/bf16, so an entry an op
    // fails to write stands out).
    void fill(uint8_t value);
    // The contents as f32 values, decoding f16/bf16.
    std::vector<float> floats(engram_dtype dtype = ENGRAM_DTYPE_F32) const;

private:
    void release();
    engram_context* ctx_ = nullptr;
    bool device_ = false;
    void* ptr_ = nullptr;
    size_t bytes_ = 0;
    std::vector<uint8_t> host_;
};

// A buffer holding a copy of host bytes.
SuiteBuffer upload(engram_context* ctx, const void* src, size_t bytes);
template <class T>
SuiteBuffer upload(engram_context* ctx, const std::vector<T>& v) {
    return upload(ctx, v.data(), v.size() * sizeof(T));
}
// An output buffer filled with NaN bytes.
SuiteBuffer output(engram_context* ctx, size_t bytes);

// Throws std::runtime_error naming `what` and engram_last_error().
void check_status(engram_status st, const char* what);

}  // namespace engram_suite
