// cases_cuda.hpp — CUDA benchmark cases (engram variants + naive cuBLAS
// baseline) and the GPU's limits. Built only with the CUDA backend.
#pragma once

#include <string>
#include <vector>

#include "bench_case.hpp"
#include "bench_problem.hpp"

namespace engram_bench {

// "NAME (SMs, memory)" of device 0, or "" when there is none.
std::string cuda_device_name();
// Device-to-device bandwidth and a cuBLAS GEMM at the benchmark's size.
void cuda_probes(const Settings& s, Limits& limits);
void run_cuda_cases(const Settings& s, const Problem& p, const SampledReference& ref,
                    std::vector<Case>& out);

}  // namespace engram_bench
