// op_stats.hpp — how an op fills its context's engram_op_stats: which op ran
// where, plus the named counters the op documents.
#pragma once

#include <cstdint>

#include "engram.h"

namespace engram {

// Clears the stats and records the op and backend (run_op does this).
void op_stats_begin(engram_op_stats& stats, engram_op op, engram_backend backend);

// Sets counter `name` (at most 23 characters), adding it if it is new.
// Beyond ENGRAM_OP_COUNTERS counters it throws ENGRAM_ERR_INTERNAL: an op
// declares a fixed, small set.
void op_stats_set(engram_op_stats& stats, const char* name, uint64_t value);

}  // namespace engram
