// cuda_state.hpp — internals of the CUDA backend shared by its host files
// (device.cpp, cce_cuda.cpp): the per-context device state, the CUDA error
// conversion, a current-device guard and stream-ordered scratch memory.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/context.hpp"
#include "core/error.hpp"

namespace engram::cuda {

// What a CUDA engram_context owns besides its mutex and counters.
struct DeviceState {
    int device = 0;
    cudaStream_t own_stream = nullptr;  // created non-blocking at context_init
    cudaStream_t stream = nullptr;      // the stream ops run on (own or caller's)
    bool mem_pools = false;             // cudaMallocAsync supported on this device
    int sm_count = 1;
    int max_smem_optin = 48 * 1024;     // per-block dynamic shared memory limit
};

// Turns a failed CUDA call into engram::fail: out of memory, no device/driver,
// or a generic device error, with CUDA's name and description of the error.
[[noreturn]] void raise_cuda(cudaError_t err, const char* what);

inline void check_cuda(cudaError_t err, const char* what) {
    if (err != cudaSuccess) raise_cuda(err, what);
}

// Makes `device` current for the calling thread and restores the previous
// device on scope exit: the caller's thread may be working on another GPU.
class DeviceGuard {
public:
    explicit DeviceGuard(int device);
    ~DeviceGuard();
    DeviceGuard(const DeviceGuard&) = delete;
    DeviceGuard& operator=(const DeviceGuard&) = delete;

private:
    int previous_ = -1;
    int device_ = -1;
};

DeviceState& state(engram_context& ctx);

// Device scratch of one op, counted in ctx.scratch: cudaMallocAsync on the
// context's stream, cudaFreeAsync on scope exit (stream-ordered, so the
// kernels that use it may still be running when the destructor runs).
// Device memory for scratch: stream-ordered (cudaMallocAsync on the
// context's stream) where the device has memory pools, else cudaMalloc.
struct DeviceMemory {
    static void* allocate(engram_context& ctx, uint64_t bytes);
    static void release(engram_context& ctx, void* ptr) noexcept;
};

using DeviceScratch = Scratch<DeviceMemory>;

// Packs several scratch arrays into one allocation, each 256-byte aligned.
class ScratchLayout {
public:
    uint64_t add(uint64_t bytes) {
        const uint64_t offset = total_;
        total_ += (bytes + 255) & ~uint64_t(255);
        return offset;
    }
    uint64_t total() const { return total_; }

private:
    uint64_t total_ = 0;
};

}  // namespace engram::cuda
