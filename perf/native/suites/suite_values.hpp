// suite_values.hpp — random inputs for the scan and attention suites: values
// rounded to a dtype first (so the float64 references see exactly what the
// library reads) and their bytes in that dtype.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "engram.h"

namespace engram_suite {

// x rounded to the dtype (to nearest even), as f32.
float round_to_dtype(engram_dtype dtype, float x);
// The bytes of `values` in the dtype (F32, F16, BF16).
std::vector<uint8_t> encode_as(engram_dtype dtype, const std::vector<float>& values);

// count values of the dtype at raw, as f32.
std::vector<float> decode_as(engram_dtype dtype, const void* raw, size_t count);

// count normal values (mean 0, standard deviation `std`) rounded to the dtype.
std::vector<float> normal_values(std::mt19937_64& rng, size_t count, engram_dtype dtype,
                                 double std = 1.0);

}  // namespace engram_suite
