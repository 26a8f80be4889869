// no_cuda.cpp — the CUDA backend's functions in a build without CUDA: each one
// reports that this library has no CUDA backend (ENGRAM_ERR_UNSUPPORTED).
#include "cuda/cuda_backend.hpp"

#include "core/error.hpp"

namespace engram::cuda {

namespace {
[[noreturn]] void not_built() {
    fail(ENGRAM_ERR_UNSUPPORTED, "this build of libengram has no CUDA backend");
}
}  // namespace

bool built() { return false; }

int device_count(std::string* why) {
    if (why) *why = "libengram was built without CUDA";
    return 0;
}

void device_info(int, engram_device_info*) { not_built(); }
bool runtime_active() { return false; }
void context_init(engram_context&, int) { not_built(); }
void context_release(engram_context&) noexcept {}
void set_stream(engram_context&, void*) { not_built(); }
void* get_stream(engram_context&) { not_built(); }
void* alloc(engram_context&, uint64_t) { not_built(); }
void free(engram_context&, void*) { not_built(); }
void copy_to_device(engram_context&, void*, const void*, uint64_t) { not_built(); }
void copy_to_host(engram_context&, void*, const void*, uint64_t) { not_built(); }
void memset(engram_context&, void*, int, uint64_t) { not_built(); }
void synchronize(engram_context&) { not_built(); }
Event* event_create(engram_context&) { not_built(); }
void event_destroy(Event*) noexcept {}
void event_record(engram_context&, Event*) { not_built(); }
float event_elapsed_ms(Event*, Event*) { not_built(); }
void check_device_buffer(engram_context&, const void*, uint64_t, const char*) { not_built(); }
void check_host_buffer(const void*, const char*) {}

}  // namespace engram::cuda
