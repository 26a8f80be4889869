// context.hpp — what an engram_context owns. The C ABI type is completed here;
// backends reach their own state through it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "engram.h"
#include "core/thread_pool.hpp"

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

// A scratch buffer counted on its context (so "peak extra memory" is
// measured), freed on scope exit. Memory supplies allocate(ctx, bytes) (throws
// engram::Error on failure) and release(ctx, ptr) noexcept; sizes are counted
// rounded up to 64 bytes (one cache line, one AVX-512 vector).
template <class Memory>
class Scratch {
public:
    Scratch() = default;
    Scratch(engram_context& ctx, uint64_t bytes) {
        if (bytes == 0) return;
        const uint64_t rounded = (bytes + 63) & ~uint64_t(63);
        data_ = Memory::allocate(ctx, rounded);
        ctx_ = &ctx;
        bytes_ = rounded;
        ctx.scratch.add(rounded);
    }
    ~Scratch() { reset(); }
    Scratch(Scratch&& other) noexcept { take(other); }
    Scratch& operator=(Scratch&& other) noexcept {
        if (this != &other) {
            reset();
            take(other);
        }
        return *this;
    }
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;

    template <class T>
    T* as() const { return static_cast<T*>(data_); }
    template <class T>
    T* at(uint64_t offset) const {
        return reinterpret_cast<T*>(static_cast<unsigned char*>(data_) + offset);
    }
    uint64_t bytes() const { return bytes_; }

private:
    void take(Scratch& other) noexcept {
        ctx_ = other.ctx_;
        data_ = other.data_;
        bytes_ = other.bytes_;
        other.ctx_ = nullptr;
        other.data_ = nullptr;
        other.bytes_ = 0;
    }
    void reset() noexcept {
        if (data_) {
            Memory::release(*ctx_, data_);
            ctx_->scratch.sub(bytes_);
        }
        ctx_ = nullptr;
        data_ = nullptr;
        bytes_ = 0;
    }
    engram_context* ctx_ = nullptr;
    void* data_ = nullptr;
    uint64_t bytes_ = 0;
};

// Host memory, 64-byte aligned.
struct HostMemory {
    static void* allocate(engram_context& ctx, uint64_t bytes);
    static void release(engram_context& ctx, void* ptr) noexcept;
};

using HostScratch = Scratch<HostMemory>;

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
