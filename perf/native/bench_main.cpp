// bench_main.cpp — engram-bench: the native benchmark driver, over the op
// families' case suites (perf/native/suites).
//
//   engram-bench list [--json FILE|-]
//   engram-bench verify [OP] [--backend cpu|cuda] [--seed S] [--cases N]
//                       [--threads T] [--json FILE|-]
//   engram-bench bench OP [--backend cpu|cuda] [--shape n=N,v=V,d=D]
//                    [--dtype f32|f16|bf16] [--reps R] [--warmup W] [--threads T]
//                    [--max-reps M] [--budget SECONDS] [--target-spread X] [--noisy-spread X]
//                    [--variants a,b,...] [--filter-eps X] [--samples S]
//                    [--no-naive] [--no-probes] [--json FILE] [--seed S]
//   engram-bench cce ...      (the same as `bench cce ...`; --n/--v/--d also work)
//   engram-bench probe [--json FILE]
//   engram-bench profile OP [--phase P] [--iters N] ...   (bench_profile.hpp)
//
// `verify` runs a suite's awkward cases against the float64 reference. `bench`
// first checks every engram case it will time against the float64 reference
// on the suite's reduced shape and stops, with no timings, if one is wrong
// (fail closed); then it measures the machine's limits (memory bandwidth, BLAS
// GEMM at the benchmark's size) in the same process, engram's CCE variants
// and the naive materialised method on the same inputs, and writes
// docs/bench-json.md (engram-bench/3).
// Exit status: 0 ok, 1 a case failed or a result is wrong, 2 usage error.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_case.hpp"
#include "bench_problem.hpp"
#include "bench_profile.hpp"
#include "bench_suites.hpp"
#include "cases_cpu.hpp"
#include "engram.h"
#include "naive_cpu.hpp"
#include "qmatmul_cases.hpp"
#include "registry.hpp"
#include "runtime_blas.hpp"
#include "attention_cases.hpp"
#include "scan_cases.hpp"

#if defined(ENGRAM_BENCH_CUDA)
#include "cases_cuda.hpp"
#endif

using namespace engram_bench;

namespace {

// Writes the JSON after every case, to a temporary file renamed over the
// target, marked incomplete until the run's final write replaces it.
class JsonFileSink : public CaseSink {
public:
    JsonFileSink(const Settings& s, const Limits& limits, const InputStats& inputs,
                 const engram_capabilities& caps, const std::string& isa, const std::string& gpu)
        : s_(s), limits_(limits), inputs_(inputs), caps_(caps), isa_(isa), gpu_(gpu) {}
    void added(const std::vector<Case>& cases) const override {
        const std::string tmp = s_.json_path + ".partial";
        {
            std::ofstream f(tmp);
            f << to_json(s_, cases, limits_, inputs_, caps_.cpu_name, caps_.cpu_threads, isa_, gpu_,
                         "incomplete: written after case " + std::to_string(cases.size()) +
                             ", before the run finished")
              << "\n";
            if (!f) return;  // the final write reports an unwritable path
        }
        std::rename(tmp.c_str(), s_.json_path.c_str());
    }

private:
    const Settings& s_;
    const Limits& limits_;
    const InputStats& inputs_;
    const engram_capabilities& caps_;
    std::string isa_, gpu_;
};

const char kHelp[] =
    "usage: engram-bench list [--json FILE|-]\n"
    "       engram-bench verify [OP] [--backend cpu|cuda] [--seed S] [--cases N]\n"
    "                           [--threads T] [--json FILE|-]\n"
    "       engram-bench bench OP [options]     (engram-bench cce ... = bench cce ...)\n"
    "       engram-bench probe [--json FILE]\n"
    "       engram-bench profile OP [--phase forward|backward|forward_backward] [--iters N]\n"
    "       engram-bench --help\n"
    "\n"
    "list     the case suites: ops, named dimensions, verify and bench shapes\n"
    "verify   every op's awkward cases against its float64 reference; exit 1 on a mismatch\n"
    "bench    the machine's limits, the naive method and engram's variants in one process;\n"
    "         every engram variant is first checked against the float64 reference on a\n"
    "         reduced shape, and a wrong result fails the run (exit 1, \"error\" in the JSON)\n"
    "probe    only the machine's limits (stream triad bandwidth, BLAS sgemm)\n"
    "profile  a plain loop over one op and phase for perf, ncu and nsys (options below)\n"
    "\n"
    "bench options:\n"
    "  --backend cpu|cuda       backend (default cpu)\n"
    "  --shape n=N,v=V,d=D      the suite's named dimensions (default n=4096,v=32768,d=1024);\n"
    "                           --n, --v, --d set one each\n"
    "  --dtype f32|f16|bf16     input dtype (default f32)\n"
    "  --reps R, --warmup W     at least R timed repetitions per case after W untimed ones\n"
    "                           (default 3, 1); --reps alone: exactly R\n"
    "  --max-reps M             then more repetitions, up to M (default 20 without --reps),\n"
    "                           until the spread settles (--target-spread) or the case's\n"
    "                           budget is spent\n"
    "  --budget SECONDS         timed seconds per case before it stops repeating (default 10)\n"
    "  --target-spread X        relative robust spread (1.4826 MAD / median) that counts as\n"
    "                           settled (default 0.02)\n"
    "  --noisy-spread X         a final spread above X is warned about and marked \"noisy\"\n"
    "                           in the JSON: another process probably took a core (default 0.05)\n"
    "  --threads T              CPU worker threads (default 0: all cores)\n"
    "  --variants LIST          exact,fused,filtered,fused-filtered (default all)\n"
    "  --filter-eps X           gradient filter of the filtered variants (default 2^-12)\n"
    "  --scratch LIST           extra runs of the one-pass fused forward+backward with these\n"
    "                           CPU scratch budgets, e.g. 8M,32M,128M (time/memory curve)\n"
    "  --samples S              tokens in the sampled float64 error check (default 64)\n"
    "  --no-naive               skip the naive materialised method\n"
    "  --no-probes              skip the bandwidth and GEMM probes\n"
    "  --seed S                 input seed (default 1)\n"
    "  --json FILE              write the engram-bench/3 JSON (docs/bench-json.md)\n"
    "  --quiet                  no per-case lines\n";

[[noreturn]] void usage(const char* msg) {
    std::fprintf(stderr, "engram-bench: %s\n%s", msg, kHelp);
    std::exit(2);
}

std::vector<std::string> split(const std::string& s, char sep = ',') {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, sep)) if (!item.empty()) out.push_back(item);
    return out;
}

// "64M,256M,1G": byte counts with an optional K, M or G (binary) suffix.
std::vector<uint64_t> byte_sizes(const std::string& option, const std::string& text) {
    std::vector<uint64_t> out;
    for (const std::string& item : split(text)) {
        char* end = nullptr;
        const unsigned long long v = std::strtoull(item.c_str(), &end, 10);
        uint64_t unit = 1;
        const std::string suffix = end ? std::string(end) : std::string();
        if (suffix == "K" || suffix == "k") unit = 1ull << 10;
        else if (suffix == "M" || suffix == "m") unit = 1ull << 20;
        else if (suffix == "G" || suffix == "g") unit = 1ull << 30;
        else if (!suffix.empty() || item.empty() || item[0] == '-')
            usage((option + ": '" + item + "' is not a byte count (e.g. 64M)").c_str());
        out.push_back(uint64_t(v) * unit);
    }
    return out;
}

long long positive(const std::string& option, const std::string& v) {
    char* end = nullptr;
    const long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || !end || *end || x <= 0) usage(("bad value for " + option + ": " + v).c_str());
    return x;
}

// A finite number >= 0 ("0.02", "10").
double fraction(const std::string& option, const std::string& v) {
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || !end || *end || !(x >= 0) || !std::isfinite(x))
        usage(("bad value for " + option + ": " + v + " (a number >= 0)").c_str());
    return x;
}

// "n=4096,v=32768,d=1024": every name must be a dimension of the op's suite.
void parse_shape(const std::string& text, const engram_suite::Suite& suite, Settings& s) {
    for (const std::string& item : split(text)) {
        const size_t eq = item.find('=');
        if (eq == std::string::npos) usage(("--shape wants name=value items, got " + item).c_str());
        const std::string name = item.substr(0, eq);
        const long long value = positive("--shape " + name, item.substr(eq + 1));
        if (name == "n") s.n = value;
        else if (name == "v") s.v = value;
        else if (name == "d") s.d = value;
        else {
            std::string dims;
            for (const auto& d : suite.dims()) dims += " " + d.name;
            usage(("op " + suite.family() + " has no dimension '" + name + "' (its dims:" + dims + ")").c_str());
        }
    }
}

std::string known_ops() {
    std::string known;
    for (const engram_suite::Suite* s : engram_suite::all_suites()) known += " " + s->family();
    return known;
}

VerifySettings parse_verify(int argc, char** argv) {
    VerifySettings vs;
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(("missing value for " + a).c_str());
            return argv[++i];
        };
        if (a == "--backend") vs.backend = value();
        else if (a == "--seed") vs.seed = uint64_t(positive(a, value()));
        else if (a == "--cases") vs.cases = int(positive(a, value()));
        else if (a == "--threads") vs.threads = std::atoi(value().c_str());
        else if (a == "--json") vs.json_path = value();
        else if (a.rfind("--", 0) != 0 && vs.op.empty()) vs.op = a;
        else usage(("unknown option " + a).c_str());
    }
    if (vs.backend != "cpu" && vs.backend != "cuda") usage("--backend must be cpu or cuda");
    return vs;
}

// `bench OP ...` (first = index of the first option) or the alias `cce ...`.
Settings parse_bench(int argc, char** argv, int first, const std::string& op) {
    Settings s;
    const engram_suite::Suite* suite = engram_suite::find_suite(op);
    if (!suite || suite->family() != op)
        usage(("unknown op '" + op + "' to benchmark; ops:" + known_ops()).c_str());
    s.op = op;
    bool reps_given = false, max_reps_given = false;
    for (int i = first; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(("missing value for " + a).c_str());
            return argv[++i];
        };
        if (a == "--backend") s.backend = value();
        else if (a == "--shape") parse_shape(value(), *suite, s);
        else if (a == "--n") s.n = positive(a, value());
        else if (a == "--v") s.v = positive(a, value());
        else if (a == "--d") s.d = positive(a, value());
        else if (a == "--dtype") s.dtype = value();
        else if (a == "--reps") { s.reps = int(positive(a, value())); reps_given = true; }
        else if (a == "--warmup") { s.warmup = std::atoi(value().c_str()); }
        else if (a == "--max-reps") { s.max_reps = int(positive(a, value())); max_reps_given = true; }
        else if (a == "--budget") s.budget_s = fraction(a, value());
        else if (a == "--target-spread") s.target_spread = fraction(a, value());
        else if (a == "--noisy-spread") s.noisy_spread = fraction(a, value());
        else if (a == "--threads") s.threads = std::atoi(value().c_str());
        else if (a == "--variants") s.variants = split(value());
        else if (a == "--scratch") s.scratch_budgets = byte_sizes(a, value());
        else if (a == "--filter-eps") s.filter_eps = std::strtof(value().c_str(), nullptr);
        else if (a == "--samples") s.samples = int(positive(a, value()));
        else if (a == "--no-naive") s.naive = false;
        else if (a == "--no-probes") s.probes = false;
        else if (a == "--json") s.json_path = value();
        else if (a == "--seed") s.seed = uint64_t(positive(a, value()));
        else if (a == "--quiet") s.quiet = true;
        else usage(("unknown option " + a).c_str());
    }
    // --reps R alone asks for exactly R repetitions (as before the adaptive policy:
    // scripts with a deadline, compute-sanitizer runs); with --max-reps, or neither
    // given, repetitions continue until the spread settles.
    if (reps_given && !max_reps_given) s.max_reps = s.reps;
    if (s.max_reps < s.reps) s.max_reps = s.reps;
    if (const std::string bad = s.repetitions().invalid(); !bad.empty()) usage(bad.c_str());
    if (s.backend != "cpu" && s.backend != "cuda") usage("--backend must be cpu or cuda");
    if (s.dtype != "f32" && s.dtype != "f16" && s.dtype != "bf16") usage("--dtype must be f32, f16 or bf16");
    for (const std::string& v : s.variants)
        if (v != "exact" && v != "fused" && v != "filtered" && v != "fused-filtered")
            usage(("unknown variant " + v).c_str());
    return s;
}

engram_dtype dtype_of(const std::string& s) {
    if (s == "f16") return ENGRAM_DTYPE_F16;
    if (s == "bf16") return ENGRAM_DTYPE_BF16;
    return ENGRAM_DTYPE_F32;
}

const char* isa_name(int isa) {
    switch (isa) {
        case ENGRAM_CPU_ISA_AVX512_BF16: return "avx512_bf16";
        case ENGRAM_CPU_ISA_AVX512: return "avx512";
        case ENGRAM_CPU_ISA_AVX2: return "avx2";
        default: return "scalar";
    }
}

// Each engram case gets its validation, in the order both were made.
void attach_validations(std::vector<Case>& cases, const std::vector<Validation>& validations) {
    size_t k = 0;
    for (Case& c : cases) {
        if (c.impl != "engram" || k >= validations.size()) continue;
        const Validation& v = validations[k++];
        if (v.op != c.op || v.variant != c.variant) continue;
        c.validation_shape.assign(v.shape.begin(), v.shape.end());
        c.validation_worst_ratio = v.worst_ratio;
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) usage("missing command");
    const std::string cmd = argv[1];
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
        std::fputs(kHelp, stdout);
        std::fputs("\n", stdout);
        std::fputs(kProfileHelp, stdout);
        return 0;
    }
    if (cmd == "profile") return profile_command(argc, argv, 2);
    if (cmd == "list") {
        std::string json;
        for (int i = 2; i < argc; ++i) {
            if (std::string(argv[i]) == "--json" && i + 1 < argc) json = argv[++i];
            else usage(("unknown option " + std::string(argv[i])).c_str());
        }
        return run_list(json);
    }
    if (cmd == "verify") return run_verify(parse_verify(argc, argv));
    if (cmd == "bench" && argc >= 3 && std::string(argv[2]) == "qmatmul")
        return run_qmatmul_bench(argc, argv, 3);  // its own shapes and baselines
    // Families with their own timed cases and options (scan_cases.cpp, attention_cases.cpp).
    if (cmd == "bench" && argc >= 3 && std::string(argv[2]) == "scan") return run_scan_bench(argc, argv, 3);
    if (cmd == "bench" && argc >= 3 && std::string(argv[2]) == "attention")
        return run_attention_bench(argc, argv, 3);
    const bool probe_only = cmd == "probe";
    Settings s;
    if (cmd == "bench") {
        if (argc < 3 || argv[2][0] == '-') usage(("bench needs an op; ops:" + known_ops()).c_str());
        s = parse_bench(argc, argv, 3, argv[2]);
    } else if (cmd == "cce") {
        s = parse_bench(argc, argv, 2, "cce");
    } else if (probe_only) {
        s = parse_bench(argc, argv, 2, "cce");
    } else {
        usage(("unknown command '" + cmd + "'").c_str());
    }
    engram_capabilities caps;
    engram_capabilities_init(&caps);
    engram_get_capabilities(&caps);
    std::string gpu;
#if defined(ENGRAM_BENCH_CUDA)
    if (s.backend == "cuda") gpu = cuda_device_name();
#endif
    if (s.backend == "cuda" && gpu.empty()) {
        std::fprintf(stderr, "engram-bench: no CUDA backend or device here (%s)\n", caps.cuda_status);
        return 2;
    }

    Limits limits;
    if (s.probes) {
        std::printf("probing limits: memory bandwidth ...\n");
        std::fflush(stdout);
        limits.bandwidth_gbs = bandwidth_probe_gbs(5);
        limits.bandwidth_probe = "stream triad, 3 x 256 MiB f32, all cores, best of 5";
        if (s.backend == "cpu") {
            std::printf("probing limits: sgemm %lldx%lldx%lld ...\n", (long long)s.n, (long long)s.v,
                        (long long)s.d);
            std::fflush(stdout);
            limits.gemm_gflops = gemm_probe_gflops(s.n, s.v, s.d, 3);
            limits.gemm_probe = std::string(NaiveCpu::blas()) + " sgemm " + std::to_string(s.n) +
                                "x" + std::to_string(s.v) + "x" + std::to_string(s.d) +
                                " (A B^T), best of 3";
            if (limits.gemm_gflops <= 0.0) limits.gemm_probe = "none: " + runtime_blas().name;
        }
#if defined(ENGRAM_BENCH_CUDA)
        if (s.backend == "cuda") cuda_probes(s, limits);
#endif
        std::printf("limits: %.1f GB/s, %.1f GFLOP/s (%s)\n", limits.bandwidth_gbs,
                    limits.gemm_gflops, limits.gemm_probe.c_str());
    }

    std::vector<Case> cases;
    InputStats inputs;
    int status = 0;
    std::string error;
    std::vector<Validation> validations;
    if (!probe_only) {
        std::printf("validating the cases against the float64 reference before timing ...\n");
        std::fflush(stdout);
        if (!validate_bench_cases(s, validations, error)) {
            std::fprintf(stderr, "engram-bench: wrong results, nothing timed:\n%s\n", error.c_str());
            status = 1;
        }
    }
    if (!probe_only && status == 0) {
        std::printf("generating peaked inputs N=%lld V=%lld D=%lld %s ...\n", (long long)s.n,
                    (long long)s.v, (long long)s.d, s.dtype.c_str());
        std::fflush(stdout);
        const Problem p = make_peaked_problem(s.n, s.v, s.d, dtype_of(s.dtype), s.seed);
        const SampledReference ref = reference_on_samples(p, s.samples, s.seed + 7);
        inputs.zipf_exponent = p.zipf_exponent;
        inputs.samples = int(ref.tokens.size());
        for (size_t i = 0; i < ref.tokens.size(); ++i) {
            inputs.mean_entropy += ref.entropy[i] / double(ref.tokens.size());
            inputs.mean_p_target += ref.p_target[i] / double(ref.tokens.size());
        }
        std::printf("inputs: mean softmax entropy %.2f nats, mean p(target) %.2f (%d sampled tokens)\n",
                    inputs.mean_entropy, inputs.mean_p_target, inputs.samples);
        const JsonFileSink sink(s, limits, inputs, caps, isa_name(caps.cpu_isa), gpu);
        if (!s.json_path.empty()) s.sink = &sink;
        try {
            if (s.backend == "cpu") run_cpu_cases(s, p, ref, cases);
#if defined(ENGRAM_BENCH_CUDA)
            else run_cuda_cases(s, p, ref, cases);
#endif
        } catch (const std::exception& e) {
            std::fprintf(stderr, "engram-bench: %s\n", e.what());
            error = e.what();
            status = 1;
        }
        s.sink = nullptr;
        attach_validations(cases, validations);
        // At the benchmark's own shape, the sampled float64 check must at
        // least give a finite error.
        for (const Case& c : cases)
            if (!std::isfinite(c.max_abs_err)) {
                error += (error.empty() ? "" : "; ") + c.op + " " + c.impl + " " + c.variant +
                         ": non-finite error against the float64 reference on sampled tokens";
                status = 1;
            }
        if (status != 0) {
            std::fprintf(stderr, "engram-bench: %s\n", error.c_str());
            cases.clear();  // fail closed: no numbers from a wrong run
        }
    }

    if (!s.json_path.empty()) {
        std::ofstream f(s.json_path);
        f << to_json(s, cases, limits, inputs, caps.cpu_name, caps.cpu_threads,
                     isa_name(caps.cpu_isa), gpu, error)
          << "\n";
        if (!f) {
            std::fprintf(stderr, "engram-bench: cannot write %s\n", s.json_path.c_str());
            return 1;
        }
        std::printf("wrote %s\n", s.json_path.c_str());
    }
    return status;
}
