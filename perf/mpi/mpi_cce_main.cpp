// mpi_cce_main.cpp — engram-mpi-cce: vocabulary-parallel CCE over Open MPI.
//
//   mpirun -np R engram-mpi-cce check [--n N --d D --v V --smoothing S --reduction none|sum|mean
//                                      --softcap C --bias]
//       Each rank holds an even shard of a seeded random classifier; the
//       distributed loss, lse and gradients must equal one process's within
//       the tolerance below, and two distributed runs must agree bit for bit.
//   mpirun -np R engram-mpi-cce mismatch --what n|vocab_total|shard|options
//       Rank 1 disagrees on one thing; every rank must report it (and none
//       hang in a collective). Exit 0 when every rank reported it.
//   mpirun -np R engram-mpi-cce bench [--n --d --v --reps R --threads T --json FILE]
//       Time per forward+backward step, per-rank memory and bytes sent.
//
// Exit status: 0 ok, 1 a check failed, 2 usage.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "collectives.hpp"
#include "vocab_parallel.hpp"

using namespace engram_mpi;

namespace {

struct Args {
    std::string mode, what = "n", json;
    int64_t n = 96, d = 40, v = 1003;
    float smoothing = 0.0f, softcap = 0.0f;
    int reduction = ENGRAM_REDUCTION_MEAN, reps = 3, threads = 1;
    bool bias = false;
};

[[noreturn]] void usage(const std::string& msg) {
    std::fprintf(stderr, "engram-mpi-cce: %s (see the header of perf/mpi/mpi_cce_main.cpp)\n",
                 msg.c_str());
    MPI_Finalize();
    std::exit(2);
}

Args parse(int argc, char** argv) {
    if (argc < 2) usage("missing mode: check, mismatch or bench");
    Args a;
    a.mode = argv[1];
    for (int i = 2; i < argc; ++i) {
        const std::string k = argv[i];
        auto val = [&]() -> std::string {
            if (i + 1 >= argc) usage("missing value for " + k);
            return argv[++i];
        };
        if (k == "--n") a.n = std::atoll(val().c_str());
        else if (k == "--d") a.d = std::atoll(val().c_str());
        else if (k == "--v") a.v = std::atoll(val().c_str());
        else if (k == "--smoothing") a.smoothing = std::strtof(val().c_str(), nullptr);
        else if (k == "--softcap") a.softcap = std::strtof(val().c_str(), nullptr);
        else if (k == "--reps") a.reps = std::atoi(val().c_str());
        else if (k == "--threads") a.threads = std::atoi(val().c_str());
        else if (k == "--json") a.json = val();
        else if (k == "--what") a.what = val();
        else if (k == "--bias") a.bias = true;
        else if (k == "--reduction") {
            const std::string r = val();
            a.reduction = r == "none" ? ENGRAM_REDUCTION_NONE : r == "sum" ? ENGRAM_REDUCTION_SUM
                        : r == "mean" ? ENGRAM_REDUCTION_MEAN : -1;
            if (a.reduction < 0) usage("--reduction must be none, sum or mean");
        } else usage("unknown option " + k);
    }
    if (a.n <= 0 || a.d <= 0 || a.v <= 0) usage("--n, --d, --v must be positive");
    return a;
}

// The same seeded problem on every rank (each keeps what it needs).
struct Problem {
    int64_t n, d, v;
    std::vector<float> e, c, bias;
    std::vector<int64_t> targets;
};

Problem make_problem(const Args& a) {
    Problem p{a.n, a.d, a.v, {}, {}, {}, {}};
    std::mt19937_64 gen(1234);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    p.e.resize(size_t(a.n * a.d));
    p.c.resize(size_t(a.v * a.d));
    for (auto& x : p.e) x = normal(gen);
    for (auto& x : p.c) x = normal(gen) * 2.0f / std::sqrt(float(a.d));
    if (a.bias)
        for (int64_t j = 0; j < a.v; ++j) p.bias.push_back(0.5f * normal(gen));
    std::uniform_int_distribution<int64_t> id(0, a.v - 1);
    for (int64_t i = 0; i < a.n; ++i) p.targets.push_back(i % 7 == 3 ? -100 : id(gen));
    return p;
}

engram_cce_options options_of(const Args& a) {
    engram_cce_options o;
    engram_cce_options_init(&o);
    o.reduction = a.reduction;
    o.label_smoothing = a.smoothing;
    o.softcap = a.softcap;
    o.filter_eps = 0.0f;  // exact: compared with one process
    return o;
}

ShardCall shard_call(const Problem& p, const Args& a, int64_t start, int64_t rows) {
    ShardCall s;
    engram_cce_inputs_init(&s.in);
    s.in.n = p.n;
    s.in.d = p.d;
    s.in.v = rows;
    s.in.vocab_start = start;
    s.in.vocab_total = p.v;
    s.in.e = p.e.data();
    s.in.c = p.c.data() + start * p.d;
    s.in.bias = p.bias.empty() ? nullptr : p.bias.data() + start;
    s.in.targets = p.targets.data();
    s.opts = options_of(a);
    return s;
}

struct Result {
    std::vector<float> loss, lse, grad_e, grad_c, grad_bias;
};

int64_t loss_count(const Args& a, const Problem& p) {
    return a.reduction == ENGRAM_REDUCTION_NONE ? p.n : 1;
}

Result distributed(engram_context* ctx, Collectives& comm, const ShardCall& call, const Args& a,
                   const Problem& p) {
    Result r;
    r.loss.resize(size_t(loss_count(a, p)));
    r.lse.resize(size_t(p.n));
    r.grad_e.resize(size_t(p.n * p.d));
    r.grad_c.resize(size_t(call.in.v * p.d));
    r.grad_bias.resize(p.bias.empty() ? 0 : size_t(call.in.v));
    VocabParallelCce cce(ctx, comm, call);
    cce.forward(r.loss.data(), r.lse.data());
    engram_cce_grads g;
    engram_cce_grads_init(&g);
    g.grad_e = r.grad_e.data();
    g.grad_c = r.grad_c.data();
    g.grad_bias = r.grad_bias.empty() ? nullptr : r.grad_bias.data();
    cce.backward(r.lse.data(), nullptr, g);
    return r;
}

Result single_process(engram_context* ctx, const Problem& p, const Args& a) {
    Result r;
    engram_cce_inputs in;
    engram_cce_inputs_init(&in);
    in.n = p.n;
    in.d = p.d;
    in.v = p.v;
    in.e = p.e.data();
    in.c = p.c.data();
    in.bias = p.bias.empty() ? nullptr : p.bias.data();
    in.targets = p.targets.data();
    const engram_cce_options o = options_of(a);
    r.loss.resize(size_t(loss_count(a, p)));
    r.lse.resize(size_t(p.n));
    r.grad_e.resize(size_t(p.n * p.d));
    r.grad_c.resize(size_t(p.v * p.d));
    r.grad_bias.resize(p.bias.empty() ? 0 : size_t(p.v));
    check(engram_cce_forward(ctx, &in, &o, r.loss.data(), r.lse.data()), "engram_cce_forward");
    engram_cce_grads g;
    engram_cce_grads_init(&g);
    g.grad_e = r.grad_e.data();
    g.grad_c = r.grad_c.data();
    g.grad_bias = r.grad_bias.empty() ? nullptr : r.grad_bias.data();
    check(engram_cce_backward(ctx, &in, &o, r.lse.data(), nullptr, &g), "engram_cce_backward");
    return r;
}

// Tolerance: the distributed run merges the shards' log-sum-exps in another
// order than one process merges its vocabulary tiles, so lse may differ in
// its last bits and every gradient entry by that relative error times the
// entry's terms; 2e-5 of the array's largest magnitude covers it with margin
// (an error in a shard boundary or a missing shard is off by O(1)).
bool close(const char* what, const float* got, const float* want, size_t count, int rank) {
    double scale = 0.0;
    for (size_t i = 0; i < count; ++i) scale = std::max(scale, std::fabs(double(want[i])));
    const double tol = 2e-5 * scale + 1e-6;
    for (size_t i = 0; i < count; ++i)
        if (!(std::fabs(double(got[i]) - double(want[i])) <= tol)) {
            std::fprintf(stderr, "rank %d: %s[%zu] = %.9g, one process gives %.9g (tolerance %.3g)\n",
                         rank, what, i, double(got[i]), double(want[i]), tol);
            return false;
        }
    return true;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

int run_check(const Args& a, Collectives& comm, engram_context* ctx) {
    const Problem p = make_problem(a);
    const int r = comm.rank(), R = comm.size();
    const int64_t start = even_shard_start(p.v, R, r), rows = even_shard_start(p.v, R, r + 1) - start;
    const ShardCall call = shard_call(p, a, start, rows);
    const Result d1 = distributed(ctx, comm, call, a, p);
    const Result d2 = distributed(ctx, comm, call, a, p);
    const Result one = single_process(ctx, p, a);
    bool ok = same_bits(d1.loss, d2.loss) && same_bits(d1.lse, d2.lse) &&
              same_bits(d1.grad_e, d2.grad_e) && same_bits(d1.grad_c, d2.grad_c) &&
              same_bits(d1.grad_bias, d2.grad_bias);
    if (!ok) std::fprintf(stderr, "rank %d: two distributed runs differ in their bits\n", r);
    ok = close("loss", d1.loss.data(), one.loss.data(), one.loss.size(), r) && ok;
    ok = close("lse", d1.lse.data(), one.lse.data(), one.lse.size(), r) && ok;
    ok = close("grad_e", d1.grad_e.data(), one.grad_e.data(), one.grad_e.size(), r) && ok;
    ok = close("grad_c", d1.grad_c.data(), one.grad_c.data() + start * p.d, d1.grad_c.size(), r) && ok;
    if (!p.bias.empty())
        ok = close("grad_bias", d1.grad_bias.data(), one.grad_bias.data() + start, d1.grad_bias.size(), r) && ok;
    int mine = ok ? 1 : 0, all = 0;
    MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (r == 0)
        std::printf("vocabulary-parallel CCE on %d ranks (n=%lld d=%lld v=%lld): %s\n", R,
                    (long long)p.n, (long long)p.d, (long long)p.v,
                    all ? "equal to one process, bit-identical run to run" : "MISMATCH");
    return all ? 0 : 1;
}

// Rank 1 disagrees on one thing; every rank must see the same error.
int run_mismatch(const Args& a, Collectives& comm, engram_context* ctx) {
    const Problem p = make_problem(a);
    const int r = comm.rank(), R = comm.size();
    int64_t start = even_shard_start(p.v, R, r), rows = even_shard_start(p.v, R, r + 1) - start;
    ShardCall call = shard_call(p, a, start, rows);
    std::string expect;
    if (r == 1) {
        if (a.what == "n") call.in.n = p.n - 1;
        else if (a.what == "vocab_total") call.in.vocab_total = p.v + 5;
        else if (a.what == "shard") call.in.vocab_start += 1, call.in.v -= 1;
        else if (a.what == "options") call.opts.z_loss = 0.5f;
        else usage("--what must be n, vocab_total, shard or options");
    }
    if (a.what == "n") expect = "rank 1 has n = ";
    if (a.what == "vocab_total") expect = "rank 1 has vocab_total = ";
    if (a.what == "shard") expect = "rank 1 holds vocabulary rows";
    if (a.what == "options") expect = "rank 1 has other CCE options";
    std::string got;
    try {
        Result unused = distributed(ctx, comm, call, a, p);
        (void)unused;
    } catch (const std::exception& e) {
        got = e.what();
    }
    const bool ok = got.find(expect) != std::string::npos;
    if (!ok) std::fprintf(stderr, "rank %d: expected an error with \"%s\", got \"%s\"\n", r, expect.c_str(), got.c_str());
    else if (r == 0) std::printf("%s\n", got.c_str());
    int mine = ok ? 1 : 0, all = 0;
    MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return all ? 0 : 1;
}

double now_ms() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int run_bench(const Args& a, Collectives& comm, engram_context* ctx) {
    const Problem p = make_problem(a);
    const int r = comm.rank(), R = comm.size();
    const int64_t start = even_shard_start(p.v, R, r), rows = even_shard_start(p.v, R, r + 1) - start;
    const ShardCall call = shard_call(p, a, start, rows);
    Result warm = distributed(ctx, comm, call, a, p);  // warm-up
    (void)warm;
    check(engram_context_reset_peak_memory(ctx), "reset peak");
    const uint64_t sent0 = comm.bytes_sent();
    std::vector<double> ms;
    for (int i = 0; i < a.reps; ++i) {
        MPI_Barrier(MPI_COMM_WORLD);
        const double t0 = now_ms();
        Result res = distributed(ctx, comm, call, a, p);
        (void)res;
        MPI_Barrier(MPI_COMM_WORLD);
        ms.push_back(now_ms() - t0);
    }
    engram_memory_stats m;
    engram_memory_stats_init(&m);
    check(engram_context_get_memory_stats(ctx, &m), "memory stats");
    // Per rank: its classifier shard and grad_c shard (f32), the replicated
    // e and grad_e, engram's peak scratch, and the collectives' buffers.
    const double shard_bytes = double(rows) * double(p.d) * 4.0;
    const double sent_per_step = double(comm.bytes_sent() - sent0) / a.reps;
    std::sort(ms.begin(), ms.end());
    std::vector<double> per_rank(size_t(R) * 3), mine = {double(m.peak_bytes), shard_bytes, sent_per_step};
    MPI_Gather(mine.data(), 3, MPI_DOUBLE, per_rank.data(), 3, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (r == 0) {
        const double median = ms[ms.size() / 2];
        std::printf("ranks %d threads/rank %d n=%lld d=%lld v=%lld: median %.1f ms/step (min %.1f, max %.1f)\n",
                    R, a.threads, (long long)p.n, (long long)p.d, (long long)p.v, median, ms.front(),
                    ms.back());
        for (int k = 0; k < R; ++k)
            std::printf("  rank %d: scratch peak %.2f MiB, classifier shard %.2f MiB, sent %.2f MiB/step\n", k,
                        per_rank[size_t(3 * k)] / 1048576.0, per_rank[size_t(3 * k + 1)] / 1048576.0,
                        per_rank[size_t(3 * k + 2)] / 1048576.0);
        if (!a.json.empty()) {
            std::ofstream f(a.json);
            f << "{\"schema\": \"engram-mpi-bench/1\", \"op\": \"cce_vocab_parallel\", \"ranks\": " << R
              << ", \"threads_per_rank\": " << a.threads << ", \"shape\": {\"n\": " << p.n << ", \"d\": " << p.d
              << ", \"v\": " << p.v << "}, \"median_ms\": " << median << ", \"min_ms\": " << ms.front()
              << ", \"max_ms\": " << ms.back() << ", \"per_rank\": [";
            for (int k = 0; k < R; ++k)
                f << (k ? ", " : "") << "{\"scratch_peak_bytes\": " << per_rank[size_t(3 * k)]
                  << ", \"classifier_shard_bytes\": " << per_rank[size_t(3 * k + 1)]
                  << ", \"bytes_sent_per_step\": " << per_rank[size_t(3 * k + 2)] << "}";
            f << "]}\n";
        }
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    MPI_Init(&argc, &argv);
    const Args a = parse(argc, argv);
    auto comm = mpi_collectives();
    engram_context* ctx = nullptr;
    int status = 1;
    try {
        check(engram_context_create(ENGRAM_BACKEND_CPU, 0, &ctx), "engram_context_create");
        check(engram_context_set_threads(ctx, a.threads), "engram_context_set_threads");
        if (a.mode == "check") status = run_check(a, *comm, ctx);
        else if (a.mode == "mismatch") status = run_mismatch(a, *comm, ctx);
        else if (a.mode == "bench") status = run_bench(a, *comm, ctx);
        else usage("unknown mode " + a.mode);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "rank %d: %s\n", comm->rank(), e.what());
        status = 1;
    }
    engram_context_destroy(ctx);
    MPI_Finalize();
    return status;
}
