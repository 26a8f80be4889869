// convert.hpp — f32 <-> f16/bf16 conversion of contiguous arrays, vectorised
// by the wrapper V where it can (V::convert_from_16 / convert_to_16) and
// finished with the exact scalar conversions of shared/half.h.
#pragma once

#include <cstdint>
#include <cstring>

#include "engram.h"
#include "shared/half.h"

namespace engram::cpu {

template <class V>
struct Convert {
    static void to_f32(const void* src, engram_dtype dt, int64_t n, float* dst) {
        if (dt == ENGRAM_DTYPE_F32) {
            std::memcpy(dst, src, size_t(n) * sizeof(float));
            return;
        }
        const uint16_t* s = static_cast<const uint16_t*>(src);
        const int64_t done = V::convert_from_16(s, dt, n, dst);
        for (int64_t i = done; i < n; ++i)
            dst[i] = dt == ENGRAM_DTYPE_BF16 ? bf16_to_f32(s[i]) : f16_to_f32(s[i]);
    }

    static void from_f32(const float* src, int64_t n, engram_dtype dt, void* dst) {
        if (dt == ENGRAM_DTYPE_F32) {
            std::memcpy(dst, src, size_t(n) * sizeof(float));
            return;
        }
        uint16_t* d = static_cast<uint16_t*>(dst);
        const int64_t done = V::convert_to_16(src, dt, n, d);
        for (int64_t i = done; i < n; ++i)
            d[i] = dt == ENGRAM_DTYPE_BF16 ? f32_to_bf16(src[i]) : f32_to_f16(src[i]);
    }
};

}  // namespace engram::cpu
