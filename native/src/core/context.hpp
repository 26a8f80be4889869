// context.hpp — what an engram_context owns. The C ABI type is completed here;
// backends reach their own state through it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "engram.h"
#include "thread_pool.hpp"

namespace engram {

namespace cuda {
struct DeviceState;  // defined by the CUDA backend
}

// Counts the scratch memory an op allocates, so "peak extra memory" is measured,
// not estimated. Updated from worker threads, hence atomics.
class MemoryCounter {
public:
    void add(uint64_t bytes);
    void sub(uint64_t bytes);
    void reset_peak() { peak_.store(current_.load()); }
    uint64_t current() const { return current_.load(); }
    uint64_t peak() const { return peak_.load(); }
    uint64_t allocations() const { return allocations_.load(); }

private:
    std::atomic<uint64_t> current_{0};
    std::atomic<uint64_t> peak_{0};
    std::atomic<uint64_t> allocations_{0};
};

}  // namespace engram

struct engram_context {
    engram_backend backend = ENGRAM_BACKEND_CPU;
    int32_t device = 0;
    std::mutex mutex;  // one op at a time per context
    engram::MemoryCounter scratch;
    engram_op_stats last_op{};
    std::unique_ptr<engram::ThreadPool> pool;  // CPU backend
    engram::cuda::DeviceState* cuda = nullptr;  // CUDA backend
};

namespace engram {

// Host scratch buffer counted on a context: 64-byte aligned (one cache line,
// one AVX-512 vector), freed on scope exit.
class HostScratch {
public:
    HostScratch() = default;
    HostScratch(engram_context& ctx, uint64_t bytes);
    ~HostScratch();
    HostScratch(HostScratch&& other) noexcept;
    HostScratch& operator=(HostScratch&& other) noexcept;
    HostScratch(const HostScratch&) = delete;
    HostScratch& operator=(const HostScratch&) = delete;

    template <class T>
    T* as() const { return static_cast<T*>(data_); }
    uint64_t bytes() const { return bytes_; }

private:
    void release();
    engram_context* ctx_ = nullptr;
    void* data_ = nullptr;
    uint64_t bytes_ = 0;
};

// Counts memory held elsewhere (e.g. in a std::vector) as scratch for as
// long as it lives, so that peak_bytes covers every allocation of an op.
class ScratchAccount {
public:
    ScratchAccount(engram_context& ctx, uint64_t bytes) : ctx_(ctx), bytes_(bytes) {
        ctx.scratch.add(bytes);
    }
    ~ScratchAccount() { ctx_.scratch.sub(bytes_); }
    ScratchAccount(const ScratchAccount&) = delete;
    ScratchAccount& operator=(const ScratchAccount&) = delete;

private:
    engram_context& ctx_;
    uint64_t bytes_;
};

}  // namespace engram
