// ops_api.cpp — the op registry through the ABI: names, the list, the per-op
// capability query, op-stats counters, dtype widths.
#include <cstring>

#include "core/error.hpp"
#include "cuda/cuda_backend.hpp"
#include "api/op_registry.hpp"
#include "api/tensor_checks.hpp"

using namespace engram;

namespace {

const char* backend_name(engram_backend b) { return b == ENGRAM_BACKEND_CUDA ? "cuda" : "cpu"; }

}  // namespace

extern "C" {

ENGRAM_API int32_t engram_dtype_bits(engram_dtype dtype) {
    if (dtype == ENGRAM_DTYPE_U2) return 2;
    return int32_t(8 * engram_dtype_size(dtype));
}

ENGRAM_API const char* engram_op_name(engram_op op) {
    const OpInfo* info = find_op(op);
    return info ? info->name : nullptr;
}

ENGRAM_API const char* engram_op_family(engram_op op) {
    const OpInfo* info = find_op(op);
    return info ? info->family : nullptr;
}

ENGRAM_API engram_status engram_op_list(engram_op* ops, int32_t capacity, int32_t* count) {
    return guard(__func__, [&] {
        require_not_null(count, "count");
        if (capacity < 0)
            fail(ENGRAM_ERR_INVALID_ARGUMENT, format("capacity must be >= 0, got %d", capacity));
        if (capacity > 0) require_not_null(ops, "ops");
        const auto all = all_ops();
        for (size_t i = 0; i < all.size() && int32_t(i) < capacity; ++i) ops[i] = all[i]->op;
        *count = int32_t(all.size());
    });
}

ENGRAM_API engram_status engram_op_supported(engram_backend backend, engram_op op,
                                             engram_dtype dtype) {
    return guard(__func__, [&] {
        if (backend != ENGRAM_BACKEND_CPU && backend != ENGRAM_BACKEND_CUDA)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("backend %d is not an engram_backend", int(backend)));
        const OpInfo* info = find_op(op);
        if (!info) fail(ENGRAM_ERR_INVALID_ARGUMENT, format("op %d is not an op of this library", op));
        if (engram_dtype_bits(dtype) == 0)
            fail(ENGRAM_ERR_INVALID_ARGUMENT, format("dtype %d is not an engram_dtype", int(dtype)));
        if (backend == ENGRAM_BACKEND_CUDA && !cuda::built())
            fail(ENGRAM_ERR_UNSUPPORTED,
                 format("%s on cuda: this build of libengram has no CUDA backend", info->name));
        const uint32_t dtypes = backend == ENGRAM_BACKEND_CUDA ? info->cuda_dtypes : info->cpu_dtypes;
        if (!(dtypes & dtype_bit(dtype)))
            fail(ENGRAM_ERR_UNSUPPORTED, format("%s on %s does not take %s inputs", info->name,
                                                backend_name(backend), dtype_name(dtype)));
        if (backend == ENGRAM_BACKEND_CUDA) {
            std::string why;
            if (cuda::device_count(&why) == 0)
                fail(ENGRAM_ERR_NO_DEVICE, format("%s on cuda: %s", info->name, why.c_str()));
        }
    });
}

ENGRAM_API engram_status engram_op_stats_counter(const engram_op_stats* stats, const char* name,
                                                 uint64_t* value) {
    return guard(__func__, [&] {
        require_not_null(stats, "stats");
        require_not_null(name, "name");
        require_not_null(value, "value");
        require_struct_size(stats->struct_size, sizeof *stats, "stats", "engram_op_stats_init");
        const int count = stats->counter_count;
        if (count < 0 || count > ENGRAM_OP_COUNTERS)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("stats->counter_count = %d is outside [0, %d]", count, ENGRAM_OP_COUNTERS));
        for (int i = 0; i < count; ++i) {
            const auto& c = stats->counters[i];
            if (strnlen(c.name, sizeof c.name) < sizeof c.name && std::strcmp(c.name, name) == 0) {
                *value = c.value;
                return;
            }
        }
        const char* op = engram_op_name(stats->op);
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("no counter '%s' in these stats (op %s)", name, op ? op : "none"));
    });
}

}  // extern "C"
