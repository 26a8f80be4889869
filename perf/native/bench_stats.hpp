// bench_stats.hpp — how many repetitions a benchmark case gets, and the
// statistics written per case (docs/bench-json.md, engram-bench/3).
//
// A case is timed at least `min_reps` times; then more repetitions follow
// until the robust spread of the samples settles (1.4826 MAD / median at most
// `target_spread`), `max_reps` is reached, or the case's timed repetitions
// have used `budget_ms`. A spread still above `noisy_spread` at the end marks
// the case noisy: another process probably took a core, and a reader should
// not trust its time to better than that spread.
#pragma once

#include <string>
#include <vector>

namespace engram_bench {

struct RepetitionPolicy {
    int min_reps = 3;
    int max_reps = 20;
    double budget_ms = 10000.0;      // per case, timed repetitions only
    double target_spread = 0.02;     // relative robust spread that counts as settled
    double noisy_spread = 0.05;      // above this at the end: a warning, "noisy": true
    // True while another repetition is wanted, given the samples so far and
    // the milliseconds they took together.
    bool more(const std::vector<double>& samples_ms, double spent_ms) const;
    // Checks the values; an empty string when they are usable, else why not.
    std::string invalid() const;
};

struct SampleStats {
    double median = 0, min = 0, max = 0, mean = 0;
    double mad = 0;          // median absolute deviation from the median, ms
    double rel_spread = 0;   // 1.4826 mad / median: a robust relative standard deviation
    int n = 0;
};

SampleStats summarize(const std::vector<double>& samples_ms);

// "cce_forward engram exact: spread 7.3% over 5 repetitions (above 5%): ..."
std::string noisy_warning(const std::string& what, const SampleStats& st, double noisy_spread);

}  // namespace engram_bench
