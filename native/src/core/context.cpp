// context.cpp — scratch accounting and host scratch buffers.
#include "context.hpp"

#include <cstdlib>
#include <new>

#include "error.hpp"

namespace engram {

void MemoryCounter::add(uint64_t bytes) {
    const uint64_t now = current_.fetch_add(bytes) + bytes;
    uint64_t peak = peak_.load();
    while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
    }
    allocations_.fetch_add(1);
}

void MemoryCounter::sub(uint64_t bytes) { current_.fetch_sub(bytes); }

HostScratch::HostScratch(engram_context& ctx, uint64_t bytes) {
    if (bytes == 0) return;
    const uint64_t rounded = (bytes + 63) & ~uint64_t(63);
    void* p = std::aligned_alloc(64, size_t(rounded));
    if (!p)
        fail(ENGRAM_ERR_OUT_OF_MEMORY,
             format("cannot allocate %llu bytes of host scratch", (unsigned long long)bytes));
    ctx_ = &ctx;
    data_ = p;
    bytes_ = rounded;
    ctx.scratch.add(rounded);
}

HostScratch::~HostScratch() { release(); }

HostScratch::HostScratch(HostScratch&& other) noexcept
    : ctx_(other.ctx_), data_(other.data_), bytes_(other.bytes_) {
    other.ctx_ = nullptr;
    other.data_ = nullptr;
    other.bytes_ = 0;
}

HostScratch& HostScratch::operator=(HostScratch&& other) noexcept {
    if (this != &other) {
        release();
        ctx_ = other.ctx_;
        data_ = other.data_;
        bytes_ = other.bytes_;
        other.ctx_ = nullptr;
        other.data_ = nullptr;
        other.bytes_ = 0;
    }
    return *this;
}

void HostScratch::release() {
    if (data_) {
        std::free(data_);
        ctx_->scratch.sub(bytes_);
    }
    ctx_ = nullptr;
    data_ = nullptr;
    bytes_ = 0;
}

}  // namespace engram
