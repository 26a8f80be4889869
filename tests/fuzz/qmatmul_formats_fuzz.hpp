// qmatmul_formats_fuzz.hpp — the fuzz harness's part for the 2-bit family's
// file format, ONNX Runtime MatMulNBits import/export and BitStack planes
// (qmatmul_formats_fuzz.cpp), reached from fuzz_qmatmul (qmatmul_fuzz.cpp).
#pragma once

#include <fuzzer/FuzzedDataProvider.h>

#include "engram.h"

namespace fuzz {

// which: 0 file save/load (a damaged file), 1 ONNX import/export, 2 BitStack.
void fuzz_qmatmul_formats(FuzzedDataProvider& in, engram_context* ctx, int which);

}  // namespace fuzz
