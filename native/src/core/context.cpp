// context.cpp — scratch accounting and host scratch buffers.
#include "core/context.hpp"

#include <cstdlib>
#include <new>

#include "core/error.hpp"

namespace engram {

void MemoryCounter::add(uint64_t bytes) {
    const uint64_t now = current_.fetch_add(bytes) + bytes;
    uint64_t peak = peak_.load();
    while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
    }
    allocations_.fetch_add(1);
}

void MemoryCounter::sub(uint64_t bytes) { current_.fetch_sub(bytes); }

void* HostMemory::allocate(engram_context&, uint64_t bytes) {
    void* p = std::aligned_alloc(64, size_t(bytes));
    if (!p)
        fail(ENGRAM_ERR_OUT_OF_MEMORY,
             format("cannot allocate %llu bytes of host scratch", (unsigned long long)bytes));
    return p;
}

void HostMemory::release(engram_context&, void* ptr) noexcept { std::free(ptr); }

}  // namespace engram
