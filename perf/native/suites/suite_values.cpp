// suite_values.cpp — see suite_values.hpp.
#include "suite_values.hpp"

#include <cstring>

#include "shared/half.h"

namespace engram_suite {

float round_to_dtype(engram_dtype dtype, float x) {
    if (dtype == ENGRAM_DTYPE_BF16) return engram::bf16_to_f32(engram::f32_to_bf16(x));
    if (dtype == ENGRAM_DTYPE_F16) return engram::f16_to_f32(engram::f32_to_f16(x));
    return x;
}

std::vector<uint8_t> encode_as(engram_dtype dtype, const std::vector<float>& values) {
    std::vector<uint8_t> raw(values.size() * engram_dtype_size(dtype));
    for (size_t i = 0; i < values.size(); ++i) {
        if (dtype == ENGRAM_DTYPE_F32) {
            std::memcpy(&raw[4 * i], &values[i], 4);
        } else {
            const uint16_t h = dtype == ENGRAM_DTYPE_BF16 ? engram::f32_to_bf16(values[i])
                                                          : engram::f32_to_f16(values[i]);
            std::memcpy(&raw[2 * i], &h, 2);
        }
    }
    return raw;
}

std::vector<float> decode_as(engram_dtype dtype, const void* raw, size_t count) {
    const auto* bytes = static_cast<const uint8_t*>(raw);
    std::vector<float> out(count);
    for (size_t i = 0; i < count; ++i) {
        if (dtype == ENGRAM_DTYPE_F32) {
            std::memcpy(&out[i], bytes + 4 * i, 4);
        } else {
            uint16_t h;
            std::memcpy(&h, bytes + 2 * i, 2);
            out[i] = dtype == ENGRAM_DTYPE_BF16 ? engram::bf16_to_f32(h) : engram::f16_to_f32(h);
        }
    }
    return out;
}

std::vector<float> normal_values(std::mt19937_64& rng, size_t count, engram_dtype dtype, double std) {
    std::normal_distribution<double> normal(0.0, std);
    std::vector<float> x(count);
    for (float& e : x) e = round_to_dtype(dtype, float(normal(rng)));
    return x;
}

}  // namespace engram_suite
