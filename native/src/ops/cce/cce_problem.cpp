// cce_problem.cpp — host-side target scanning shared by the CPU backend and the
// combine step.
#include "ops/cce/cce_problem.hpp"

#include "core/error.hpp"

namespace engram {

namespace {
[[noreturn]] void bad_target(int64_t i, int64_t t, int64_t vocab_total, int64_t ignore_index) {
    fail(ENGRAM_ERR_OUT_OF_RANGE,
         format("targets[%lld] = %lld is outside [0, %lld) and is not ignore_index (%lld)",
                (long long)i, (long long)t, (long long)vocab_total, (long long)ignore_index));
}
}  // namespace

ValidTokens collect_valid_tokens(const CceProblem& p) {
    ValidTokens out;
    out.rows.reserve(size_t(p.n));
    out.target_col.reserve(size_t(p.n));
    for (int64_t i = 0; i < p.n; ++i) {
        const int64_t t = load_target(p.targets, p.target_dtype, i);
        if (t == p.ignore_index) continue;
        const bool in_range = t >= 0 && t < p.vocab_total;
        if (!in_range && p.check_targets) bad_target(i, t, p.vocab_total, p.ignore_index);
        // Unchecked and out of range: "not in this shard" (no subtraction,
        // which would overflow for targets near INT64_MIN).
        const int64_t col = in_range ? t - p.vocab_start : -1;
        out.rows.push_back(int32_t(i));
        out.target_col.push_back(col >= 0 && col < p.v ? int32_t(col) : -1);
    }
    return out;
}

int64_t count_valid_targets(const void* targets, engram_dtype dtype, int64_t n,
                            int64_t ignore_index, int64_t vocab_total, bool check) {
    int64_t valid = 0;
    for (int64_t i = 0; i < n; ++i) {
        const int64_t t = load_target(targets, dtype, i);
        if (t == ignore_index) continue;
        if (check && (t < 0 || t >= vocab_total)) bad_target(i, t, vocab_total, ignore_index);
        ++valid;
    }
    return valid;
}

}  // namespace engram
