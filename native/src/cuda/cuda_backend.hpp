// cuda_backend.hpp — what the API layer needs from the CUDA backend. Built from
// cuda/*.cpp + kernels/*.cu when ENGRAM_WITH_CUDA is on; otherwise
// cuda/no_cuda.cpp provides the same functions, each reporting that this build
// has no CUDA backend. The CUDA runtime is linked statically, so a CUDA build
// still loads on a machine with no driver and serves the CPU backend.
#pragma once

#include <cstdint>
#include <string>

#include "core/context.hpp"

namespace engram::cuda {

// True when this library was built with the CUDA backend.
bool built();

// Number of usable devices; on 0, *why says why ("no CUDA driver", ...).
int device_count(std::string* why);

void device_info(int device, engram_device_info* info);

// True once any CUDA context was created in this process: only then do CPU
// ops pay for asking the runtime whether a pointer is device memory.
bool runtime_active();

// Context lifetime: select the device, create the context's own stream.
void context_init(engram_context& ctx, int device);
void context_release(engram_context& ctx) noexcept;
void set_stream(engram_context& ctx, void* stream);
void* get_stream(engram_context& ctx);

// Device memory owned by the caller (engram_device_alloc/free); engram keeps a
// registry of these ranges so that a buffer too small for an op is caught.
void* alloc(engram_context& ctx, uint64_t bytes);
void free(engram_context& ctx, void* ptr);
void copy_to_device(engram_context& ctx, void* dst, const void* src, uint64_t bytes);
void copy_to_host(engram_context& ctx, void* dst, const void* src, uint64_t bytes);
void memset(engram_context& ctx, void* dst, int value, uint64_t bytes);
void synchronize(engram_context& ctx);

struct Event;
Event* event_create(engram_context& ctx);
void event_destroy(Event* event) noexcept;
void event_record(engram_context& ctx, Event* event);
float event_elapsed_ms(Event* start, Event* end);

// Throws ENGRAM_ERR_WRONG_BACKEND unless [ptr, ptr + bytes) is device memory
// of ctx's device, and ENGRAM_ERR_INVALID_ARGUMENT when the allocation holding
// ptr is known to be smaller than bytes. `name` is the argument's name.
void check_device_buffer(engram_context& ctx, const void* ptr, uint64_t bytes, const char* name);

// Throws ENGRAM_ERR_WRONG_BACKEND if ptr is CUDA device memory (used by CPU
// ops); a no-op when runtime_active() is false.
void check_host_buffer(const void* ptr, const char* name);

}  // namespace engram::cuda
