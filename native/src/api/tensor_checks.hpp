// validate.hpp — argument checks shared by the ABI entry points. Each check
// throws engram::Error with a message that names the argument.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/context.hpp"
#include "core/error.hpp"
#include "cuda/cuda_backend.hpp"

namespace engram {

inline void require_not_null(const void* p, const char* name) {
    if (!p) fail(ENGRAM_ERR_INVALID_ARGUMENT, format("%s is NULL", name));
}

inline engram_context& require_context(engram_context* ctx) {
    require_not_null(ctx, "ctx");
    return *ctx;
}

inline void require_struct_size(uint32_t got, uint64_t expected, const char* name,
                                const char* init_fn) {
    if (got != expected)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("%s->struct_size is %u, expected %llu (initialise it with %s)", name, got,
                    (unsigned long long)expected, init_fn));
}

inline void require_positive(int64_t value, const char* name) {
    if (value <= 0)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("%s must be positive, got %lld", name, (long long)value));
}

// Sizes are limited to 2^31 - 1 rows/columns so kernels can count rows in 32
// bits; element offsets are always 64-bit.
inline void require_dim(int64_t value, const char* name) {
    require_positive(value, name);
    if (value > INT32_MAX)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("%s = %lld exceeds the supported maximum 2147483647", name, (long long)value));
}

// a * b * elem bytes, failing (instead of wrapping) past 2^62.
inline uint64_t checked_bytes(int64_t a, int64_t b, uint64_t elem, const char* what) {
    unsigned __int128 bytes = (unsigned __int128)uint64_t(a) * uint64_t(b) * elem;
    if (bytes > (unsigned __int128)(uint64_t(1) << 62))
        fail(ENGRAM_ERR_INVALID_ARGUMENT, format("%s is too large (size overflows)", what));
    return uint64_t(bytes);
}

inline void require_aligned(const void* p, uint64_t alignment, const char* name) {
    if (p && (reinterpret_cast<uintptr_t>(p) % alignment) != 0)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("%s (%p) is not aligned to %llu bytes", name, p,
                    (unsigned long long)alignment));
}

inline const char* dtype_name(int32_t dtype) {
    switch (dtype) {
        case ENGRAM_DTYPE_F32: return "f32";
        case ENGRAM_DTYPE_F16: return "f16";
        case ENGRAM_DTYPE_BF16: return "bf16";
        case ENGRAM_DTYPE_I32: return "i32";
        case ENGRAM_DTYPE_I64: return "i64";
        case ENGRAM_DTYPE_U2: return "u2";
        default: return "unknown";
    }
}

// Where a tensor lives must match the context: device memory of the right
// size on CUDA, not device memory on CPU. NULL passes (optional tensors).
inline void check_buffer(engram_context& ctx, const void* p, uint64_t bytes, const char* name) {
    if (!p) return;
    if (ctx.backend == ENGRAM_BACKEND_CUDA)
        cuda::check_device_buffer(ctx, p, bytes, name);
    else
        cuda::check_host_buffer(p, name);
}

// A floating-point tensor dtype that the ops compute on (fp32 accumulation).
inline void require_float_dtype(int32_t dtype, const char* name) {
    if (dtype != ENGRAM_DTYPE_F32 && dtype != ENGRAM_DTYPE_F16 && dtype != ENGRAM_DTYPE_BF16)
        fail(ENGRAM_ERR_UNSUPPORTED, format("%s = %d (%s) is not supported: use F32, F16 or BF16",
                                            name, dtype, dtype_name(dtype)));
}

// One tensor argument of a call, for the overlap check: its byte range, its
// name in messages, and whether the call writes it.
struct TensorSpan {
    const void* p;
    uint64_t bytes;
    std::string name;
    bool written;
};

inline bool ranges_overlap(const void* a, uint64_t a_bytes, const void* b, uint64_t b_bytes) {
    if (!a || !b) return false;
    const auto pa = reinterpret_cast<uintptr_t>(a), pb = reinterpret_cast<uintptr_t>(b);
    return pa < pb + b_bytes && pb < pa + a_bytes;
}

// Every tensor a call writes must not overlap any other tensor of the call
// (inputs are read while outputs are written; two outputs would clobber each
// other). Inputs may overlap inputs. NULL tensors are absent.
inline void require_disjoint(const std::vector<TensorSpan>& spans) {
    for (size_t i = 0; i < spans.size(); ++i) {
        if (!spans[i].written) continue;
        for (size_t j = 0; j < spans.size(); ++j) {
            if (j == i || (spans[j].written && j < i)) continue;  // each output pair once
            if (ranges_overlap(spans[i].p, spans[i].bytes, spans[j].p, spans[j].bytes))
                fail(ENGRAM_ERR_INVALID_ARGUMENT,
                     format("%s overlaps %s", spans[i].name.c_str(), spans[j].name.c_str()));
        }
    }
}

}  // namespace engram
