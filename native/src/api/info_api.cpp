// info_api.cpp — version, errors, capabilities, device info, struct layouts.
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>

#include "../core/error.hpp"
#include "../cpu/cpu_features.hpp"
#include "../cuda/cuda_backend.hpp"
#include "validate.hpp"

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

namespace {

struct Field {
    const char* struct_name;
    const char* field;  // nullptr: the struct's size
    uint64_t value;
};

#define ENGRAM_SIZE(S) {#S, nullptr, sizeof(S)}
#define ENGRAM_FIELD(S, F) {#S, #F, offsetof(S, F)}

// Every field of every ABI struct, so bindings can check their whole layout.
const Field kLayout[] = {
    ENGRAM_SIZE(engram_capabilities),
    ENGRAM_FIELD(engram_capabilities, struct_size),
    ENGRAM_FIELD(engram_capabilities, abi_version),
    ENGRAM_FIELD(engram_capabilities, has_cpu),
    ENGRAM_FIELD(engram_capabilities, cuda_built),
    ENGRAM_FIELD(engram_capabilities, cuda_device_count),
    ENGRAM_FIELD(engram_capabilities, cpu_isa),
    ENGRAM_FIELD(engram_capabilities, cpu_threads),
    ENGRAM_FIELD(engram_capabilities, cpu_dtypes),
    ENGRAM_FIELD(engram_capabilities, cuda_dtypes),
    ENGRAM_FIELD(engram_capabilities, reserved),
    ENGRAM_FIELD(engram_capabilities, cpu_name),
    ENGRAM_FIELD(engram_capabilities, cuda_status),
    ENGRAM_SIZE(engram_device_info),
    ENGRAM_FIELD(engram_device_info, struct_size),
    ENGRAM_FIELD(engram_device_info, device),
    ENGRAM_FIELD(engram_device_info, sm_count),
    ENGRAM_FIELD(engram_device_info, cc_major),
    ENGRAM_FIELD(engram_device_info, cc_minor),
    ENGRAM_FIELD(engram_device_info, reserved),
    ENGRAM_FIELD(engram_device_info, total_memory),
    ENGRAM_FIELD(engram_device_info, free_memory),
    ENGRAM_FIELD(engram_device_info, name),
    ENGRAM_SIZE(engram_memory_stats),
    ENGRAM_FIELD(engram_memory_stats, struct_size),
    ENGRAM_FIELD(engram_memory_stats, reserved),
    ENGRAM_FIELD(engram_memory_stats, current_bytes),
    ENGRAM_FIELD(engram_memory_stats, peak_bytes),
    ENGRAM_FIELD(engram_memory_stats, allocations),
    ENGRAM_SIZE(engram_op_stats),
    ENGRAM_FIELD(engram_op_stats, struct_size),
    ENGRAM_FIELD(engram_op_stats, op),
    ENGRAM_FIELD(engram_op_stats, backend),
    ENGRAM_FIELD(engram_op_stats, counter_count),
    ENGRAM_FIELD(engram_op_stats, counters),
    ENGRAM_SIZE(engram_op_counter),
    ENGRAM_FIELD(engram_op_counter, name),
    ENGRAM_FIELD(engram_op_counter, value),
    ENGRAM_SIZE(engram_cce_options),
    ENGRAM_FIELD(engram_cce_options, struct_size),
    ENGRAM_FIELD(engram_cce_options, reduction),
    ENGRAM_FIELD(engram_cce_options, ignore_index),
    ENGRAM_FIELD(engram_cce_options, softcap),
    ENGRAM_FIELD(engram_cce_options, label_smoothing),
    ENGRAM_FIELD(engram_cce_options, z_loss),
    ENGRAM_FIELD(engram_cce_options, filter_eps),
    ENGRAM_FIELD(engram_cce_options, check_targets),
    ENGRAM_FIELD(engram_cce_options, reserved),
    ENGRAM_FIELD(engram_cce_options, scratch_bytes),
    ENGRAM_SIZE(engram_cce_inputs),
    ENGRAM_FIELD(engram_cce_inputs, struct_size),
    ENGRAM_FIELD(engram_cce_inputs, dtype),
    ENGRAM_FIELD(engram_cce_inputs, target_dtype),
    ENGRAM_FIELD(engram_cce_inputs, reserved),
    ENGRAM_FIELD(engram_cce_inputs, n),
    ENGRAM_FIELD(engram_cce_inputs, d),
    ENGRAM_FIELD(engram_cce_inputs, v),
    ENGRAM_FIELD(engram_cce_inputs, vocab_start),
    ENGRAM_FIELD(engram_cce_inputs, vocab_total),
    ENGRAM_FIELD(engram_cce_inputs, e),
    ENGRAM_FIELD(engram_cce_inputs, c),
    ENGRAM_FIELD(engram_cce_inputs, bias),
    ENGRAM_FIELD(engram_cce_inputs, targets),
    ENGRAM_SIZE(engram_cce_grads),
    ENGRAM_FIELD(engram_cce_grads, struct_size),
    ENGRAM_FIELD(engram_cce_grads, dtype),
    ENGRAM_FIELD(engram_cce_grads, grad_e),
    ENGRAM_FIELD(engram_cce_grads, grad_c),
    ENGRAM_FIELD(engram_cce_grads, grad_bias),
};

#undef ENGRAM_SIZE
#undef ENGRAM_FIELD

}  // namespace

extern "C" ENGRAM_API engram_status engram_struct_layout(const char* struct_name,
                                                         const char* field, uint64_t* value) {
    return guard(__func__, [&] {
        require_not_null(struct_name, "struct_name");
        require_not_null(value, "value");
        for (const Field& f : kLayout) {
            if (std::strcmp(f.struct_name, struct_name) != 0) continue;
            if ((field == nullptr) != (f.field == nullptr)) continue;
            if (field && std::strcmp(field, f.field) != 0) continue;
            *value = f.value;
            return;
        }
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("no layout entry for %s%s%s", struct_name, field ? "." : "", field ? field : ""));
    });
}
