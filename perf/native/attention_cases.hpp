// attention_cases.hpp — `engram-bench bench attention`: the attention
// family's timed cases (attention_cases.cpp) and the in-process BLAS baseline
// (attention_baselines.cpp).
#pragma once

namespace engram_bench {

// argv[first..] are the options after `bench attention`; returns the exit status.
int run_attention_bench(int argc, char** argv, int first);

}  // namespace engram_bench
