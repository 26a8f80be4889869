// family_bench.hpp — what the benchmarks of the scan and attention families
// (scan_cases*.cpp, attention_cases*.cpp) share: their command-line options,
// a measured case with named dimensions and named metrics, the validation of
// an engram case through the family's case suite before it is timed (fail
// closed), the PyTorch CPU peer run in the same process tree, and the
// engram-bench/2 JSON (docs/bench-json.md), rewritten after every case.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "suite.hpp"

namespace engram_bench {

struct FamilySettings {
    std::string op;                      // the family: "scan", "attention"
    int reps = 3, warmup = 1, threads = 0;
    int peer_threads = -1;               // --peer-threads: the peer's threads (-1 = threads)
    uint64_t seed = 1;
    bool probes = true, peer = true, quick = false;
    std::string json_path;
    std::map<std::string, std::string> extra;  // family options (--name value)
    std::string note;                    // --note: free text recorded in the JSON (e.g. machine load)

    // A family option as an integer / list of integers ("1024,8192").
    int64_t integer(const std::string& name, int64_t fallback) const;
    std::vector<int64_t> integers(const std::string& name, const std::vector<int64_t>& fallback) const;
    std::string text(const std::string& name, const std::string& fallback) const;
};

// Parses the options after `bench OP`: the common ones (--reps, --warmup,
// --threads, --peer-threads, --seed, --json, --no-probes, --no-peer, --quick,
// --note; --backend cpu, --dtype D (extra["dtype"]) and --shape name=value,...
// (each name one of `known`), as `engram bench OP` passes them) and
// the family's own `known` ones (each taking a value). Exits 2 on a usage error.
FamilySettings parse_family_settings(int argc, char** argv, int first, const std::string& op,
                                     const std::vector<std::string>& known, const char* help);

struct FamilyCase {
    std::string op, impl, variant, dtype = "f32";
    engram_suite::Dims shape;
    Timing timing;
    int reps = 0;  // repetitions behind timing when it holds a summary (a peer's min, median, max)
    double flops = 0.0, bytes = 0.0;  // per call: FLOPs counted, bytes moved (0 = not given)
    std::map<std::string, double> metrics;  // named figures (cache bytes, per-token times, ratios)
    std::string notes;
    engram_suite::Dims validation_shape;    // engram cases: the suite case run first
    double validation_worst_ratio = -1.0;
};

struct FamilyLimits {
    double bandwidth_gbs = 0.0, gemm_gflops = 0.0;
    std::string bandwidth_probe, gemm_probe;
};

// The run: its settings, limits and cases, written to settings.json_path after
// every add() (marked incomplete until finish()).
class FamilyRun {
public:
    explicit FamilyRun(const FamilySettings& s);
    const FamilySettings& settings() const { return s_; }
    FamilyLimits& limits() { return limits_; }
    // Measures the limits (unless --no-probes): stream triad bandwidth, and a
    // BLAS sgemm of m x n x k when m > 0.
    void probe(int64_t m, int64_t n, int64_t k);
    // Runs one suite case on a CPU context; returns false (and records the
    // error) if it does not match the float64 reference.
    bool validate(const engram_suite::Case& c, double* worst_ratio);
    void add(FamilyCase c);
    std::vector<FamilyCase>& cases() { return cases_; }
    const FamilyCase* find(const std::string& op, const std::string& impl, const std::string& variant,
                           const engram_suite::Dims& shape, const std::string& dtype) const;
    // Runs `python3 script args`, reading one case per stdout line of the form
    //   CASE op impl variant dtype name=value,... median_ms min_ms max_ms reps flops
    // The Python: ENGRAM_PYTHON, /usr/bin/python3, python3, the first that
    // imports torch. Records why when the peer does not run.
    void run_peer(const std::string& script, const std::string& args);
    void fail(const std::string& why);
    bool failed() const { return !error_.empty(); }
    // Final JSON write; returns the exit status (0 ok, 1 failed or unwritable).
    int finish();

private:
    std::string json(const std::string& error) const;
    void write(const std::string& error) const;
    FamilySettings s_;
    FamilyLimits limits_;
    std::vector<FamilyCase> cases_;
    std::string error_, peer_status_;
};

// Times fn warmup + reps times (the settings'), the last reps recorded.
Timing time_family(const FamilySettings& s, const std::function<void()>& fn);

// Fills x with values uniform in [-1, 1) (a fast generator: the benchmark's
// inputs are large, their values do not change a dense method's time).
void fill_uniform(std::vector<float>& x, uint64_t seed);

// Where the peer scripts are: ENGRAM_PEERS, else perf/peers beside the
// source tree this binary was built from.
std::string peers_dir();

// One line for the log.
void print_family_case(const FamilyCase& c);

}  // namespace engram_bench
