// scan_mom_fuzz.hpp — the Mixture-of-Memories and BASED part of the fuzz
// harness (scan_mom_fuzz.cpp, scan_based_fuzz.cpp): one MoM call, valid (checked against the float64
// reference) or with one fault (status, message, nothing written).
#pragma once

#include <fuzzer/FuzzedDataProvider.h>

#include "engram.h"

namespace fuzz {

// Top-level choice "scan_mom": a MoM call (one input in two), a BASED call
// (scan_based_fuzz.cpp) or a Titans call (scan_titans_fuzz.cpp).
void fuzz_scan_mom(FuzzedDataProvider& in, engram_context* ctx);
void fuzz_scan_based(FuzzedDataProvider& in, engram_context* ctx);
void fuzz_scan_titans(FuzzedDataProvider& in, engram_context* ctx);

}  // namespace fuzz
