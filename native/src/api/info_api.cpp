// info_api.cpp — version, errors, capabilities, device info, struct layouts.
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/error.hpp"
#include "cpu/cpu_features.hpp"
#include "cuda/cuda_backend.hpp"
#include "api/tensor_checks.hpp"

using namespace engram;

extern "C" {

ENGRAM_API const char* engram_version(void) { return ENGRAM_VERSION_STRING; }

ENGRAM_API int32_t engram_abi_version(void) { return ENGRAM_ABI_VERSION; }

ENGRAM_API const char* engram_last_error(void) { return last_error(); }

ENGRAM_API const char* engram_status_string(engram_status status) {
    switch (status) {
        case ENGRAM_OK: return "ENGRAM_OK";
        case ENGRAM_ERR_INVALID_ARGUMENT: return "ENGRAM_ERR_INVALID_ARGUMENT";
        case ENGRAM_ERR_OUT_OF_RANGE: return "ENGRAM_ERR_OUT_OF_RANGE";
        case ENGRAM_ERR_UNSUPPORTED: return "ENGRAM_ERR_UNSUPPORTED";
        case ENGRAM_ERR_NO_DEVICE: return "ENGRAM_ERR_NO_DEVICE";
        case ENGRAM_ERR_OUT_OF_MEMORY: return "ENGRAM_ERR_OUT_OF_MEMORY";
        case ENGRAM_ERR_DEVICE: return "ENGRAM_ERR_DEVICE";
        case ENGRAM_ERR_WRONG_BACKEND: return "ENGRAM_ERR_WRONG_BACKEND";
        case ENGRAM_ERR_INTERNAL: return "ENGRAM_ERR_INTERNAL";
    }
    return "ENGRAM_STATUS_UNKNOWN";
}

ENGRAM_API size_t engram_dtype_size(engram_dtype dtype) {
    switch (dtype) {
        case ENGRAM_DTYPE_F32: return 4;
        case ENGRAM_DTYPE_F16: return 2;
        case ENGRAM_DTYPE_BF16: return 2;
        case ENGRAM_DTYPE_I32: return 4;
        case ENGRAM_DTYPE_I64: return 8;
        case ENGRAM_DTYPE_U2: return 0;  // 4 per byte: see engram_dtype_bits
    }
    return 0;
}

ENGRAM_API engram_status engram_capabilities_init(engram_capabilities* caps) {
    return guard(__func__, [&] {
        require_not_null(caps, "caps");
        std::memset(caps, 0, sizeof *caps);
        caps->struct_size = sizeof *caps;
    });
}

ENGRAM_API engram_status engram_get_capabilities(engram_capabilities* caps) {
    return guard(__func__, [&] {
        require_not_null(caps, "caps");
        require_struct_size(caps->struct_size, sizeof *caps, "caps", "engram_capabilities_init");
        caps->abi_version = ENGRAM_ABI_VERSION;
        caps->has_cpu = 1;
        caps->cpu_isa = int32_t(cpu::detected_isa());
        caps->cpu_threads = ThreadPool::default_threads();
        const uint32_t floats =
            (1u << ENGRAM_DTYPE_F32) | (1u << ENGRAM_DTYPE_F16) | (1u << ENGRAM_DTYPE_BF16);
        caps->cpu_dtypes = floats;
        std::snprintf(caps->cpu_name, sizeof caps->cpu_name, "%s", cpu::cpu_name().c_str());
        caps->cuda_built = cuda::built() ? 1 : 0;
        std::string why;
        caps->cuda_device_count = cuda::device_count(&why);
        caps->cuda_dtypes = caps->cuda_built ? floats : 0;
        std::snprintf(caps->cuda_status, sizeof caps->cuda_status, "%s",
                      caps->cuda_device_count > 0 ? "ok" : why.c_str());
    });
}

ENGRAM_API engram_status engram_device_info_init(engram_device_info* info) {
    return guard(__func__, [&] {
        require_not_null(info, "info");
        std::memset(info, 0, sizeof *info);
        info->struct_size = sizeof *info;
    });
}

ENGRAM_API engram_status engram_cuda_device_info(int32_t device, engram_device_info* info) {
    return guard(__func__, [&] {
        require_not_null(info, "info");
        require_struct_size(info->struct_size, sizeof *info, "info", "engram_device_info_init");
        cuda::device_info(device, info);
    });
}

}  // extern "C"
