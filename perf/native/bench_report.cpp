// bench_report.cpp — JSON and log lines for the benchmark cases.
#include <algorithm>
#include <cstdio>
#include <ctime>

#include "bench_case.hpp"
#include "bench_machine.hpp"
#include "bench_stats.hpp"
#include "engram.h"

namespace engram_bench {

bool Settings::wants(const std::string& variant) const {
    return std::find(variants.begin(), variants.end(), variant) != variants.end();
}

void CaseRunner::run(std::vector<Case>& out) {
    auto add = [&](Case c) {
        out.push_back(std::move(c));
        print_case(out.back(), out);
        const SampleStats st = summarize(out.back().timing.ms);
        if (st.rel_spread > s_.noisy_spread)
            std::fprintf(stderr, "engram-bench: warning: %s\n",
                         noisy_warning(out.back().op + " " + out.back().impl + " " + out.back().variant,
                                       st, s_.noisy_spread).c_str());
        if (s_.sink) s_.sink->added(out);
    };
    if (s_.naive) add(naive_case(false));
    add(engram_case("cce_forward", "exact", 0.0f));
    if (s_.naive) add(naive_case(true));
    const struct {
        const char* name;
        float eps;
    } variants[] = {{"exact", 0.0f}, {"fused", 0.0f}, {"filtered", s_.filter_eps},
                    {"fused-filtered", s_.filter_eps}};
    for (const auto& v : variants)
        if (s_.wants(v.name)) add(engram_case("cce_forward_backward", v.name, v.eps));
    // The scratch budget only sizes the CPU one-pass chunk; other backends ignore it.
    if (backend_ == "cpu") {
        for (uint64_t budget : s_.scratch_budgets) {
            scratch_bytes_ = budget;
            add(engram_case("cce_forward_backward", "fused/scratch=" + std::to_string(budget), 0.0f));
        }
        scratch_bytes_ = 0;
    }
}

Case CaseRunner::base(const char* op, const char* impl, const char* variant) const {
    Case c;
    c.op = op;
    c.impl = impl;
    c.variant = variant;
    c.backend = backend_;
    c.dtype = s_.dtype;
    c.n = p_.n;
    c.v = p_.v;
    c.d = p_.d;
    return c;
}

double CaseRunner::gemm_flops() const { return 2.0 * double(p_.n) * double(p_.v) * double(p_.d); }

double CaseRunner::io_bytes(bool backward) const {
    double b = double(p_.n * p_.d + p_.v * p_.d) * double(p_.elem_bytes()) + 12.0 * double(p_.n);
    if (backward) b += 4.0 * double(p_.n * p_.d + p_.v * p_.d);
    return b;
}

namespace {

const Case* naive_of(const Case& c, const std::vector<Case>& all) {
    for (const Case& x : all)
        if (x.impl == "naive" && x.op == c.op && x.backend == c.backend && x.dtype == c.dtype &&
            x.n == c.n && x.v == c.v && x.d == c.d)
            return &x;
    return nullptr;
}

std::string utc_now() {
    char buf[32];
    const std::time_t t = std::time(nullptr);
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

}  // namespace

std::string to_json(const Settings& s, const std::vector<Case>& cases, const Limits& limits,
                    const InputStats& inputs, const std::string& machine_cpu, int cpu_threads,
                    const std::string& isa, const std::string& gpu, const std::string& error) {
    Json j;
    j.begin_object();
    j.field("schema", "engram-bench/3");
    j.field("op", s.op);
    j.begin_object("shape");
    j.field("n", s.n);
    j.field("v", s.v);
    j.field("d", s.d);
    j.end_object();
    j.field("dtype", s.dtype);
    j.field("backend", s.backend);
    j.field("created_utc", utc_now());
    j.field("engram_version", engram_version());
    write_machine(j, machine_cpu, cpu_threads, isa, gpu);
    write_build(j);
    const RepetitionPolicy policy = s.repetitions();
    j.begin_object("repetitions");
    j.field("min_reps", policy.min_reps);
    j.field("max_reps", policy.max_reps);
    j.field("budget_s", s.budget_s);
    j.field("target_spread", policy.target_spread);
    j.field("noisy_spread", policy.noisy_spread);
    j.field("warmup", s.warmup);
    j.end_object();
    j.begin_object("limits");
    j.field("bandwidth_gbs", limits.bandwidth_gbs);
    j.field("bandwidth_probe", limits.bandwidth_probe);
    j.field("gemm_gflops", limits.gemm_gflops);
    j.field("gemm_probe", limits.gemm_probe);
    j.end_object();
    j.begin_object("inputs");
    j.field("kind", "peaked-zipf");
    j.field("zipf_exponent", inputs.zipf_exponent);
    j.field("mean_entropy_nats", inputs.mean_entropy);
    j.field("mean_p_target", inputs.mean_p_target);
    j.field("sampled_tokens", inputs.samples);
    j.field("error_metric",
            "max |x - x_f64| over the sampled tokens' loss, lse and grad_e rows, upstream "
            "gradient 1 per token");
    j.end_object();
    j.field("threads", s.threads);
    // One line per case whose spread is too large to trust.
    j.begin_array("warnings");
    for (const Case& c : cases) {
        const SampleStats st = summarize(c.timing.ms);
        if (st.rel_spread > policy.noisy_spread)
            j.field(nullptr, noisy_warning(c.op + " " + c.impl + " " + c.variant, st, policy.noisy_spread));
    }
    j.end_array();
    // Fail closed: a run whose results are wrong reports why, and no cases.
    if (error.empty()) j.null("error"); else j.field("error", error);
    j.begin_array("cases");
    for (const Case& c : cases) {
        const double med = c.timing.median();
        const double gflops = med > 0 ? c.flops / (med * 1e-3) / 1e9 : 0.0;
        const double gbs = med > 0 ? c.bytes_moved / (med * 1e-3) / 1e9 : 0.0;
        j.begin_object();
        j.field("op", c.op);
        j.field("impl", c.impl);
        j.field("variant", c.variant);
        j.field("backend", c.backend);
        j.begin_object("shape");
        j.field("n", c.n);
        j.field("v", c.v);
        j.field("d", c.d);
        j.end_object();
        j.field("dtype", c.dtype);
        j.field("reps", int(c.timing.ms.size()));
        j.field("median_ms", med);
        j.field("min_ms", c.timing.min());
        j.field("max_ms", c.timing.max());
        {
            const SampleStats st = summarize(c.timing.ms);
            j.field("mad_ms", st.mad);
            j.field("spread", st.rel_spread);
            j.field("noisy", st.rel_spread > policy.noisy_spread);
            j.begin_array("samples_ms");
            for (double x : c.timing.ms) j.field(nullptr, x);
            j.end_array();
        }
        j.field("peak_extra_bytes", int64_t(c.peak_extra_bytes));
        if (c.rss_peak_delta_bytes >= 0) j.field("rss_peak_delta_bytes", c.rss_peak_delta_bytes);
        else j.null("rss_peak_delta_bytes");
        if (c.max_abs_err >= 0) j.field("max_abs_err", c.max_abs_err); else j.null("max_abs_err");
        j.field("flops", c.flops);
        j.field("bytes_moved", c.bytes_moved);
        j.field("gflops", gflops);
        j.field("gbs", gbs);
        if (limits.gemm_gflops > 0) j.field("frac_of_gemm_probe", gflops / limits.gemm_gflops);
        else j.null("frac_of_gemm_probe");
        if (limits.bandwidth_gbs > 0) j.field("frac_of_bandwidth", gbs / limits.bandwidth_gbs);
        else j.null("frac_of_bandwidth");
        const Case* base = naive_of(c, cases);
        if (base && base->timing.median() > 0) j.field("vs_naive", med / base->timing.median());
        else j.null("vs_naive");
        if (base && base->peak_extra_bytes > 0)
            j.field("memory_vs_naive", double(c.peak_extra_bytes) / double(base->peak_extra_bytes));
        else j.null("memory_vs_naive");
        j.field("filter_eps", c.filter_eps);
        if (c.blocks_skipped_frac >= 0) j.field("blocks_skipped_frac", c.blocks_skipped_frac);
        else j.null("blocks_skipped_frac");
        if (!c.notes.empty()) j.field("notes", c.notes);
        if (c.validation_worst_ratio >= 0) {
            j.begin_object("validation");
            j.begin_object("shape");
            for (const auto& [name, value] : c.validation_shape) j.field(name.c_str(), value);
            j.end_object();
            j.field("worst_ratio", c.validation_worst_ratio);
            j.end_object();
        } else {
            j.null("validation");
        }
        j.end_object();
    }
    j.end_array();
    j.end_object();
    return j.str();
}

void print_case(const Case& c, const std::vector<Case>& all) {
    const Case* base = naive_of(c, all);
    const double med = c.timing.median();
    std::printf("%-22s %-7s %-15s %5s  median %9.2f ms  (min %9.2f, max %9.2f)  %6.1f GFLOP/s  "
                "extra %10.3f MiB",
                c.op.c_str(), c.impl.c_str(), c.variant.c_str(), c.dtype.c_str(), med,
                c.timing.min(), c.timing.max(), med > 0 ? c.flops / (med * 1e-3) / 1e9 : 0.0,
                double(c.peak_extra_bytes) / (1 << 20));
    if (base && base != &c && base->timing.median() > 0)
        std::printf("  x%.3f of naive", med / base->timing.median());
    if (c.max_abs_err >= 0) std::printf("  err %.2e", c.max_abs_err);
    if (c.blocks_skipped_frac >= 0) std::printf("  skipped %.1f%%", 100.0 * c.blocks_skipped_frac);
    const SampleStats st = summarize(c.timing.ms);
    std::printf("  %d reps, spread %.1f%%\n", st.n, 100.0 * st.rel_spread);
    std::fflush(stdout);
}

}  // namespace engram_bench
