// attention_sparse_fuzz.hpp — the attention family's newer entry points in
// engram_abi_fuzz (reached from fuzz_attention): the policy pattern parser
// and policies by ratio, and Double Sparsity (calibrate, set_channels,
// dsparse_decode).
#pragma once

#include <fuzzer/FuzzedDataProvider.h>

#include "engram.h"

namespace fuzz {

// Either fuzzer bytes parsed as a pattern (accepted only with finite scores,
// else INVALID_ARGUMENT naming the pattern, scores untouched), or a pattern
// written from random scores in random JSON spellings, read back exactly and
// applied by ratio or threshold (streaming head counts checked), or such a
// pattern with one fault.
void fuzz_attention_pattern(FuzzedDataProvider& in, engram_context* ctx);

// A one-layer cache with label channels set before or after random appends,
// then a Double Sparsity decode checked against the float64 reference (when
// its selection is clear of f32 rounding), a calibration checked against the
// reference, or one call with a single fault (nothing written).
void fuzz_attention_dsparse(FuzzedDataProvider& in, engram_context* ctx);

}  // namespace fuzz
