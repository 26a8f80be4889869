// cpu_features.hpp — which vector ISA the CPU kernels use, chosen once at run
// time so one binary serves any x86-64 (and non-x86 builds fall back to scalar).
#pragma once

#include <string>

#include "engram.h"

namespace engram::cpu {

// Best ISA this CPU and this build support; ENGRAM_CPU_ISA environment
// variable ("scalar", "avx2", "avx512", "avx512_bf16") can force a lower one
// for testing.
engram_cpu_isa detected_isa();

std::string cpu_name();

}  // namespace engram::cpu
