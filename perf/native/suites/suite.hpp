// suite.hpp — the case suite of an op family: one interface that GoogleTest,
// engram-bench (list / verify / bench) and, through engram-bench, the .NET
// `engram verify` and `engram bench` all use.
//
// A suite names its ops and their dimensions, generates a problem from
// (seed, dims, dtype, options), runs it on a backend through the C ABI and
// compares every output with the family's one float64 reference
// (native/src/ops/<f>/reference) under the family's tolerance model. It also
// lists the awkward shapes `verify` runs and the shapes `bench` times.
// A new family adds one <f>_suite.{hpp,cpp} and one line in registry.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engram.h"

namespace engram_suite {

// Named dimensions of a problem, e.g. {"n": 4096, "v": 32768, "d": 1024}.
using Dims = std::map<std::string, int64_t>;
// Family-specific options by name (e.g. "softcap", "bias"); absent = default.
using Options = std::map<std::string, double>;

struct DimInfo {
    std::string name, meaning;
};

struct OpInfo {
    std::string name;     // the op's name: "cce_forward"
    std::string summary;  // one line
};

// One problem to run: an op on a shape, a dtype, a seed and options.
struct Case {
    std::string op;
    Dims dims;
    engram_dtype dtype = ENGRAM_DTYPE_F32;
    uint64_t seed = 1;
    Options options;

    double option(const std::string& name, double fallback) const;
    // "cce_forward n=17 v=257 d=31 bf16 seed=3 bias=1 ..."
    std::string label() const;
};

// Worst error over all outputs of a case, and the first mismatches.
struct Outcome {
    bool passed = false;
    std::string error;         // why it failed (status, first mismatches), empty when passed
    double max_abs_err = 0.0;  // max |got - ref| over every compared entry
    double worst_ratio = 0.0;  // max |got - ref| / bound: <= 1 passes
    std::string worst_at;      // "grad_e[3, 7]"
    int64_t compared = 0;      // entries compared
    int64_t mismatches = 0;
};

class Suite {
public:
    virtual ~Suite() = default;
    // The op family: "cce".
    virtual std::string family() const = 0;
    virtual std::string summary() const = 0;
    virtual std::vector<OpInfo> ops() const = 0;
    virtual std::vector<DimInfo> dims() const = 0;
    // The awkward shapes verify runs (every op of the family, or `op` alone),
    // with dtypes and options varied over the cases; deterministic in seed.
    // max_per_op > 0 keeps the first max_per_op cases of each op.
    virtual std::vector<Case> verify_cases(const std::string& op, uint64_t seed,
                                           int max_per_op) const = 0;
    // Benchmark shapes: the first is the default of `bench`.
    virtual std::vector<Dims> bench_shapes() const = 0;
    // A shape on which the float64 reference is affordable and that exercises
    // the same code paths (several tiles, chunks and threads), for validating
    // a benchmark case before it is timed.
    virtual Dims reduced(const Dims& bench) const = 0;
    // Runs the case on ctx's backend and compares it with the reference.
    virtual Outcome run(engram_context* ctx, const Case& c) const = 0;

    bool has_op(const std::string& op) const;
};

// Tracks |got - ref| <= bound over the outputs of one case (llm.c style: a
// NaN or inf where the reference is finite is a mismatch).
class Comparison {
public:
    // cols > 0 prints indices as [row, col].
    void check(const char* what, const std::vector<float>& got, const std::vector<double>& ref,
               const std::vector<double>& bound, int64_t cols = 0);
    void fail(const std::string& why);
    Outcome outcome() const;

private:
    Outcome o_;
    std::string list_;
    bool failed_ = false;
};

const char* dtype_name(engram_dtype dtype);
// f32 / f16 / bf16 (and float32, float16, bfloat16); false if unknown.
bool parse_dtype(const std::string& name, engram_dtype& out);

}  // namespace engram_suite
