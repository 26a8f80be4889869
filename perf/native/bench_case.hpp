// bench_case.hpp — one measured case of the benchmark and the run's settings,
// shared by the CPU and CUDA case runners and the JSON writer.
#pragma once

#include <cstdint>
#include <utility>
#include <string>
#include <vector>

#include "bench_problem.hpp"
#include "bench_stats.hpp"
#include "bench_util.hpp"

namespace engram_bench {

struct Case;

// Told after every measured case (engram-bench writes its JSON then, so a run
// cut short by a deadline still leaves the cases it finished).
struct CaseSink {
    virtual ~CaseSink() = default;
    virtual void added(const std::vector<Case>& cases) const = 0;
};

struct Settings {
    std::string op = "cce";  // the op family benchmarked
    std::string backend = "cpu";
    int64_t n = 4096, v = 32768, d = 1024;
    std::string dtype = "f32";
    int reps = 3, warmup = 1, threads = 0, samples = 64;
    // Repetitions beyond `reps` (the minimum) until the spread settles, the
    // case's time budget is spent or max_reps is reached (bench_stats.hpp).
    int max_reps = 20;
    double budget_s = 10.0, target_spread = 0.02, noisy_spread = 0.05;
    std::vector<std::string> variants{"exact", "fused", "filtered", "fused-filtered"};
    // CPU scratch budgets (engram_cce_options.scratch_bytes) for extra runs of
    // the one-pass fused forward+backward, one case each: the time/memory curve.
    std::vector<uint64_t> scratch_budgets;
    bool naive = true, probes = true, quiet = false;
    float filter_eps = 1.0f / 4096.0f;  // 2^-12: the bf16 level
    std::string json_path, torch_peer;
    uint64_t seed = 1;
    const CaseSink* sink = nullptr;

    bool wants(const std::string& variant) const;
    RepetitionPolicy repetitions() const {
        RepetitionPolicy p;
        p.min_reps = reps;
        p.max_reps = max_reps;
        p.budget_ms = 1000.0 * budget_s;
        p.target_spread = target_spread;
        p.noisy_spread = noisy_spread;
        return p;
    }
};

struct Case {
    std::string op, impl, variant, backend, dtype;
    int64_t n = 0, v = 0, d = 0;
    Timing timing;
    uint64_t peak_extra_bytes = 0;
    int64_t rss_peak_delta_bytes = -1;  // cross-check from the OS (CPU only)
    double max_abs_err = -1.0;
    double flops = 0.0, bytes_moved = 0.0;
    double filter_eps = 0.0;
    double blocks_skipped_frac = -1.0;  // < 0: not applicable
    std::string notes;
    // Check against the float64 reference before timing (engram cases): the
    // suite's reduced shape and the worst |err|/bound there; empty when none.
    // (A vector, not a std::map: this header is compiled by nvcc 11.8 in cases_cuda.cu,
    // whose front end rejects libstdc++ 12's <map>.)
    std::vector<std::pair<std::string, int64_t>> validation_shape;
    double validation_worst_ratio = -1.0;
};

struct Limits {
    double bandwidth_gbs = 0.0, gemm_gflops = 0.0;
    std::string bandwidth_probe, gemm_probe;
};

struct InputStats {
    double mean_entropy = 0.0, mean_p_target = 0.0, zipf_exponent = 0.0;
    int samples = 0;
};

// The cases of one backend, in a fixed order: naive forward, engram forward,
// naive forward+backward, then the engram forward+backward variants asked for.
// A backend supplies how to run and check each case.
class CaseRunner {
public:
    CaseRunner(const Settings& s, const Problem& p, const char* backend)
        : s_(s), p_(p), backend_(backend) {}
    virtual ~CaseRunner() = default;
    void run(std::vector<Case>& out);

protected:
    virtual Case naive_case(bool backward) = 0;
    virtual Case engram_case(const char* op, const std::string& variant, float eps) = 0;

    // A case with its identity filled in.
    Case base(const char* op, const char* impl, const char* variant) const;
    // FLOPs of one logit-sized product, 2 N V D.
    double gemm_flops() const;
    // Compulsory traffic: inputs, targets, lse, and the gradients when backward.
    double io_bytes(bool backward) const;

    const Settings& s_;
    const Problem& p_;
    // scratch_bytes of the engram case being run (0 = the library's default).
    uint64_t scratch_bytes_ = 0;

private:
    std::string backend_;
};

// Writes the engram-bench/3 JSON (docs/bench-json.md); vs_naive and the
// fractions of the limits are derived here.
std::string to_json(const Settings& s, const std::vector<Case>& cases, const Limits& limits,
                    const InputStats& inputs, const std::string& machine_cpu, int cpu_threads,
                    const std::string& isa, const std::string& gpu, const std::string& error);

// One line per case for the log.
void print_case(const Case& c, const std::vector<Case>& all);

}  // namespace engram_bench
