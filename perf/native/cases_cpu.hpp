// cases_cpu.hpp — CPU benchmark cases (engram variants + naive baseline).
#pragma once

#include <vector>

#include "bench_case.hpp"
#include "bench_problem.hpp"

namespace engram_bench {

void run_cpu_cases(const Settings& s, const Problem& p, const SampledReference& ref,
                   std::vector<Case>& out);

}  // namespace engram_bench
