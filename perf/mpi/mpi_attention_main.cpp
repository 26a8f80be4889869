// mpi_attention_main.cpp — engram-mpi-attention: head-parallel decode
// attention over Open MPI (docs/head-parallel.md).
//
//   mpirun -np R engram-mpi-attention check [--layers L --kv-heads H --group G --d D
//                                            --dtype f32|f16|bf16 --prefill P --steps T
//                                            --sink S --window W --threads N]
//       Each rank holds an even range of KV heads (every third head streaming);
//       a chunked prefill then T decode steps (append one token, decode) per
//       layer; every output must equal one process's bit for bit, on every rank.
//   mpirun -np R engram-mpi-attention mismatch --what heads|head_dim|range|policy
//       Rank 1 disagrees on one thing; every rank must report it, none hang.
//   mpirun -np R engram-mpi-attention bench [--s S --kv-heads H --group G --d D --dtype
//                                            --streaming-half --reps N --threads N --json FILE]
//       Time per decode step (local decode + all-gather), per-rank cache
//       bytes and bytes sent per step: strong scaling over the ranks.
//
// Exit status: 0 ok, 1 a check failed, 2 usage.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "collectives.hpp"
#include "head_parallel.hpp"
#include "vocab_parallel.hpp"

using namespace engram_mpi;

namespace {

struct Args {
    std::string mode, what = "heads", json;
    int32_t layers = 2, kv_heads = 5, d = 40, sink = 4, window = 16;
    int64_t group = 3, prefill = 23, steps = 9, s = 4096;
    engram_dtype dtype = ENGRAM_DTYPE_F32;
    int reps = 5, threads = 1;
    bool streaming_half = false;
};

[[noreturn]] void usage(const std::string& msg) {
    std::fprintf(stderr, "engram-mpi-attention: %s (see the header of perf/mpi/mpi_attention_main.cpp)\n",
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
        if (k == "--layers") a.layers = std::atoi(val().c_str());
        else if (k == "--kv-heads") a.kv_heads = std::atoi(val().c_str());
        else if (k == "--group") a.group = std::atoll(val().c_str());
        else if (k == "--d") a.d = std::atoi(val().c_str());
        else if (k == "--prefill") a.prefill = std::atoll(val().c_str());
        else if (k == "--steps") a.steps = std::atoll(val().c_str());
        else if (k == "--s") a.s = std::atoll(val().c_str());
        else if (k == "--sink") a.sink = std::atoi(val().c_str());
        else if (k == "--window") a.window = std::atoi(val().c_str());
        else if (k == "--reps") a.reps = std::atoi(val().c_str());
        else if (k == "--threads") a.threads = std::atoi(val().c_str());
        else if (k == "--json") a.json = val();
        else if (k == "--what") a.what = val();
        else if (k == "--streaming-half") a.streaming_half = true;
        else if (k == "--dtype") {
            const std::string t = val();
            if (t == "f32") a.dtype = ENGRAM_DTYPE_F32;
            else if (t == "f16") a.dtype = ENGRAM_DTYPE_F16;
            else if (t == "bf16") a.dtype = ENGRAM_DTYPE_BF16;
            else usage("--dtype must be f32, f16 or bf16");
        } else usage("unknown option " + k);
    }
    if (a.layers <= 0 || a.kv_heads <= 0 || a.group <= 0 || a.d <= 0 || a.prefill <= 0 || a.steps < 0 ||
        a.s <= 0 || a.reps <= 0)
        usage("sizes must be positive");
    return a;
}

// Seeded values, the same on every rank: rank r keeps rows of its heads.
std::vector<float> random_rows(uint64_t seed, size_t count) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(count);
    for (auto& v : x) v = normal(gen);
    return x;
}

// Heads [first, first + count) of a head-major [heads, rows, D] array.
std::vector<float> head_slice(const std::vector<float>& all, int64_t rows_per_head, int64_t first, int64_t count) {
    return std::vector<float>(all.begin() + first * rows_per_head, all.begin() + (first + count) * rows_per_head);
}

engram_attention_cache_config config_of(const Args& a, int64_t capacity) {
    engram_attention_cache_config c;
    engram_attention_cache_config_init(&c);
    c.dtype = a.dtype;
    c.layers = a.layers;
    c.kv_heads = a.kv_heads;
    c.head_dim = a.d;
    c.sink_tokens = a.sink;
    c.window = a.window;
    c.capacity = capacity;
    return c;
}

HeadShard shard_of(const Args& a, int R, int r, int64_t capacity, const std::vector<int32_t>& policy) {
    HeadShard s;
    s.global = config_of(a, capacity);
    s.policy = policy;
    s.q_heads = int64_t(a.kv_heads) * a.group;
    s.kv_start = even_head_start(a.kv_heads, R, r);
    s.kv_count = even_head_start(a.kv_heads, R, r + 1) - s.kv_start;
    s.io_dtype = ENGRAM_DTYPE_F32;  // q, k, v, out in f32; the cache stores a.dtype
    return s;
}

// Every third KV head of every layer streams (the check), or the odd half (bench).
std::vector<int32_t> policy_of(const Args& a, bool every_third) {
    std::vector<int32_t> p(size_t(a.layers) * size_t(a.kv_heads), ENGRAM_ATTENTION_HEAD_RETRIEVAL);
    for (int32_t l = 0; l < a.layers; ++l)
        for (int32_t h = 0; h < a.kv_heads; ++h)
            if (every_third ? (h + l) % 3 == 1 : h % 2 == 1)
                p[size_t(l * a.kv_heads + h)] = ENGRAM_ATTENTION_HEAD_STREAMING;
    return p;
}

// One process: the whole cache in one context (the reference of the check).
struct SingleProcess {
    engram_context* ctx;
    engram_attention_cache* cache = nullptr;
    SingleProcess(engram_context* c, const engram_attention_cache_config& cfg) : ctx(c) {
        check(engram_attention_cache_create(ctx, &cfg, &cache), "engram_attention_cache_create");
    }
    ~SingleProcess() { engram_attention_cache_destroy(cache); }
};

bool same_bits(const std::vector<float>& x, const std::vector<float>& y) {
    return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

int all_ranks_ok(bool ok) {
    int mine = ok ? 1 : 0, all = 0;
    MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return all;
}

int run_check(const Args& a, Collectives& comm, engram_context* ctx) {
    const int r = comm.rank(), R = comm.size();
    const int64_t capacity = a.prefill + a.steps;
    const std::vector<int32_t> policy = policy_of(a, true);
    const HeadShard shard = shard_of(a, R, r, capacity, policy);
    HeadParallelDecode dist(ctx, comm, shard);
    engram_attention_cache_config full = shard.global;
    full.policy = policy.data();
    SingleProcess one(ctx, full);
    const int64_t D = a.d, Hq = shard.q_heads, G = a.group;
    const int64_t q0 = shard.kv_start * G, qn = shard.kv_count * G;
    bool ok = true;
    int64_t compared = 0;
    for (int32_t l = 0; l < a.layers && ok; ++l) {
        const uint64_t seed = 1000u * uint64_t(l + 1);
        // Chunked prefill: q [H_q, P, D], k and v [H_kv, P, D].
        const int64_t P = a.prefill;
        const auto q = random_rows(seed + 1, size_t(Hq * P * D));
        const auto k = random_rows(seed + 2, size_t(a.kv_heads * P * D));
        const auto v = random_rows(seed + 3, size_t(a.kv_heads * P * D));
        std::vector<float> got(size_t(Hq * P * D)), want(got.size());
        dist.prefill(l, P, head_slice(q, P * D, q0, qn).data(), head_slice(k, P * D, shard.kv_start, shard.kv_count).data(),
                     head_slice(v, P * D, shard.kv_start, shard.kv_count).data(), got.data(), nullptr);
        check(engram_attention_prefill(ctx, one.cache, l, Hq, P, ENGRAM_DTYPE_F32, q.data(), k.data(), v.data(),
                                       want.data(), nullptr),
              "engram_attention_prefill (one process)");
        if (!same_bits(got, want)) {
            std::fprintf(stderr, "rank %d: layer %d prefill differs from one process\n", r, l);
            ok = false;
        }
        compared += int64_t(got.size());
        for (int64_t t = 0; t < a.steps && ok; ++t) {
            const uint64_t s = seed + 10 * uint64_t(t + 1);
            const auto kt = random_rows(s + 4, size_t(a.kv_heads * D));
            const auto vt = random_rows(s + 5, size_t(a.kv_heads * D));
            const auto qt = random_rows(s + 6, size_t(Hq * D));
            dist.append(l, 1, head_slice(kt, D, shard.kv_start, shard.kv_count).data(),
                        head_slice(vt, D, shard.kv_start, shard.kv_count).data());
            check(engram_attention_cache_append(ctx, one.cache, l, 1, ENGRAM_DTYPE_F32, kt.data(), vt.data()),
                  "engram_attention_cache_append (one process)");
            std::vector<float> out(size_t(Hq * D)), ref(out.size());
            dist.decode(l, head_slice(qt, D, q0, qn).data(), out.data(), nullptr);
            check(engram_attention_decode(ctx, one.cache, l, Hq, ENGRAM_DTYPE_F32, qt.data(), ref.data(), nullptr),
                  "engram_attention_decode (one process)");
            if (!same_bits(out, ref)) {
                for (size_t i = 0; i < out.size(); ++i)
                    if (std::memcmp(&out[i], &ref[i], sizeof(float)) != 0) {
                        std::fprintf(stderr, "rank %d: layer %d step %lld out[%zu] = %.9g, one process %.9g\n", r,
                                     l, (long long)t, i, double(out[i]), double(ref[i]));
                        break;
                    }
                ok = false;
            }
            compared += int64_t(out.size());
        }
    }
    const int all = all_ranks_ok(ok);
    if (r == 0)
        std::printf("head-parallel attention on %d ranks (layers=%d H_kv=%d H_q=%lld D=%d %s storage, "
                    "prefill %lld + %lld decode steps, %lld outputs per rank): %s\n",
                    R, a.layers, a.kv_heads, (long long)Hq, a.d,
                    a.dtype == ENGRAM_DTYPE_F32 ? "f32" : a.dtype == ENGRAM_DTYPE_F16 ? "f16" : "bf16",
                    (long long)a.prefill, (long long)a.steps, (long long)compared,
                    all ? "bit-identical to one process" : "MISMATCH");
    return all ? 0 : 1;
}

// Rank 1 disagrees on one thing; every rank must see the same error.
int run_mismatch(const Args& a, Collectives& comm, engram_context* ctx) {
    const int r = comm.rank(), R = comm.size();
    HeadShard shard = shard_of(a, R, r, 64, policy_of(a, true));
    std::string expect;
    if (a.what == "heads") {
        if (r == 1) shard.global.kv_heads += 1;
        expect = "rank 1 has kv_heads = ";
    } else if (a.what == "head_dim") {
        if (r == 1) shard.global.head_dim += 8;
        expect = "rank 1 has head_dim = ";
    } else if (a.what == "range") {
        if (r == 1) shard.kv_start += 1, shard.kv_count -= 1;
        expect = "rank 1 holds KV heads";
    } else if (a.what == "policy") {
        if (r == 1) shard.policy[0] ^= 1;
        expect = "rank 1 has another head policy";
    } else {
        usage("--what must be heads, head_dim, range or policy");
    }
    std::string got;
    try {
        HeadParallelDecode unused(ctx, comm, shard);
    } catch (const std::exception& e) {
        got = e.what();
    }
    const bool ok = got.find(expect) != std::string::npos;
    if (!ok) std::fprintf(stderr, "rank %d: expected an error with \"%s\", got \"%s\"\n", r, expect.c_str(), got.c_str());
    else if (r == 0) std::printf("%s\n", got.c_str());
    return all_ranks_ok(ok) ? 0 : 1;
}

double now_ms() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int run_bench(const Args& a, Collectives& comm, engram_context* ctx) {
    const int r = comm.rank(), R = comm.size();
    const std::vector<int32_t> policy = a.streaming_half ? policy_of(a, false) : std::vector<int32_t>();
    const HeadShard shard = shard_of(a, R, r, a.s, policy);
    HeadParallelDecode dist(ctx, comm, shard);
    const int64_t D = a.d, kvn = shard.kv_count;
    // Fill layer 0 to S tokens in chunks of this rank's heads (values only
    // need to be finite: the decode reads every kept token the same way).
    const int64_t chunk = std::min<int64_t>(a.s, 2048);
    const auto kv = random_rows(7, size_t(kvn * chunk * D));
    for (int64_t done = 0; done < a.s; done += chunk) {
        const int64_t n = std::min(chunk, a.s - done);
        std::vector<float> k(size_t(kvn * n * D)), v(k.size());
        for (int64_t h = 0; h < kvn; ++h)
            for (int64_t i = 0; i < n * D; ++i) {
                k[size_t(h * n * D + i)] = kv[size_t(h * chunk * D + i)];
                v[size_t(h * n * D + i)] = 0.5f * kv[size_t(h * chunk * D + i)];
            }
        dist.append(0, n, k.data(), v.data());
    }
    const auto q = random_rows(11, size_t(dist.local_q_heads() * D));
    std::vector<float> out(size_t(shard.q_heads * D));
    dist.decode(0, q.data(), out.data(), nullptr);  // warm-up
    const uint64_t sent0 = dist.bytes_sent();
    std::vector<double> ms;
    for (int i = 0; i < a.reps; ++i) {
        MPI_Barrier(MPI_COMM_WORLD);
        const double t0 = now_ms();
        dist.decode(0, q.data(), out.data(), nullptr);
        MPI_Barrier(MPI_COMM_WORLD);
        ms.push_back(now_ms() - t0);
    }
    std::sort(ms.begin(), ms.end());
    const double sent = double(dist.bytes_sent() - sent0) / a.reps;
    std::vector<double> mine = {double(dist.cache_bytes()), sent, double(kvn)}, per_rank(size_t(R) * 3);
    MPI_Gather(mine.data(), 3, MPI_DOUBLE, per_rank.data(), 3, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (r == 0) {
        const double median = ms[ms.size() / 2];
        const char* dt = a.dtype == ENGRAM_DTYPE_F32 ? "f32" : a.dtype == ENGRAM_DTYPE_F16 ? "f16" : "bf16";
        std::printf("ranks %d threads/rank %d S=%lld H_kv=%d H_q=%lld D=%d %s%s: median %.3f ms/decode "
                    "(min %.3f, max %.3f)\n",
                    R, a.threads, (long long)a.s, a.kv_heads, (long long)shard.q_heads, a.d, dt,
                    a.streaming_half ? " half streaming" : "", median, ms.front(), ms.back());
        for (int k = 0; k < R; ++k)
            std::printf("  rank %d: %.0f KV heads, cache %.1f MiB, sent %.1f KiB/step\n", k, per_rank[size_t(3 * k + 2)],
                        per_rank[size_t(3 * k)] / 1048576.0, per_rank[size_t(3 * k + 1)] / 1024.0);
        if (!a.json.empty()) {
            std::ofstream f(a.json);
            f << "{\"schema\": \"engram-mpi-bench/1\", \"op\": \"attention_head_parallel_decode\", \"ranks\": " << R
              << ", \"threads_per_rank\": " << a.threads << ", \"shape\": {\"s\": " << a.s << ", \"kv_heads\": "
              << a.kv_heads << ", \"q_heads\": " << shard.q_heads << ", \"d\": " << a.d << "}, \"dtype\": \"" << dt
              << "\", \"streaming_half\": " << (a.streaming_half ? "true" : "false") << ", \"median_ms\": " << median
              << ", \"min_ms\": " << ms.front() << ", \"max_ms\": " << ms.back() << ", \"per_rank\": [";
            for (int k = 0; k < R; ++k)
                f << (k ? ", " : "") << "{\"kv_heads\": " << per_rank[size_t(3 * k + 2)]
                  << ", \"cache_bytes\": " << per_rank[size_t(3 * k)]
                  << ", \"bytes_sent_per_step\": " << per_rank[size_t(3 * k + 1)] << "}";
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
