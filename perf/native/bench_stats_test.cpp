// bench_stats_test.cpp — checks of the repetition policy and the per-case
// statistics of engram-bench (bench_stats.hpp); a ctest in perf/native.
#include <cmath>
#include <cstdio>
#include <vector>

#include "bench_stats.hpp"

using namespace engram_bench;

namespace {

int failures = 0;

void expect(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "FAIL: %s\n", what);
        ++failures;
    }
}

bool near(double a, double b, double tol = 1e-12) { return std::fabs(a - b) <= tol; }

}  // namespace

int main() {
    // Median, MAD and the robust spread; an outlier moves neither.
    const SampleStats st = summarize({10, 9, 11, 10, 40});
    expect(near(st.median, 10) && near(st.min, 9) && near(st.max, 40), "median/min/max");
    expect(near(st.mad, 1), "MAD of {9,10,10,11,40} is 1");
    expect(near(st.rel_spread, 1.4826 / 10), "spread = 1.4826 MAD / median");
    expect(near(summarize({1, 2, 3, 4}).median, 2.5), "even count: mean of the middle two");
    expect(summarize({}).n == 0, "no samples");

    RepetitionPolicy p;
    p.min_reps = 3;
    p.max_reps = 6;
    p.budget_ms = 1000;
    p.target_spread = 0.02;
    expect(p.more({}, 0) && p.more({5, 5}, 10), "below min_reps: more");
    expect(!p.more({5, 5, 5}, 15), "settled (no spread): stop at min_reps");
    expect(p.more({5, 7, 9}, 21), "unsettled within budget: more");
    expect(!p.more({5, 7, 9}, 1000), "budget spent: stop");
    expect(!p.more({5, 7, 9, 5, 7, 9}, 42), "max_reps reached: stop");
    p.min_reps = 1;
    expect(p.more({5}, 5) && p.more({5, 6}, 11), "fewer than 3 samples say nothing about the spread");
    expect(!p.more({500}, 1500), "one slow repetition past the budget: stop");

    RepetitionPolicy bad;
    bad.max_reps = 1;
    expect(!bad.invalid().empty(), "max_reps < min_reps is invalid");
    expect(RepetitionPolicy().invalid().empty(), "defaults are valid");

    const std::string w = noisy_warning("cce_forward engram exact", summarize({10, 12, 15, 10, 9}), 0.05);
    expect(w.find("cce_forward engram exact: spread") == 0 && w.find("another process") != std::string::npos,
           "noisy warning names the case and the likely cause");
    if (failures == 0) std::printf("bench_stats_test: all checks passed\n");
    return failures == 0 ? 0 : 1;
}
