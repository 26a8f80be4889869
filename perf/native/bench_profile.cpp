// bench_profile.cpp — see bench_profile.hpp.
#include "bench_profile.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "bench_problem.hpp"
#include "bench_util.hpp"
#include "engram.h"
#include "suite_memory.hpp"

namespace engram_bench {

namespace {

using engram_suite::SuiteBuffer;

// The phase an op name or a family name with --phase stands for.
bool resolve_phase(const ProfileSettings& ps, std::string& phase) {
    static const struct {
        const char* op;
        const char* phase;
    } kOps[] = {{"cce_forward", "forward"}, {"cce_backward", "backward"},
                {"cce_forward_backward", "forward_backward"}};
    if (ps.op == "cce") {
        phase = ps.phase.empty() ? "forward" : ps.phase;
    } else {
        phase.clear();
        for (const auto& o : kOps)
            if (ps.op == o.op) phase = o.phase;
        if (phase.empty()) {
            std::fprintf(stderr,
                         "engram-bench: profile: unknown op '%s' (profile knows cce, cce_forward, "
                         "cce_backward, cce_forward_backward)\n",
                         ps.op.c_str());
            return false;
        }
        if (!ps.phase.empty() && ps.phase != phase) {
            std::fprintf(stderr, "engram-bench: profile: --phase %s contradicts op %s (its phase is %s)\n",
                         ps.phase.c_str(), ps.op.c_str(), phase.c_str());
            return false;
        }
    }
    if (phase != "forward" && phase != "backward" && phase != "forward_backward") {
        std::fprintf(stderr, "engram-bench: profile: --phase must be forward, backward or forward_backward, got %s\n",
                     phase.c_str());
        return false;
    }
    return true;
}

void check(engram_status st, const char* what) {
    if (st != ENGRAM_OK) throw std::runtime_error(std::string(what) + ": " + engram_last_error());
}

engram_dtype dtype_of(const std::string& s) {
    if (s == "f16") return ENGRAM_DTYPE_F16;
    if (s == "bf16") return ENGRAM_DTYPE_BF16;
    return ENGRAM_DTYPE_F32;
}

}  // namespace

int run_profile(const ProfileSettings& ps) {
    std::string phase;
    if (!resolve_phase(ps, phase)) return 2;
    if (ps.iters < 1) {
        std::fprintf(stderr, "engram-bench: profile: --iters must be at least 1\n");
        return 2;
    }
    engram_context* ctx = nullptr;
    const engram_backend backend = ps.backend == "cuda" ? ENGRAM_BACKEND_CUDA : ENGRAM_BACKEND_CPU;
    if (engram_context_create(backend, 0, &ctx) != ENGRAM_OK) {
        std::fprintf(stderr, "engram-bench: profile: no %s context: %s\n", ps.backend.c_str(), engram_last_error());
        return 2;
    }
    int status = 0;
    try {
        if (backend == ENGRAM_BACKEND_CPU) check(engram_context_set_threads(ctx, ps.threads), "threads");
        // Outside the measured region: inputs generated on the host and copied
        // to the backend once; outputs allocated once.
        const Problem p = make_peaked_problem(ps.n, ps.v, ps.d, dtype_of(ps.dtype), ps.seed);
        const size_t es = p.elem_bytes(), n = size_t(p.n), d = size_t(p.d), v = size_t(p.v);
        SuiteBuffer e = engram_suite::upload(ctx, p.e_data(), n * d * es);
        SuiteBuffer c = engram_suite::upload(ctx, p.c_data(), v * d * es);
        SuiteBuffer t = engram_suite::upload(ctx, p.targets);
        SuiteBuffer loss(ctx, sizeof(float)), lse(ctx, n * sizeof(float));
        SuiteBuffer ge(ctx, n * d * sizeof(float)), gc(ctx, v * d * sizeof(float));
        engram_cce_inputs in;
        engram_cce_inputs_init(&in);
        in.dtype = p.dtype;
        in.target_dtype = ENGRAM_DTYPE_I64;
        in.n = p.n;
        in.v = p.v;
        in.d = p.d;
        in.e = e.get();
        in.c = c.get();
        in.targets = t.get();
        engram_cce_options opts;
        engram_cce_options_init(&opts);
        opts.reduction = ENGRAM_REDUCTION_MEAN;
        opts.filter_eps = ps.filter_eps;
        engram_cce_grads grads;
        engram_cce_grads_init(&grads);
        grads.dtype = ENGRAM_DTYPE_F32;
        grads.grad_e = ge.f32();
        grads.grad_c = gc.f32();
        auto call = [&] {
            if (phase == "forward")
                check(engram_cce_forward(ctx, &in, &opts, loss.f32(), lse.f32()), "cce_forward");
            else if (phase == "backward")
                check(engram_cce_backward(ctx, &in, &opts, lse.f32(), nullptr, &grads), "cce_backward");
            else
                check(engram_cce_forward_backward(ctx, &in, &opts, nullptr, loss.f32(), lse.f32(), &grads),
                      "cce_forward_backward");
        };
        // The backward needs the forward's lse: computed once, here, outside the loop.
        if (phase == "backward") check(engram_cce_forward(ctx, &in, &opts, loss.f32(), lse.f32()), "cce_forward");
        // CPU calls return when done; CUDA calls are queued on the context's stream.
        auto sync = [&] {
            if (backend == ENGRAM_BACKEND_CUDA) check(engram_synchronize(ctx), "synchronize");
        };
        for (int i = 0; i < ps.warmup; ++i) call();
        sync();
        std::printf("profiling cce %s on %s, n=%lld v=%lld d=%lld %s, %d iterations (after %d warm-up)\n",
                    phase.c_str(), ps.backend.c_str(), (long long)p.n, (long long)p.v, (long long)p.d,
                    ps.dtype.c_str(), ps.iters, ps.warmup);
        std::fflush(stdout);
        // The measured region: nothing but the op.
        const double t0 = now_ms();
        for (int i = 0; i < ps.iters; ++i) call();
        sync();
        const double total = now_ms() - t0;
        std::printf("%d iterations in %.2f ms: %.3f ms per call\n", ps.iters, total, total / ps.iters);
    } catch (const std::exception& ex) {
        std::fprintf(stderr, "engram-bench: profile: %s\n", ex.what());
        status = 1;
    }
    engram_context_destroy(ctx);
    return status;
}

const char kProfileHelp[] =
    "profile options (engram-bench profile OP; OP = cce, cce_forward, cce_backward,\n"
    "cce_forward_backward):\n"
    "  --phase forward|backward|forward_backward   with OP = cce (default forward)\n"
    "  --iters N                calls in the measured loop (default 20)\n"
    "  --warmup W               calls before it (default 1)\n"
    "  --backend cpu|cuda, --shape n=N,v=V,d=D (or --n/--v/--d), --dtype f32|f16|bf16,\n"
    "  --threads T, --filter-eps X, --seed S    as for bench\n"
    "  Inputs are made and uploaded once before the loop, no reference is computed, and\n"
    "  the backward's lse comes from one forward before the loop (docs/profiling.md).\n";

namespace {

[[noreturn]] void profile_usage(const std::string& msg) {
    std::fprintf(stderr, "engram-bench: profile: %s\n%s", msg.c_str(), kProfileHelp);
    std::exit(2);
}

int64_t positive_int(const std::string& option, const std::string& v) {
    char* end = nullptr;
    const long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || !end || *end || x <= 0) profile_usage("bad value for " + option + ": " + v);
    return x;
}

}  // namespace

int profile_command(int argc, char** argv, int first) {
    if (first >= argc || argv[first][0] == '-') profile_usage("profile needs an op");
    ProfileSettings ps;
    ps.op = argv[first];
    for (int i = first + 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) profile_usage("missing value for " + a);
            return argv[++i];
        };
        if (a == "--phase") ps.phase = value();
        else if (a == "--iters") ps.iters = int(positive_int(a, value()));
        else if (a == "--warmup") {
            const std::string w = value();
            ps.warmup = w == "0" ? 0 : int(positive_int(a, w));
        }
        else if (a == "--backend") ps.backend = value();
        else if (a == "--dtype") ps.dtype = value();
        else if (a == "--threads") ps.threads = std::atoi(value().c_str());
        else if (a == "--seed") ps.seed = uint64_t(positive_int(a, value()));
        else if (a == "--n") ps.n = positive_int(a, value());
        else if (a == "--v") ps.v = positive_int(a, value());
        else if (a == "--d") ps.d = positive_int(a, value());
        else if (a == "--filter-eps") {
            ps.filter_eps = std::strtof(value().c_str(), nullptr);
            if (!(ps.filter_eps >= 0) || !std::isfinite(ps.filter_eps)) profile_usage("--filter-eps must be >= 0");
        } else if (a == "--shape") {
            std::stringstream ss(value());
            for (std::string item; std::getline(ss, item, ',');) {
                const size_t eq = item.find('=');
                if (eq == std::string::npos) profile_usage("--shape wants name=value items, got " + item);
                const std::string name = item.substr(0, eq);
                const int64_t x = positive_int("--shape " + name, item.substr(eq + 1));
                if (name == "n") ps.n = x;
                else if (name == "v") ps.v = x;
                else if (name == "d") ps.d = x;
                else profile_usage("cce has no dimension '" + name + "' (its dims: n v d)");
            }
        } else {
            profile_usage("unknown option " + a);
        }
    }
    if (ps.backend != "cpu" && ps.backend != "cuda") profile_usage("--backend must be cpu or cuda");
    if (ps.dtype != "f32" && ps.dtype != "f16" && ps.dtype != "bf16") profile_usage("--dtype must be f32, f16 or bf16");
    return run_profile(ps);
}

}  // namespace engram_bench
