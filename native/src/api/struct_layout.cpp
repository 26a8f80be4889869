// struct_layout.cpp — engram_struct_layout over the generic structs and the
// families' tables.
#include "api/struct_layout.hpp"

#include <cstring>

#include "api/tensor_checks.hpp"
#include "core/error.hpp"

using namespace engram;

namespace {

// The structs of engram.h itself.
const LayoutField kCoreLayout[] = {
    ENGRAM_LAYOUT_SIZE(engram_capabilities),
    ENGRAM_LAYOUT_FIELD(engram_capabilities, struct_size),
    ENGRAM_LAYOUT_FIELD(engram_capabilities, abi_version),
    ENGRAM_LAYOUT_FIELD(engram_capabilities, has_cpu),
    ENGRAM_LAYOUT_FIELD(engram_capabilities, cuda_built),
    ENGRAM_LAYOUT_FIELD(engram_capabilities, cuda_device_count),
    ENGRAM_LAYOUT_FIELD(engram_capabilities, cpu_isa),
    ENGRAM_LAYOUT_FIELD(engram_capabilities, cpu_threads),
    ENGRAM_LAYOUT_FIELD(engram_capabilities, cpu_dtypes),
    ENGRAM_LAYOUT_FIELD(engram_capabilities, cuda_dtypes),
    ENGRAM_LAYOUT_FIELD(engram_capabilities, reserved),
    ENGRAM_LAYOUT_FIELD(engram_capabilities, cpu_name),
    ENGRAM_LAYOUT_FIELD(engram_capabilities, cuda_status),
    ENGRAM_LAYOUT_SIZE(engram_device_info),
    ENGRAM_LAYOUT_FIELD(engram_device_info, struct_size),
    ENGRAM_LAYOUT_FIELD(engram_device_info, device),
    ENGRAM_LAYOUT_FIELD(engram_device_info, sm_count),
    ENGRAM_LAYOUT_FIELD(engram_device_info, cc_major),
    ENGRAM_LAYOUT_FIELD(engram_device_info, cc_minor),
    ENGRAM_LAYOUT_FIELD(engram_device_info, reserved),
    ENGRAM_LAYOUT_FIELD(engram_device_info, total_memory),
    ENGRAM_LAYOUT_FIELD(engram_device_info, free_memory),
    ENGRAM_LAYOUT_FIELD(engram_device_info, name),
    ENGRAM_LAYOUT_SIZE(engram_memory_stats),
    ENGRAM_LAYOUT_FIELD(engram_memory_stats, struct_size),
    ENGRAM_LAYOUT_FIELD(engram_memory_stats, reserved),
    ENGRAM_LAYOUT_FIELD(engram_memory_stats, current_bytes),
    ENGRAM_LAYOUT_FIELD(engram_memory_stats, peak_bytes),
    ENGRAM_LAYOUT_FIELD(engram_memory_stats, allocations),
    ENGRAM_LAYOUT_SIZE(engram_op_stats),
    ENGRAM_LAYOUT_FIELD(engram_op_stats, struct_size),
    ENGRAM_LAYOUT_FIELD(engram_op_stats, op),
    ENGRAM_LAYOUT_FIELD(engram_op_stats, backend),
    ENGRAM_LAYOUT_FIELD(engram_op_stats, counter_count),
    ENGRAM_LAYOUT_FIELD(engram_op_stats, counters),
    ENGRAM_LAYOUT_SIZE(engram_op_counter),
    ENGRAM_LAYOUT_FIELD(engram_op_counter, name),
    ENGRAM_LAYOUT_FIELD(engram_op_counter, value),
};

// One line per op family.
const LayoutTable kTables[] = {
    {kCoreLayout, sizeof kCoreLayout / sizeof kCoreLayout[0]},
    cce_layout(),
    scan_layout(),
    qmatmul_layout(),
    attention_layout(),
};

}  // namespace

extern "C" ENGRAM_API engram_status engram_struct_layout(const char* struct_name,
                                                         const char* field, uint64_t* value) {
    return guard(__func__, [&] {
        require_not_null(struct_name, "struct_name");
        require_not_null(value, "value");
        for (const LayoutTable& table : kTables)
            for (size_t i = 0; i < table.count; ++i) {
                const LayoutField& f = table.fields[i];
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
