// scan_cases.hpp — `engram-bench bench scan`: the scan family's timed cases
// (scan_cases.cpp) and their baselines (scan_baselines.cpp).
#pragma once

namespace engram_bench {

// argv[first..] are the options after `bench scan`; returns the exit status.
int run_scan_bench(int argc, char** argv, int first);

}  // namespace engram_bench
