// context_test.cpp — contexts under concurrency: "a context may be shared by
// threads; calls on one context are serialised; different contexts run
// concurrently" (engram.h). Several threads call CCE on one context, or on
// their own contexts, and every result must still match the reference; thread
// counts change while ops run; the last-error message is per thread. The
// sanitizer build turns any data race that frees memory into a failure.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <thread>

#include "../ops/cce/cce_harness.hpp"

namespace engram_test {
namespace {

struct Job {
    CceData data;
    ExpectedForward xf;
    ExpectedGrads xg;
};

std::vector<Job> make_jobs(int count) {
    std::vector<Job> jobs;
    for (int k = 0; k < count; ++k) {
        CceSpec s;
        s.n = 17 + k;
        s.d = 9 + k;
        s.v = 61 + 7 * k;
        s.bias = k % 2 == 1;
        s.ignore_frac = 0.2;
        s.smoothing = k % 3 == 2 ? 0.1f : 0.0f;
        s.seed = uint64_t(100 + k);
        Job j;
        j.data = make_cce_data(s);
        j.xf = expect_forward(j.data);
        j.xg = expect_grads(j.data, j.xf, ENGRAM_BACKEND_CPU, ENGRAM_DTYPE_F32, {}, 0.0);
        jobs.push_back(std::move(j));
    }
    return jobs;
}

class ContextTest : public BackendTest {};

TEST_P(ContextTest, ThreadsSharingOneContextGetCorrectResults) {
    const std::vector<Job> jobs = make_jobs(4);
    constexpr int kRounds = 3;
    std::vector<std::vector<CceResult>> results(jobs.size());
    std::vector<std::thread> threads;
    for (size_t k = 0; k < jobs.size(); ++k)
        threads.emplace_back([&, k] {
            for (int r = 0; r < kRounds; ++r)
                results[k].push_back(run_forward_backward(ctx(), jobs[k].data, jobs[k].data.options(), nullptr));
        });
    for (auto& t : threads) t.join();
    for (size_t k = 0; k < jobs.size(); ++k) {
        SCOPED_TRACE("thread " + std::to_string(k));
        ASSERT_EQ(size_t(kRounds), results[k].size());
        for (const CceResult& r : results[k]) {
            ASSERT_RUN_OK(r);
            check_forward(r, jobs[k].xf);
            check_grads(r, jobs[k].xg, jobs[k].data);
        }
    }
}

TEST_P(ContextTest, ThreadsWithTheirOwnContextsGetCorrectResults) {
    const std::vector<Job> jobs = make_jobs(3);
    std::vector<CceResult> results(jobs.size());
    std::vector<std::thread> threads;
    for (size_t k = 0; k < jobs.size(); ++k)
        threads.emplace_back([&, k] {
            Context own(backend());
            if (!own.ok()) return;
            results[k] = run_forward_backward(own, jobs[k].data, jobs[k].data.options(), nullptr);
        });
    for (auto& t : threads) t.join();
    for (size_t k = 0; k < jobs.size(); ++k) {
        SCOPED_TRACE("thread " + std::to_string(k));
        ASSERT_RUN_OK(results[k]);
        check_forward(results[k], jobs[k].xf);
        check_grads(results[k], jobs[k].xg, jobs[k].data);
    }
}

TEST_P(ContextTest, ThreadCountChangesWhileOpsRun) {
    if (backend() != ENGRAM_BACKEND_CPU) GTEST_SKIP() << "threads apply to CPU contexts only";
    const std::vector<Job> jobs = make_jobs(1);
    std::atomic<bool> stop{false};
    std::atomic<int> changes{0};
    std::thread changer([&] {
        int k = 0;
        while (!stop.load()) {
            EXPECT_OK(engram_context_set_threads(ctx().get(), (k++ % 3)));  // 0 (default), 1, 2
            int32_t t = 0;
            EXPECT_OK(engram_context_get_threads(ctx().get(), &t));
            EXPECT_GE(t, 1);
            changes.fetch_add(1);
        }
    });
    std::vector<CceResult> results;
    for (int r = 0; r < 8 || changes.load() < 4; ++r) {
        results.push_back(run_forward_backward(ctx(), jobs[0].data, jobs[0].data.options(), nullptr));
        if (r > 200) break;
    }
    stop.store(true);
    changer.join();
    for (const CceResult& r : results) {
        ASSERT_RUN_OK(r);
        check_forward(r, jobs[0].xf);
        check_grads(r, jobs[0].xg, jobs[0].data);
    }
}

TEST_P(ContextTest, ThreadCountQueriesRaceWithChanges) {
    // engram_context_get_threads while another thread replaces the worker pool.
    if (backend() != ENGRAM_BACKEND_CPU) GTEST_SKIP() << "threads apply to CPU contexts only";
    std::atomic<bool> stop{false};
    std::atomic<int> bad{0};
    std::vector<std::thread> readers;
    for (int r = 0; r < 1; ++r)
        readers.emplace_back([&] {
            while (!stop.load()) {
                int32_t t = 0;
                if (engram_context_get_threads(ctx().get(), &t) != ENGRAM_OK || !(t == 1 || t == 2))
                    if (bad.fetch_add(1) == 0) ADD_FAILURE() << "engram_context_get_threads gave " << t;
            }
        });
    for (int k = 0; k < 6000; ++k) ASSERT_OK(engram_context_set_threads(ctx().get(), 1 + k % 2));
    stop.store(true);
    for (auto& t : readers) t.join();
    EXPECT_EQ(0, bad.load()) << "wrong thread counts read while the pool was replaced";
}

TEST_P(ContextTest, StatsQueriesRaceWithOps) {
    const std::vector<Job> jobs = make_jobs(1);
    std::atomic<bool> stop{false};
    std::thread reader([&] {
        while (!stop.load()) {
            engram_memory_stats m;
            engram_memory_stats_init(&m);
            EXPECT_OK(engram_context_get_memory_stats(ctx().get(), &m));
            EXPECT_LE(m.current_bytes, m.peak_bytes);
            engram_op_stats st;
            engram_op_stats_init(&st);
            EXPECT_OK(engram_context_get_op_stats(ctx().get(), &st));
            EXPECT_LE(op_counter(st, "blocks_skipped"), op_counter(st, "blocks_total"));
        }
    });
    for (int r = 0; r < 10; ++r) {
        const CceResult res = run_forward_backward(ctx(), jobs[0].data, jobs[0].data.options(), nullptr);
        EXPECT_TRUE(res.ok()) << res.error;
    }
    stop.store(true);
    reader.join();
}

TEST(ContextErrors, LastErrorIsPerThread) {
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_get_capabilities(nullptr), "caps");
    const std::string mine = engram_last_error();
    std::string theirs_before, theirs_after;
    std::thread other([&] {
        theirs_before = engram_last_error();
        int32_t t;
        (void)engram_context_get_threads(nullptr, &t);
        theirs_after = engram_last_error();
    });
    other.join();
    EXPECT_EQ("", theirs_before) << "another thread's error leaked into a fresh thread";
    EXPECT_NE(std::string::npos, theirs_after.find("ctx")) << theirs_after;
    EXPECT_EQ(mine, engram_last_error()) << "another thread's call changed this thread's error";
}

TEST(ContextLifetime, ManyContextsCreatedAndDestroyed) {
    for (int k = 0; k < 50; ++k) {
        engram_context* ctx = nullptr;
        ASSERT_OK(engram_context_create(ENGRAM_BACKEND_CPU, 0, &ctx));
        if (k % 2) ASSERT_OK(engram_context_set_threads(ctx, 1 + k % 3));
        ASSERT_OK(engram_context_destroy(ctx));
    }
}

TEST(ContextLifetime, ContextsConcurrentlyCreatedAndDestroyed) {
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int k = 0; k < 20; ++k) {
                engram_context* ctx = nullptr;
                if (engram_context_create(ENGRAM_BACKEND_CPU, 0, &ctx) != ENGRAM_OK) ++failures;
                if (engram_context_destroy(ctx) != ENGRAM_OK) ++failures;
            }
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(0, failures.load());
}

// --- threads that cannot start -----------------------------------------------------

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ENGRAM_TEST_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define ENGRAM_TEST_UNDER_SANITIZER 1
#endif
#endif

// Bytes of address space this process maps now (/proc/self/statm, in pages).
uint64_t mapped_bytes() {
    unsigned long long pages = 0;
    FILE* f = std::fopen("/proc/self/statm", "r");
    if (f) {
        if (std::fscanf(f, "%llu", &pages) != 1) pages = 0;
        std::fclose(f);
    }
    return uint64_t(pages) * uint64_t(sysconf(_SC_PAGESIZE));
}

// Runs `body` in a child process whose address space is capped `headroom`
// bytes above what it maps now, so thread stacks (8 MiB each) run out; the
// child's exit code is body's result. The cap never touches this process.
int in_limited_child(uint64_t headroom, int (*body)()) {
    const pid_t pid = fork();
    if (pid == 0) {
        const rlim_t cap = rlim_t(mapped_bytes() + headroom);
        const rlimit lim{cap, cap};
        if (setrlimit(RLIMIT_AS, &lim) != 0) _exit(90);
        _exit(body());
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) return 100 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

// Exit codes say which expectation failed (0 = all held).
int set_threads_past_the_limit() {
    engram_context* ctx = nullptr;
    if (engram_context_create(ENGRAM_BACKEND_CPU, 0, &ctx) != ENGRAM_OK) return 1;
    if (engram_context_set_threads(ctx, 3) != ENGRAM_OK) return 2;
    // 4096 threads need 32 GiB of stacks: far past the cap.
    if (engram_context_set_threads(ctx, 4096) != ENGRAM_ERR_OUT_OF_MEMORY) return 3;
    if (std::string(engram_last_error()).find("thread") == std::string::npos) return 4;
    int32_t threads = 0;
    if (engram_context_get_threads(ctx, &threads) != ENGRAM_OK || threads != 3) return 5;
    // The previous pool still runs ops.
    const float e[2] = {1.0f, 2.0f}, c[4] = {1.0f, 0.0f, 0.0f, 1.0f};
    const int64_t t[1] = {1};
    engram_cce_inputs in;
    engram_cce_inputs_init(&in);
    in.n = 1;
    in.d = 2;
    in.v = 2;
    in.e = e;
    in.c = c;
    in.targets = t;
    float loss = 0.0f;
    if (engram_cce_forward(ctx, &in, nullptr, &loss, nullptr) != ENGRAM_OK) return 6;
    if (!(std::fabs(loss - float(std::log1p(std::exp(-1.0)))) < 1e-6f)) return 7;
    if (engram_context_destroy(ctx) != ENGRAM_OK) return 8;
    return 0;
}

TEST(ContextThreads, SetThreadsPastAnAddressSpaceLimitFailsCleanly) {
#if defined(ENGRAM_TEST_UNDER_SANITIZER)
    GTEST_SKIP() << "sanitizers reserve terabytes of address space: no RLIMIT_AS here";
#endif
    // Before the fix this hung in the pool's constructor (or aborted).
    EXPECT_EQ(0, in_limited_child(uint64_t(512) << 20, set_threads_past_the_limit));
}

int create_past_the_limit() {
    engram_context* ctx = nullptr;
    const engram_status st = engram_context_create(ENGRAM_BACKEND_CPU, 0, &ctx);
    if (st != ENGRAM_ERR_OUT_OF_MEMORY) return 1;
    if (ctx != nullptr) return 2;
    if (std::string(engram_last_error()).find("thread") == std::string::npos) return 3;
    return 0;
}

TEST(ContextThreads, CreateWithoutRoomForItsThreadsFailsCleanly) {
#if defined(ENGRAM_TEST_UNDER_SANITIZER)
    GTEST_SKIP() << "sanitizers reserve terabytes of address space: no RLIMIT_AS here";
#endif
    if (capabilities().cpu_threads < 2) GTEST_SKIP() << "one CPU: a context starts no thread";
    // 1 MiB of headroom cannot hold one 8 MiB thread stack.
    EXPECT_EQ(0, in_limited_child(uint64_t(1) << 20, create_past_the_limit));
}

ENGRAM_INSTANTIATE_BACKENDS(ContextTest);

}  // namespace
}  // namespace engram_test
