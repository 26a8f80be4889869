// attention_fuzz.hpp — the attention family's part of engram_abi_fuzz.
#pragma once

#include <fuzzer/FuzzedDataProvider.h>

#include "engram.h"

namespace fuzz {

// One input: a random cache (dtype, shape, per-head policy) filled by random
// appends, then either a valid decode checked against the float64 reference
// (attention_reference.hpp) or one call with a single fault, checked for its
// status, the argument its message names, and that nothing was written (the
// outputs and the cache). `ctx` is the harness's shared context.
void fuzz_attention(FuzzedDataProvider& in, engram_context* ctx);

}  // namespace fuzz
