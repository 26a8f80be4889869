// bench_main.cpp — engram-bench: the native benchmark driver.
//
//   engram-bench cce [--backend cpu|cuda] [--n N --v V --d D] [--dtype f32|f16|bf16]
//                    [--reps R] [--warmup W] [--threads T] [--variants a,b,...]
//                    [--filter-eps X] [--samples S] [--no-naive] [--no-probes]
//                    [--json FILE] [--seed S]
//   engram-bench probe [--json FILE]
//
// Every run measures the machine's limits (memory bandwidth, BLAS GEMM at the
// benchmark's size) in the same process, then engram's CCE variants and the
// naive materialised method on the same inputs, and writes docs/bench-json.md.
// Exit status: 0 ok, 1 a case failed, 2 usage error.
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
#include "cases_cpu.hpp"
#include "engram.h"
#include "naive_cpu.hpp"

#if defined(ENGRAM_BENCH_CUDA)
#include "cases_cuda.hpp"
#endif

using namespace engram_bench;

namespace {

[[noreturn]] void usage(const char* msg) {
    std::fprintf(stderr,
                 "engram-bench: %s\n"
                 "usage: engram-bench cce [--backend cpu|cuda] [--n N] [--v V] [--d D]\n"
                 "                        [--dtype f32|f16|bf16] [--reps R] [--warmup W]\n"
                 "                        [--threads T] [--variants exact,fused,filtered,fused-filtered]\n"
                 "                        [--filter-eps X] [--samples S] [--no-naive] [--no-probes]\n"
                 "                        [--json FILE] [--seed S]\n"
                 "       engram-bench probe [--json FILE]\n",
                 msg);
    std::exit(2);
}

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) if (!item.empty()) out.push_back(item);
    return out;
}

Settings parse(int argc, char** argv, bool& probe_only) {
    if (argc < 2) usage("missing command");
    Settings s;
    const std::string cmd = argv[1];
    probe_only = cmd == "probe";
    if (cmd != "cce" && !probe_only) usage(("unknown command '" + cmd + "'").c_str());
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(("missing value for " + a).c_str());
            return argv[++i];
        };
        auto number = [&]() -> long long {
            const std::string v = value();
            char* end = nullptr;
            const long long x = std::strtoll(v.c_str(), &end, 10);
            if (!end || *end || x <= 0) usage(("bad value for " + a + ": " + v).c_str());
            return x;
        };
        if (a == "--backend") s.backend = value();
        else if (a == "--n") s.n = number();
        else if (a == "--v") s.v = number();
        else if (a == "--d") s.d = number();
        else if (a == "--dtype") s.dtype = value();
        else if (a == "--reps") s.reps = int(number());
        else if (a == "--warmup") { s.warmup = std::atoi(value().c_str()); }
        else if (a == "--threads") s.threads = std::atoi(value().c_str());
        else if (a == "--variants") s.variants = split(value());
        else if (a == "--filter-eps") s.filter_eps = std::strtof(value().c_str(), nullptr);
        else if (a == "--samples") s.samples = int(number());
        else if (a == "--no-naive") s.naive = false;
        else if (a == "--no-probes") s.probes = false;
        else if (a == "--json") s.json_path = value();
        else if (a == "--seed") s.seed = uint64_t(number());
        else if (a == "--quiet") s.quiet = true;
        else usage(("unknown option " + a).c_str());
    }
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

}  // namespace

int main(int argc, char** argv) {
    bool probe_only = false;
    Settings s = parse(argc, argv, probe_only);
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
    if (!probe_only) {
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
        try {
            if (s.backend == "cpu") run_cpu_cases(s, p, ref, cases);
#if defined(ENGRAM_BENCH_CUDA)
            else run_cuda_cases(s, p, ref, cases);
#endif
        } catch (const std::exception& e) {
            std::fprintf(stderr, "engram-bench: %s\n", e.what());
            status = 1;
        }
    }

    if (!s.json_path.empty()) {
        std::ofstream f(s.json_path);
        f << to_json(s, cases, limits, inputs, caps.cpu_name, caps.cpu_threads,
                     isa_name(caps.cpu_isa), gpu)
          << "\n";
        if (!f) {
            std::fprintf(stderr, "engram-bench: cannot write %s\n", s.json_path.c_str());
            return 1;
        }
        std::printf("wrote %s\n", s.json_path.c_str());
    }
    return status;
}
