// family_bench.cpp — see family_bench.hpp.
#include "family_bench.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <sstream>

#include "engram.h"
#include "naive_cpu.hpp"
#include "registry.hpp"
#include "runtime_blas.hpp"

namespace engram_bench {

namespace {

[[noreturn]] void family_usage(const std::string& msg, const char* help) {
    std::fprintf(stderr, "engram-bench: %s\n%s", msg.c_str(), help);
    std::exit(2);
}

std::string utc_now() {
    char buf[32];
    const std::time_t t = std::time(nullptr);
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

std::string dims_text(const engram_suite::Dims& d) {
    std::string s;
    for (const auto& [name, value] : d) s += (s.empty() ? "" : ",") + name + "=" + std::to_string(value);
    return s;
}

const char* isa_name(int isa) {
    switch (isa) {
        case ENGRAM_CPU_ISA_AVX512_BF16: return "avx512_bf16";
        case ENGRAM_CPU_ISA_AVX512: return "avx512";
        case ENGRAM_CPU_ISA_AVX2: return "avx2";
        default: return "scalar";
    }
}

}  // namespace

int64_t FamilySettings::integer(const std::string& name, int64_t fallback) const {
    const auto it = extra.find(name);
    return it == extra.end() ? fallback : std::strtoll(it->second.c_str(), nullptr, 10);
}

std::vector<int64_t> FamilySettings::integers(const std::string& name,
                                              const std::vector<int64_t>& fallback) const {
    const auto it = extra.find(name);
    if (it == extra.end()) return fallback;
    std::vector<int64_t> out;
    std::stringstream ss(it->second);
    std::string item;
    while (std::getline(ss, item, ','))
        if (!item.empty()) out.push_back(std::strtoll(item.c_str(), nullptr, 10));
    return out;
}

std::string FamilySettings::text(const std::string& name, const std::string& fallback) const {
    const auto it = extra.find(name);
    return it == extra.end() ? fallback : it->second;
}

FamilySettings parse_family_settings(int argc, char** argv, int first, const std::string& op,
                                     const std::vector<std::string>& known, const char* help) {
    FamilySettings s;
    s.op = op;
    for (int i = first; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) family_usage("missing value for " + a, help);
            return argv[++i];
        };
        auto count = [&](int min_value) {
            const std::string v = value();
            char* end = nullptr;
            const long x = std::strtol(v.c_str(), &end, 10);
            if (v.empty() || *end || x < min_value) family_usage("bad value for " + a + ": " + v, help);
            return int(x);
        };
        if (a == "--reps") s.reps = count(1);
        else if (a == "--warmup") s.warmup = count(0);
        else if (a == "--threads") s.threads = count(0);
        else if (a == "--peer-threads") s.peer_threads = count(0);
        else if (a == "--seed") s.seed = uint64_t(count(1));
        else if (a == "--json") s.json_path = value();
        else if (a == "--note") s.note = value();
        else if (a == "--no-probes") s.probes = false;
        else if (a == "--no-peer") s.peer = false;
        else if (a == "--quick") s.quick = true;
        else if (a == "--help" || a == "-h") { std::fputs(help, stdout); std::exit(0); }
        else if (a == "--backend") {
            // What `engram bench OP` passes: these families have CPU kernels only.
            const std::string b = value();
            if (b != "cpu") family_usage("bench " + op + " runs on the CPU only (no " + b + " kernels yet)", help);
        } else if (a == "--dtype") {
            s.extra["dtype"] = value();
        } else if (a == "--shape") {
            // name=value,...: each a dimension option of the family (e.g. t=8192,h=16).
            std::stringstream items(value());
            std::string item;
            while (std::getline(items, item, ',')) {
                const size_t eq = item.find('=');
                const std::string name = item.substr(0, eq);
                if (eq == std::string::npos || std::find(known.begin(), known.end(), name) == known.end())
                    family_usage("--shape: '" + item + "' is not name=value with a dimension of bench " + op, help);
                s.extra[name] = item.substr(eq + 1);
            }
        }
        else {
            bool found = false;
            for (const std::string& k : known)
                if (a == "--" + k) {
                    s.extra[k] = value();
                    found = true;
                }
            if (!found) family_usage("unknown option " + a + " for bench " + op, help);
        }
    }
    return s;
}

FamilyRun::FamilyRun(const FamilySettings& s) : s_(s) {}

void FamilyRun::probe(int64_t m, int64_t n, int64_t k) {
    if (!s_.probes) return;
    std::printf("probing limits: memory bandwidth ...\n");
    std::fflush(stdout);
    limits_.bandwidth_gbs = bandwidth_probe_gbs(s_.quick ? 2 : 5);
    // The probes' threads: OpenMP's and the BLAS's own, as the environment sets them.
    const char* omp = std::getenv("OMP_NUM_THREADS");
    const char* blas = std::getenv("OPENBLAS_NUM_THREADS");
    limits_.bandwidth_probe = std::string("stream triad, 3 x 256 MiB f32, ") +
                              (omp ? std::string("OMP_NUM_THREADS=") + omp : std::string("all cores")) +
                              ", best of " + (s_.quick ? "2" : "5");
    if (m > 0) {
        std::printf("probing limits: sgemm %lldx%lldx%lld ...\n", (long long)m, (long long)n, (long long)k);
        std::fflush(stdout);
        limits_.gemm_gflops = gemm_probe_gflops(m, n, k, 3);
        limits_.gemm_probe = limits_.gemm_gflops > 0
                                 ? std::string(NaiveCpu::blas()) + " sgemm " + std::to_string(m) + "x" +
                                       std::to_string(n) + "x" + std::to_string(k) + " (A B^T), best of 3" +
                                       (blas ? std::string(", OPENBLAS_NUM_THREADS=") + blas : std::string())
                                 : "none: " + runtime_blas().name;
    }
    std::printf("limits: %.1f GB/s, %.1f GFLOP/s (%s)\n", limits_.bandwidth_gbs, limits_.gemm_gflops,
                limits_.gemm_probe.c_str());
}

bool FamilyRun::validate(const engram_suite::Case& c, double* worst_ratio) {
    const engram_suite::Suite* suite = engram_suite::find_suite(c.op);
    if (!suite) {
        fail("no case suite for op " + c.op);
        return false;
    }
    engram_context* raw = nullptr;
    if (engram_context_create(ENGRAM_BACKEND_CPU, 0, &raw) != ENGRAM_OK ||
        engram_context_set_threads(raw, s_.threads) != ENGRAM_OK) {
        fail(std::string("no CPU context: ") + engram_last_error());
        engram_context_destroy(raw);
        return false;
    }
    const engram_suite::Outcome o = suite->run(raw, c);
    engram_context_destroy(raw);
    std::printf("validated %s: %s (worst |err|/bound %.3g)\n", c.label().c_str(),
                o.passed ? "ok" : "FAILED", o.worst_ratio);
    std::fflush(stdout);
    if (worst_ratio) *worst_ratio = o.worst_ratio;
    if (!o.passed) fail(c.label() + " is wrong against the float64 reference: " + o.error);
    return o.passed;
}

void FamilyRun::add(FamilyCase c) {
    print_family_case(c);
    cases_.push_back(std::move(c));
    if (!s_.json_path.empty())
        write("incomplete: written after case " + std::to_string(cases_.size()) +
              ", before the run finished");
}

const FamilyCase* FamilyRun::find(const std::string& op, const std::string& impl,
                                  const std::string& variant, const engram_suite::Dims& shape,
                                  const std::string& dtype) const {
    for (const FamilyCase& c : cases_)
        if (c.op == op && c.impl == impl && c.variant == variant && c.shape == shape && c.dtype == dtype)
            return &c;
    return nullptr;
}

void FamilyRun::fail(const std::string& why) {
    error_ += (error_.empty() ? "" : "\n") + why;
    std::fprintf(stderr, "engram-bench: %s\n", why.c_str());
}

void FamilyRun::run_peer(const std::string& script, const std::string& args) {
    if (!s_.peer) {
        peer_status_ = "not run (--no-peer)";
        return;
    }
    // A Python that imports torch: ENGRAM_PYTHON, Debian's /usr/bin/python3
    // (python3-torch), then python3 on PATH (as the .NET CLI's TorchPeer).
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("ENGRAM_PYTHON")) candidates.push_back(env);
    candidates.push_back("/usr/bin/python3");
    candidates.push_back("python3");
    std::string python;
    for (const std::string& c : candidates)
        if (std::system(("'" + c + "' -c 'import torch' >/dev/null 2>&1").c_str()) == 0) {
            python = c;
            break;
        }
    if (python.empty()) {
        peer_status_ = "not run: no python3 that imports torch (ENGRAM_PYTHON, /usr/bin/python3, python3)";
        std::printf("peer %s: %s\n", script.c_str(), peer_status_.c_str());
        return;
    }
    const std::string path = peers_dir() + "/" + script;
    const std::string cmd = "'" + python + "' '" + path + "' " + args + " --threads " + std::to_string(s_.peer_threads >= 0 ? s_.peer_threads : s_.threads) +
                            " --reps " + std::to_string(s_.reps) + " --warmup " + std::to_string(s_.warmup);
    std::printf("running the PyTorch peer: %s\n", cmd.c_str());
    std::fflush(stdout);
    FILE* pipe = popen(cmd.c_str(), "r");
    if (!pipe) {
        peer_status_ = "failed to start: " + cmd;
        return;
    }
    char line[4096];
    int added = 0;
    while (std::fgets(line, sizeof line, pipe)) {
        std::fputs(line, stdout);
        std::istringstream in(line);
        std::string tag, shape;
        FamilyCase c;
        double med = 0, mn = 0, mx = 0, flops = 0;
        int reps = 0;
        if (!(in >> tag) || tag != "CASE") continue;
        if (!(in >> c.op >> c.impl >> c.variant >> c.dtype >> shape >> med >> mn >> mx >> reps >> flops))
            continue;
        std::stringstream ss(shape);
        std::string item;
        while (std::getline(ss, item, ',')) {
            const size_t eq = item.find('=');
            if (eq != std::string::npos) c.shape[item.substr(0, eq)] = std::strtoll(item.c_str() + eq + 1, nullptr, 10);
        }
        // The peer reports median, min and max; keep them as three samples.
        c.timing.ms = {mn, med, mx};
        if (reps == 1) c.timing.ms = {med};
        c.reps = reps;
        c.flops = flops;
        c.notes = "PyTorch CPU peer (" + script + "), " + std::to_string(reps) + " reps";
        add(std::move(c));
        ++added;
    }
    const int rc = pclose(pipe);
    peer_status_ = rc == 0 ? "ran: " + std::to_string(added) + " cases (" + script + ")"
                           : "exited with status " + std::to_string(rc) + " after " +
                                 std::to_string(added) + " cases (" + script + ")";
}

std::string FamilyRun::json(const std::string& error) const {
    engram_capabilities caps;
    engram_capabilities_init(&caps);
    engram_get_capabilities(&caps);
    Json j;
    j.begin_object();
    j.field("schema", "engram-bench/2");
    j.field("op", s_.op);
    j.field("backend", "cpu");
    j.field("created_utc", utc_now());
    j.field("engram_version", engram_version());
    j.begin_object("machine");
    j.field("cpu", caps.cpu_name);
    j.field("cpu_threads", caps.cpu_threads);
    j.field("isa", isa_name(caps.cpu_isa));
    j.null("gpu");
    j.end_object();
    j.begin_object("limits");
    j.field("bandwidth_gbs", limits_.bandwidth_gbs);
    j.field("bandwidth_probe", limits_.bandwidth_probe);
    j.field("gemm_gflops", limits_.gemm_gflops);
    j.field("gemm_probe", limits_.gemm_probe);
    j.end_object();
    j.field("threads", s_.threads);
    j.field("peer_threads", s_.peer_threads >= 0 ? s_.peer_threads : s_.threads);
    j.field("reps", s_.reps);
    j.field("warmup", s_.warmup);
    j.field("note", s_.note);
    j.field("peer", peer_status_);
    if (error.empty()) j.null("error"); else j.field("error", error);
    j.begin_array("cases");
    // Fail closed: a run whose results are wrong reports why, and no cases.
    if (error_.empty())
        for (const FamilyCase& c : cases_) {
            const double med = c.timing.median();
            j.begin_object();
            j.field("op", c.op);
            j.field("impl", c.impl);
            j.field("variant", c.variant);
            j.field("backend", "cpu");
            j.begin_object("shape");
            for (const auto& [name, value] : c.shape) j.field(name.c_str(), value);
            j.end_object();
            j.field("dtype", c.dtype);
            j.field("reps", int64_t(c.reps > 0 ? c.reps : int(c.timing.ms.size())));
            j.field("median_ms", med);
            j.field("min_ms", c.timing.min());
            j.field("max_ms", c.timing.max());
            if (c.flops > 0) {
                j.field("flops", c.flops);
                j.field("gflops", med > 0 ? c.flops / (med * 1e-3) / 1e9 : 0.0);
                if (limits_.gemm_gflops > 0)
                    j.field("frac_of_gemm_probe", c.flops / (med * 1e-3) / 1e9 / limits_.gemm_gflops);
            }
            if (c.bytes > 0) {
                if (c.bytes == std::floor(c.bytes) && c.bytes < 9.0e15) j.field("bytes_moved", int64_t(c.bytes));
                else j.field("bytes_moved", c.bytes);
                j.field("gbs", med > 0 ? c.bytes / (med * 1e-3) / 1e9 : 0.0);
                if (limits_.bandwidth_gbs > 0)
                    j.field("frac_of_bandwidth", c.bytes / (med * 1e-3) / 1e9 / limits_.bandwidth_gbs);
            }
            j.begin_object("metrics");
            // Counts (bytes, tokens) exactly: integral values as integers.
            for (const auto& [name, value] : c.metrics) {
                if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 9.0e15)
                    j.field(name.c_str(), int64_t(value));
                else
                    j.field(name.c_str(), value);
            }
            j.end_object();
            j.field("notes", c.notes);
            if (c.validation_shape.empty()) {
                j.null("validation");
            } else {
                j.begin_object("validation");
                j.begin_object("shape");
                for (const auto& [name, value] : c.validation_shape) j.field(name.c_str(), value);
                j.end_object();
                j.field("worst_ratio", c.validation_worst_ratio);
                j.end_object();
            }
            j.end_object();
        }
    j.end_array();
    j.end_object();
    return j.str();
}

void FamilyRun::write(const std::string& error) const {
    const std::string tmp = s_.json_path + ".partial";
    {
        FILE* f = std::fopen(tmp.c_str(), "w");
        if (!f) return;
        const std::string text = json(error) + "\n";
        std::fwrite(text.data(), 1, text.size(), f);
        std::fclose(f);
    }
    std::rename(tmp.c_str(), s_.json_path.c_str());
}

int FamilyRun::finish() {
    if (!s_.json_path.empty()) {
        write(error_);
        FILE* f = std::fopen(s_.json_path.c_str(), "r");
        if (!f) {
            std::fprintf(stderr, "engram-bench: cannot write %s\n", s_.json_path.c_str());
            return 1;
        }
        std::fclose(f);
        std::printf("wrote %s\n", s_.json_path.c_str());
    }
    return error_.empty() ? 0 : 1;
}

Timing time_family(const FamilySettings& s, const std::function<void()>& fn) {
    return time_reps(s.warmup, s.reps, fn);
}

void fill_uniform(std::vector<float>& x, uint64_t seed) {
    uint64_t state = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (float& e : x) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        e = float(int32_t(state >> 32)) * (1.0f / 2147483648.0f);
    }
}

std::string peers_dir() {
    if (const char* env = std::getenv("ENGRAM_PEERS")) return env;
#if defined(ENGRAM_PEERS_DIR)
    return ENGRAM_PEERS_DIR;
#else
    return "perf/peers";
#endif
}

void print_family_case(const FamilyCase& c) {
    std::string extra;
    char buf[96];
    const double med = c.timing.median();
    if (c.flops > 0 && med > 0) {
        std::snprintf(buf, sizeof buf, "  %.1f GFLOP/s", c.flops / (med * 1e-3) / 1e9);
        extra += buf;
    }
    if (c.bytes > 0 && med > 0) {
        std::snprintf(buf, sizeof buf, "  %.1f GB/s", c.bytes / (med * 1e-3) / 1e9);
        extra += buf;
    }
    std::printf("%-22s %-7s %-24s %-5s %-40s %10.3f ms%s\n", c.op.c_str(), c.impl.c_str(),
                c.variant.c_str(), c.dtype.c_str(), dims_text(c.shape).c_str(), med, extra.c_str());
    std::fflush(stdout);
}

}  // namespace engram_bench
