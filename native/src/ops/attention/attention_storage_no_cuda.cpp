// attention_storage_no_cuda.cpp — a build without CUDA has no CUDA context, so
// no cache with device storage: these are never reached.
#include "core/error.hpp"
#include "ops/attention/attention_storage.hpp"

namespace engram {

void* attention_device_alloc(int, uint64_t) {
    fail(ENGRAM_ERR_UNSUPPORTED, "attention cache on cuda: this build of libengram has no CUDA backend");
}
void attention_device_free(int, void*) noexcept {}
void attention_device_copy(engram_context&, void*, const void*, uint64_t) {
    fail(ENGRAM_ERR_UNSUPPORTED, "attention cache on cuda: this build of libengram has no CUDA backend");
}

}  // namespace engram
