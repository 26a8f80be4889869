// dtype.cuh — element types as every kernel family numbers them (the values of
// engram_dtype). Host C++ only, so launcher headers compiled by the host
// compiler can include it.
#pragma once

#include <cstdint>

namespace engram::kernels {

// Input element types, numbered as engram_dtype.
enum Elem : int32_t { kF32 = 0, kF16 = 1, kBF16 = 2 };

}  // namespace engram::kernels
