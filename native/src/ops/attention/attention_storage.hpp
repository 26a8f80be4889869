// attention_storage.hpp — device memory of a KV cache created on a CUDA
// context (its rows live where the CUDA kernels read them). Implemented in
// cuda/attention_storage_cuda.cpp; in a build without CUDA no such cache can
// exist and attention_storage_no_cuda.cpp stands in.
#pragma once

#include <cstdint>

#include "core/context.hpp"

namespace engram {

// bytes of device memory on `device`; ENGRAM_ERR_OUT_OF_MEMORY on failure.
void* attention_device_alloc(int device, uint64_t bytes);
// Frees what attention_device_alloc returned (nullptr is ignored). Needs no
// context: a cache may be destroyed after its context.
void attention_device_free(int device, void* p) noexcept;
// Device-to-device copy ordered on ctx's stream (a cache growing between ops).
void attention_device_copy(engram_context& ctx, void* dst, const void* src, uint64_t bytes);

}  // namespace engram
