// bench_stats.cpp — see bench_stats.hpp.
#include "bench_stats.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace engram_bench {

namespace {

double median_of(std::vector<double> xs) {
    if (xs.empty()) return 0.0;
    std::sort(xs.begin(), xs.end());
    const size_t n = xs.size();
    return n % 2 ? xs[n / 2] : 0.5 * (xs[n / 2 - 1] + xs[n / 2]);
}

// 1.4826 MAD estimates the standard deviation of normal data, and unlike the
// standard deviation ignores a few repetitions slowed by another process.
constexpr double kMadToSigma = 1.4826;

}  // namespace

SampleStats summarize(const std::vector<double>& samples_ms) {
    SampleStats st;
    st.n = int(samples_ms.size());
    if (samples_ms.empty()) return st;
    st.median = median_of(samples_ms);
    st.min = *std::min_element(samples_ms.begin(), samples_ms.end());
    st.max = *std::max_element(samples_ms.begin(), samples_ms.end());
    double sum = 0.0;
    std::vector<double> dev;
    dev.reserve(samples_ms.size());
    for (double x : samples_ms) {
        sum += x;
        dev.push_back(std::fabs(x - st.median));
    }
    st.mean = sum / double(samples_ms.size());
    st.mad = median_of(dev);
    st.rel_spread = st.median > 0 ? kMadToSigma * st.mad / st.median : 0.0;
    return st;
}

bool RepetitionPolicy::more(const std::vector<double>& samples_ms, double spent_ms) const {
    const int n = int(samples_ms.size());
    if (n < min_reps) return true;
    if (n >= max_reps || spent_ms >= budget_ms) return false;
    // Fewer than 3 samples say nothing about the spread: keep going while
    // the budget allows.
    if (n < 3) return true;
    return summarize(samples_ms).rel_spread > target_spread;
}

std::string RepetitionPolicy::invalid() const {
    if (min_reps < 1) return "--reps must be at least 1";
    if (max_reps < min_reps) return "--max-reps must be at least --reps";
    if (!(budget_ms >= 0)) return "--budget must be >= 0 seconds";
    if (!(target_spread >= 0) || !(noisy_spread > 0)) return "--target-spread and --noisy-spread must be >= 0";
    return {};
}

std::string noisy_warning(const std::string& what, const SampleStats& st, double noisy_spread) {
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "%s: spread %.1f%% over %d repetitions (above %.0f%%; min %.2f ms, median %.2f ms, "
                  "max %.2f ms): another process may have taken a core; do not trust this time to "
                  "better than the spread",
                  what.c_str(), 100.0 * st.rel_spread, st.n, 100.0 * noisy_spread, st.min, st.median,
                  st.max);
    return buf;
}

}  // namespace engram_bench
