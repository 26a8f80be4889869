// concurrency_test.cpp — what context_test.cpp leaves out of "a context may be
// shared by threads; calls on one context are serialised; different contexts
// run concurrently" (engram.h): every CCE entry point at once on one shared
// context; thread counts set and read by several threads while ops run;
// memory stats, peak resets and op stats read while ops run; contexts created
// and destroyed beside running ops; per-thread last errors under load. Results
// are checked against the reference. Built with ThreadSanitizer by
// `./build.sh test` (build-tsan), which runs these and context_test only.
#include <atomic>
#include <thread>

#include "../ops/cce/cce_harness.hpp"

namespace engram_test {
namespace {

// A small problem with everything precomputed, so threads only call engram.
struct Job {
    CceData data;
    ExpectedForward xf;
    ExpectedGrads xg;  // grad_loss NULL, F32 gradients
    std::vector<float> lse;
};

Job make_job(int k) {
    CceSpec s;
    s.n = 13 + k;
    s.d = 8 + k;
    s.v = 40 + 5 * k;
    s.bias = k % 2 == 0;
    s.ignore_frac = 0.25;
    s.smoothing = k % 2 == 1 ? 0.1f : 0.0f;
    s.reduction = k % 3;
    s.seed = uint64_t(700 + k);
    Job j;
    j.data = make_cce_data(s);
    j.xf = expect_forward(j.data);
    j.xg = expect_grads(j.data, j.xf, ENGRAM_BACKEND_CPU, ENGRAM_DTYPE_F32, {}, 0.0);
    j.lse.assign(j.xf.lse.begin(), j.xf.lse.end());
    return j;
}

// Runs `fn(k)` on `count` threads at once and joins them.
template <class F>
void on_threads(int count, F fn) {
    std::vector<std::thread> threads;
    for (int k = 0; k < count; ++k) threads.emplace_back(fn, k);
    for (auto& t : threads) t.join();
}

// One round of entry point `which` on `ctx`, checked. Shards: the vocabulary
// split in two, shard_forward on each, then combine.
void run_checked(Context& ctx, const Job& j, int which) {
    const CceData& d = j.data;
    const engram_cce_options o = d.options();
    switch (which % 4) {
        case 0: {
            const CceResult r = run_forward(ctx, d, o);
            ASSERT_RUN_OK(r);
            check_forward(r, j.xf);
            break;
        }
        case 1: {
            const CceResult r = run_backward(ctx, d, o, which % 8 < 4 ? &j.lse : nullptr, nullptr);
            ASSERT_RUN_OK(r);
            check_grads(r, j.xg, d);
            break;
        }
        case 2: {
            const CceResult r = run_forward_backward(ctx, d, o, nullptr);
            ASSERT_RUN_OK(r);
            check_forward(r, j.xf);
            check_grads(r, j.xg, d);
            break;
        }
        default: {
            const int64_t v = d.spec.v, half = v / 2;
            const CceResult a = run_shard_forward(ctx, d, o, 0, half);
            const CceResult b = run_shard_forward(ctx, d, o, half, v);
            ASSERT_RUN_OK(a);
            ASSERT_RUN_OK(b);
            std::vector<float> lse = a.shard_lse, tl(a.target_logit), ls(a.logit_sum);
            lse.insert(lse.end(), b.shard_lse.begin(), b.shard_lse.end());
            for (size_t i = 0; i < tl.size(); ++i) {
                tl[i] += b.target_logit[i];
                ls[i] += b.logit_sum[i];
            }
            const CceResult c = run_shard_combine(ctx, d, o, 2, lse, tl, &ls);
            ASSERT_RUN_OK(c);
            auto twice = [](std::vector<double> x) {
                for (double& e : x) e *= 2.0;
                return x;
            };
            EXPECT_TRUE(all_within("combined loss", c.loss, j.xf.loss, twice(j.xf.loss_bound)));
            EXPECT_TRUE(all_within("combined lse", c.lse, j.xf.lse, twice(j.xf.lse_bound)));
        }
    }
}

class ConcurrencyTest : public BackendTest {};

TEST_P(ConcurrencyTest, EveryEntryPointAtOnceOnOneContext) {
    std::vector<Job> jobs;
    for (int k = 0; k < 4; ++k) jobs.push_back(make_job(k));
    on_threads(4, [&](int k) {
        for (int r = 0; r < 3; ++r) run_checked(ctx(), jobs[size_t(k)], k + 4 * r);
    });
}

TEST_P(ConcurrencyTest, SeparateContextsWithTheirOwnThreadCounts) {
    std::vector<Job> jobs;
    for (int k = 0; k < 3; ++k) jobs.push_back(make_job(k));
    on_threads(3, [&](int k) {
        Context own(backend());
        ASSERT_TRUE(own.ok()) << own.error();
        if (backend() == ENGRAM_BACKEND_CPU) {
            ASSERT_OK(engram_context_set_threads(own.get(), 1 + k));
            int32_t t = 0;
            ASSERT_OK(engram_context_get_threads(own.get(), &t));
            EXPECT_EQ(1 + k, t);
        }
        for (int r = 0; r < 4; ++r) run_checked(own, jobs[size_t(k)], r);
    });
}

TEST_P(ConcurrencyTest, ThreadCountsSetAndReadWhileSeveralThreadsRunOps) {
    if (backend() != ENGRAM_BACKEND_CPU) GTEST_SKIP() << "threads apply to CPU contexts only";
    std::vector<Job> jobs;
    for (int k = 0; k < 2; ++k) jobs.push_back(make_job(k));
    const int32_t all = int32_t(std::max(1u, std::thread::hardware_concurrency()));
    std::atomic<int> ops_done{0};
    std::atomic<bool> stop{false};
    std::thread setter([&] {
        for (int k = 0; !stop.load(); ++k) EXPECT_OK(engram_context_set_threads(ctx().get(), k % 4));
    });
    std::thread getter([&] {
        while (!stop.load()) {
            int32_t t = 0;
            EXPECT_OK(engram_context_get_threads(ctx().get(), &t));
            EXPECT_TRUE(t == 1 || t == 2 || t == 3 || t == all) << t;
        }
    });
    on_threads(2, [&](int k) {
        for (int r = 0; r < 4; ++r) {
            run_checked(ctx(), jobs[size_t(k)], k + 2 * r);
            ops_done.fetch_add(1);
        }
    });
    stop.store(true);
    setter.join();
    getter.join();
    EXPECT_EQ(8, ops_done.load());
}

TEST_P(ConcurrencyTest, StatsQueriesAndPeakResetsWhileOpsRun) {
    std::vector<Job> jobs;
    for (int k = 0; k < 2; ++k) jobs.push_back(make_job(k));
    std::atomic<bool> stop{false};
    std::thread reader([&] {
        for (int k = 0; !stop.load(); ++k) {
            engram_memory_stats m;
            engram_memory_stats_init(&m);
            EXPECT_OK(engram_context_get_memory_stats(ctx().get(), &m));
            if (k % 4 == 0) EXPECT_OK(engram_context_reset_peak_memory(ctx().get()));
            engram_op_stats st;
            engram_op_stats_init(&st);
            EXPECT_OK(engram_context_get_op_stats(ctx().get(), &st));
            EXPECT_LE(op_counter(st, "blocks_skipped"), op_counter(st, "blocks_total"));
            EXPECT_TRUE(op_counter(st, "tokens_valid") == 0 || op_counter(st, "tokens_valid") == uint64_t(jobs[0].data.valid()) ||
                        op_counter(st, "tokens_valid") == uint64_t(jobs[1].data.valid()))
                << op_counter(st, "tokens_valid");
        }
    });
    on_threads(2, [&](int k) {
        for (int r = 0; r < 4; ++r) run_checked(ctx(), jobs[size_t(k)], k + 2 * r);
    });
    stop.store(true);
    reader.join();
    // Every op's scratch is released by the time it returns.
    engram_memory_stats m;
    engram_memory_stats_init(&m);
    ASSERT_OK(engram_context_get_memory_stats(ctx().get(), &m));
    if (backend() == ENGRAM_BACKEND_CPU) {
        EXPECT_EQ(0u, m.current_bytes);
    }
    EXPECT_LE(m.current_bytes, m.peak_bytes);
}

TEST_P(ConcurrencyTest, ContextsCreatedAndDestroyedBesideRunningOps) {
    const Job job = make_job(1);
    std::atomic<bool> stop{false};
    std::thread churn([&] {
        while (!stop.load()) {
            engram_context* c = nullptr;
            EXPECT_OK(engram_context_create(ENGRAM_BACKEND_CPU, 0, &c));
            EXPECT_OK(engram_context_set_threads(c, 2));
            EXPECT_OK(engram_context_destroy(c));
        }
    });
    for (int r = 0; r < 6; ++r) run_checked(ctx(), job, r);
    stop.store(true);
    churn.join();
}

TEST_P(ConcurrencyTest, LastErrorStaysPerThreadUnderLoad) {
    const Job job = make_job(0);
    on_threads(3, [&](int k) {
        CceBackendInputs in = upload_inputs(ctx(), job.data);
        Buffer loss = ctx().output(size_t(job.data.spec.n) * 4);
        const engram_cce_options o = job.data.options();
        for (int r = 0; r < 20; ++r) {
            // A failure that names this thread's own value, then a success.
            engram_cce_inputs bad = in.in;
            bad.n = -(100 * (k + 1) + r);
            const std::string mine = "got " + std::to_string(bad.n);  // outlives the check
            EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                          engram_cce_forward(ctx().get(), &bad, &o, loss.as<float>(), nullptr),
                          mine.c_str());
            EXPECT_OK(engram_cce_forward(ctx().get(), &in.in, &o, loss.as<float>(), nullptr));
            EXPECT_STREQ("", engram_last_error());
        }
    });
}

ENGRAM_INSTANTIATE_BACKENDS(ConcurrencyTest);

}  // namespace
}  // namespace engram_test
