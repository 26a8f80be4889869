// qmatmul_fuzz.hpp — the 2-bit weight family's part of the fuzz harness
// (qmatmul_fuzz.cpp): valid calls checked against the float64 reference
// (native/src/ops/qmatmul/reference), and calls with one fault checked for
// their status, the argument named, and nothing written.
#pragma once

#include <fuzzer/FuzzedDataProvider.h>

#include "engram.h"

namespace fuzz {

// One call of an engram_qmatmul* entry point on ctx, drawn from the input.
void fuzz_qmatmul(FuzzedDataProvider& in, engram_context* ctx);

}  // namespace fuzz
