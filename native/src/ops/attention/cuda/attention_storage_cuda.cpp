// attention_storage_cuda.cpp — device memory of KV caches made on a CUDA
// context: plain cudaMalloc / cudaFree (a cache's buffers are long-lived and
// grow by doubling, so stream-ordered pools buy nothing), and growth copies
// on the context's stream, behind the appends and decodes already queued.
#include <cuda_runtime_api.h>

#include "core/error.hpp"
#include "cuda/cuda_state.hpp"
#include "ops/attention/attention_storage.hpp"

namespace engram {

void* attention_device_alloc(int device, uint64_t bytes) {
    cuda::DeviceGuard guard(device);
    void* p = nullptr;
    const cudaError_t err = cudaMalloc(&p, size_t(bytes));
    if (err != cudaSuccess) {
        (void)cudaGetLastError();
        fail(ENGRAM_ERR_OUT_OF_MEMORY,
             format("cannot allocate %llu bytes of device memory for the attention cache (%s)",
                    (unsigned long long)bytes, cudaGetErrorString(err)));
    }
    return p;
}

void attention_device_free(int device, void* p) noexcept {
    if (!p) return;
    int previous = -1;
    (void)cudaGetDevice(&previous);
    (void)cudaSetDevice(device);
    // Kernels or copies still queued may read p (a cache growing, or reset
    // right after a decode): wait for the device before freeing. Rare: cache
    // growth doubles, and reset/destroy end a sequence.
    (void)cudaDeviceSynchronize();
    (void)cudaFree(p);
    if (previous >= 0) (void)cudaSetDevice(previous);
}

void attention_device_copy(engram_context& ctx, void* dst, const void* src, uint64_t bytes) {
    cuda::DeviceState& st = cuda::state(ctx);
    cuda::DeviceGuard guard(st.device);
    cuda::check_cuda(cudaMemcpyAsync(dst, src, size_t(bytes), cudaMemcpyDeviceToDevice, st.stream),
                     "cudaMemcpyAsync (attention cache growth)");
}

}  // namespace engram
