// bench_suites.cpp — see bench_suites.hpp.
#include "bench_suites.hpp"

#include <cstdio>
#include <fstream>
#include <memory>

#include "engram.h"
#include "registry.hpp"

namespace engram_bench {

using SuiteCase = engram_suite::Case;
using engram_suite::Outcome;
using engram_suite::Suite;

namespace {

void write_dims(Json& j, const char* key, const engram_suite::Dims& dims) {
    j.begin_object(key);
    for (const auto& [name, value] : dims) j.field(name.c_str(), value);
    j.end_object();
}

bool write_json(const std::string& path, const std::string& text) {
    if (path == "-") {
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fputc('\n', stdout);
        return true;
    }
    std::ofstream f(path);
    f << text << "\n";
    return bool(f);
}

// A context of the backend, or nullptr with the reason printed.
struct ContextDeleter {
    void operator()(engram_context* c) const { engram_context_destroy(c); }
};
using ContextPtr = std::unique_ptr<engram_context, ContextDeleter>;

ContextPtr make_context(const std::string& backend, int threads) {
    engram_context* ctx = nullptr;
    const engram_backend b = backend == "cuda" ? ENGRAM_BACKEND_CUDA : ENGRAM_BACKEND_CPU;
    if (engram_context_create(b, 0, &ctx) != ENGRAM_OK) {
        std::fprintf(stderr, "engram-bench: no %s context: %s\n", backend.c_str(), engram_last_error());
        return nullptr;
    }
    if (b == ENGRAM_BACKEND_CPU && engram_context_set_threads(ctx, threads) != ENGRAM_OK) {
        std::fprintf(stderr, "engram-bench: threads: %s\n", engram_last_error());
        engram_context_destroy(ctx);
        return nullptr;
    }
    return ContextPtr(ctx);
}

}  // namespace

int run_list(const std::string& json_path) {
    Json j;
    j.begin_object();
    j.field("schema", "engram-bench-list/1");
    j.begin_array("suites");
    for (const Suite* s : engram_suite::all_suites()) {
        if (json_path != "-") {
            std::printf("%s — %s\n  dims:", s->family().c_str(), s->summary().c_str());
            for (const auto& d : s->dims()) std::printf(" %s (%s)", d.name.c_str(), d.meaning.c_str());
            std::printf("\n  ops:\n");
            for (const auto& o : s->ops()) std::printf("    %-24s %s\n", o.name.c_str(), o.summary.c_str());
            std::printf("  bench shapes:");
            for (const auto& shape : s->bench_shapes()) {
                std::string text;
                for (const auto& [name, value] : shape)
                    text += (text.empty() ? "" : ",") + name + "=" + std::to_string(value);
                std::printf(" %s", text.c_str());
            }
            std::printf("\n  verify cases: %zu\n", s->verify_cases("", 1, 0).size());
        }
        j.begin_object();
        j.field("family", s->family());
        j.field("summary", s->summary());
        j.begin_array("dims");
        for (const auto& d : s->dims()) {
            j.begin_object();
            j.field("name", d.name);
            j.field("meaning", d.meaning);
            j.end_object();
        }
        j.end_array();
        j.begin_array("ops");
        for (const auto& o : s->ops()) {
            j.begin_object();
            j.field("name", o.name);
            j.field("summary", o.summary);
            j.end_object();
        }
        j.end_array();
        j.begin_array("bench_shapes");
        for (const auto& shape : s->bench_shapes()) write_dims(j, nullptr, shape);
        j.end_array();
        j.field("verify_cases", int64_t(s->verify_cases("", 1, 0).size()));
        j.end_object();
    }
    j.end_array();
    j.end_object();
    if (!json_path.empty() && !write_json(json_path, j.str())) {
        std::fprintf(stderr, "engram-bench: cannot write %s\n", json_path.c_str());
        return 2;
    }
    return 0;
}

int run_verify(const VerifySettings& vs) {
    std::vector<std::pair<const Suite*, SuiteCase>> cases;
    for (const Suite* s : engram_suite::all_suites()) {
        if (!vs.op.empty() && s->family() != vs.op && !s->has_op(vs.op)) continue;
        for (SuiteCase& c : s->verify_cases(vs.op, vs.seed, vs.cases)) cases.emplace_back(s, std::move(c));
    }
    if (cases.empty()) {
        std::string known;
        for (const Suite* s : engram_suite::all_suites()) {
            known += " " + s->family();
            for (const auto& o : s->ops()) known += " " + o.name;
        }
        std::fprintf(stderr, "engram-bench: unknown op '%s'; known:%s\n", vs.op.c_str(), known.c_str());
        return 2;
    }
    ContextPtr ctx = make_context(vs.backend, vs.threads);
    if (!ctx) return 2;
    // With the JSON on stdout, the log goes to stderr.
    FILE* log = vs.json_path == "-" ? stderr : stdout;
    Json j;
    j.begin_object();
    j.field("schema", "engram-verify/1");
    j.field("engram_version", engram_version());
    j.field("backend", vs.backend);
    j.field("seed", int64_t(vs.seed));
    j.field("op", vs.op.empty() ? std::string("all") : vs.op);
    j.begin_array("cases");
    int passed = 0, failed = 0;
    for (const auto& [suite, c] : cases) {
        const Outcome o = suite->run(ctx.get(), c);
        (o.passed ? passed : failed) += 1;
        std::fprintf(log, "%s  %s  worst |err|/bound %.3g\n", o.passed ? "ok  " : "FAIL",
                     c.label().c_str(), o.worst_ratio);
        if (!o.passed) std::fprintf(log, "  %s\n", o.error.c_str());
        std::fflush(log);
        j.begin_object();
        j.field("family", suite->family());
        j.field("op", c.op);
        write_dims(j, "shape", c.dims);
        j.field("dtype", engram_suite::dtype_name(c.dtype));
        j.field("seed", int64_t(c.seed));
        j.begin_object("options");
        for (const auto& [name, value] : c.options) j.field(name.c_str(), value);
        j.end_object();
        j.field("label", c.label());
        j.field("passed", o.passed);
        j.field("compared", o.compared);
        j.field("mismatches", o.mismatches);
        j.field("max_abs_err", o.max_abs_err);
        j.field("worst_ratio", o.worst_ratio);
        j.field("worst_at", o.worst_at);
        if (o.passed) j.null("error"); else j.field("error", o.error);
        j.end_object();
    }
    j.end_array();
    j.field("passed", passed);
    j.field("failed", failed);
    j.end_object();
    std::fprintf(log, "%d passed, %d failed (%s backend, seed %llu)\n", passed, failed,
                 vs.backend.c_str(), (unsigned long long)vs.seed);
    if (!vs.json_path.empty() && !write_json(vs.json_path, j.str())) {
        std::fprintf(stderr, "engram-bench: cannot write %s\n", vs.json_path.c_str());
        return 2;
    }
    return failed == 0 ? 0 : 1;
}

bool validate_bench_cases(const Settings& s, std::vector<Validation>& validations,
                          std::string& error) {
    const Suite* suite = engram_suite::find_suite(s.op);
    if (!suite) {
        error = "no case suite for op " + s.op;
        return false;
    }
    ContextPtr ctx = make_context(s.backend, s.threads);
    if (!ctx) {
        error = "no " + s.backend + " context";
        return false;
    }
    engram_dtype dtype = ENGRAM_DTYPE_F32;
    engram_suite::parse_dtype(s.dtype, dtype);
    const engram_suite::Dims shape = suite->reduced({{"n", s.n}, {"v", s.v}, {"d", s.d}});
    // The ops each engram case calls: the non-fused variants are a forward
    // followed by a backward given its lse (the suite's cce_backward case).
    struct Planned {
        const char* op;
        const char* suite_op;
        const char* variant;
        float eps;
    };
    std::vector<Planned> plan{{"cce_forward", "cce_forward", "exact", 0.0f}};
    const Planned variants[] = {{"cce_forward_backward", "cce_backward", "exact", 0.0f},
                                {"cce_forward_backward", "cce_forward_backward", "fused", 0.0f},
                                {"cce_forward_backward", "cce_backward", "filtered", s.filter_eps},
                                {"cce_forward_backward", "cce_forward_backward", "fused-filtered", s.filter_eps}};
    for (const Planned& p : variants)
        if (s.wants(p.variant)) plan.push_back(p);
    bool ok = true;
    for (const Planned& p : plan) {
        SuiteCase c;
        c.op = p.suite_op;
        c.dims = shape;
        c.dtype = dtype;
        c.seed = s.seed;
        c.options = {{"reduction", double(ENGRAM_REDUCTION_MEAN)}, {"filter_eps", double(p.eps)}};
        const Outcome o = suite->run(ctx.get(), c);
        Validation v;
        v.op = p.op;
        v.variant = p.variant;
        v.shape = shape;
        v.passed = o.passed;
        v.worst_ratio = o.worst_ratio;
        v.max_abs_err = o.max_abs_err;
        v.error = o.error;
        std::printf("validated %-22s %-15s on %s: %s (worst |err|/bound %.3g)\n", p.op, p.variant,
                    c.label().c_str(), o.passed ? "ok" : "FAILED", o.worst_ratio);
        if (!o.passed) {
            ok = false;
            error += std::string(error.empty() ? "" : "\n") + p.op + " " + p.variant + " is wrong on " +
                     c.label() + ": " + o.error;
        }
        validations.push_back(std::move(v));
    }
    return ok;
}

}  // namespace engram_bench
