// scan_fuzz.hpp — the scan family's part of the fuzz harness (scan_fuzz.cpp):
// one linear-attention call (forward, decode or backward), valid or with one
// fault, and the helpers its files share.
#pragma once

#include <fuzzer/FuzzedDataProvider.h>

#include <initializer_list>

#include "fuzz_support.hpp"
#include "shared/half.h"

namespace fuzz {

// One call of forward, decode (scan_fuzz.cpp) or backward (scan_fuzz_backward.cpp).
void fuzz_scan(FuzzedDataProvider& in, engram_context* ctx);
void fuzz_scan_backward(FuzzedDataProvider& in, engram_context* ctx);
// The delta rule's three ops (scan_delta_fuzz.cpp).
void fuzz_scan_delta(FuzzedDataProvider& in, engram_context* ctx);

namespace scan_detail {

using engram::bf16_to_f32;
using engram::f16_to_f32;
using engram::f32_to_bf16;
using engram::f32_to_f16;

template <class T>
inline T pick(FuzzedDataProvider& in, std::initializer_list<T> values) {
    return *(values.begin() + in.ConsumeIntegralInRange<size_t>(0, values.size() - 1));
}

inline float round16(int32_t dt, float x) {
    return dt == ENGRAM_DTYPE_F32 ? x : dt == ENGRAM_DTYPE_BF16 ? bf16_to_f32(f32_to_bf16(x)) : f16_to_f32(f32_to_f16(x));
}

inline std::vector<uint8_t> encode(int32_t dt, const std::vector<float>& v) {
    std::vector<uint8_t> r(v.size() * (dt == ENGRAM_DTYPE_F32 ? 4 : 2));
    for (size_t i = 0; i < v.size(); ++i) {
        if (dt == ENGRAM_DTYPE_F32) {
            std::memcpy(r.data() + 4 * i, &v[i], 4);
        } else {
            const uint16_t h = dt == ENGRAM_DTYPE_BF16 ? f32_to_bf16(v[i]) : f32_to_f16(v[i]);
            std::memcpy(r.data() + 2 * i, &h, 2);
        }
    }
    return r;
}

inline float decode_at(int32_t dt, const uint8_t* p, size_t i) {
    if (dt == ENGRAM_DTYPE_F32) {
        float f;
        std::memcpy(&f, p + 4 * i, 4);
        return f;
    }
    uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    return dt == ENGRAM_DTYPE_BF16 ? bf16_to_f32(h) : f16_to_f32(h);
}

}  // namespace scan_detail

}  // namespace fuzz
