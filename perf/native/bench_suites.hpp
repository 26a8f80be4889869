// bench_suites.hpp — engram-bench's commands over the case suites
// (perf/native/suites): `list`, `verify`, and the validation of a benchmark's
// cases against the float64 reference before they are timed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench_case.hpp"
#include "suite.hpp"

namespace engram_bench {

struct VerifySettings {
    std::string op;  // "" = every op of every suite; a family name or an op name
    std::string backend = "cpu";
    uint64_t seed = 1;
    int cases = 0;  // per op, 0 = all
    int threads = 0;
    std::string json_path;  // "" = none, "-" = stdout (and the log goes to stderr)
};

// `engram-bench list`: suites, ops, dims, bench shapes; JSON to json_path.
int run_list(const std::string& json_path);

// `engram-bench verify`: the awkward cases against the float64 reference.
// Exit status: 0 all passed, 1 a case failed, 2 usage or no backend.
int run_verify(const VerifySettings& vs);

// The engram cases a benchmark run will time (cce_forward, and the
// forward+backward variants asked for), run first on the suite's reduced
// shape against the float64 reference. Fills `validations` (one per engram
// case, in the order CaseRunner::run adds them); returns false if any failed,
// with the reason in `error`.
struct Validation {
    std::string op, variant;
    engram_suite::Dims shape;
    bool passed = false;
    double worst_ratio = 0.0, max_abs_err = 0.0;
    std::string error;
};
bool validate_bench_cases(const Settings& s, std::vector<Validation>& validations,
                          std::string& error);

}  // namespace engram_bench
