// scan_fuzz.hpp — the scan family's part of the fuzz harness (scan_fuzz.cpp):
// one linear-attention call (forward or decode), valid or with one fault.
#pragma once

#include <fuzzer/FuzzedDataProvider.h>

#include "fuzz_support.hpp"

namespace fuzz {

void fuzz_scan(FuzzedDataProvider& in, engram_context* ctx);

}  // namespace fuzz
