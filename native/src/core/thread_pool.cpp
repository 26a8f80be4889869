// thread_pool.cpp — see thread_pool.hpp.
#include "core/thread_pool.hpp"

#include <algorithm>
#include <atomic>

#if defined(__linux__)
#include <sched.h>
#endif

#include "core/error.hpp"

namespace engram {

// The CPUs this process may run on (its affinity mask, which containers and
// taskset narrow), not every CPU of the host.
int ThreadPool::default_threads() {
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        const int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
#endif
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : int(n);
}

ThreadPool::ThreadPool(int threads) {
    threads = std::max(1, threads);
    try {
        workers_.reserve(size_t(threads - 1));
        for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
    } catch (const std::exception& e) {
        // A thread could not start (address-space, pids or memory limit). The
        // workers already running use this object: stop and join them before
        // the members they wait on are destroyed, then report the failure.
        const int started = int(workers_.size());
        stop_and_join();
        fail(ENGRAM_ERR_OUT_OF_MEMORY,
             format("could not start worker thread %d of %d (%s); lower the thread count",
                    started + 2, threads, e.what()));
    }
}

ThreadPool::~ThreadPool() { stop_and_join(); }

void ThreadPool::stop_and_join() noexcept {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_)
        if (t.joinable()) t.join();
}

void ThreadPool::worker_loop(int index) {
    uint64_t seen = 0;
    for (;;) {
        const std::function<void(int, int)>* job;
        int job_workers;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
            if (stop_) return;
            seen = generation_;
            job = job_;
            job_workers = job_workers_;
        }
        if (index < job_workers) {
            try {
                (*job)(index, job_workers);
            } catch (...) {
                std::lock_guard<std::mutex> lock(mutex_);
                if (!error_) error_ = std::current_exception();
            }
        }
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (--pending_ == 0) done_.notify_one();
        }
    }
}

void ThreadPool::run(int workers, const std::function<void(int, int)>& fn) {
    workers = std::max(1, std::min(workers, size()));
    if (workers == 1 || workers_.empty()) {
        fn(0, 1);
        return;
    }
    {
        std::lock_guard<std::mutex> lock(mutex_);
        job_ = &fn;
        job_workers_ = workers;
        pending_ = int(workers_.size());
        error_ = nullptr;
        ++generation_;
    }
    wake_.notify_all();
    std::exception_ptr caller_error;
    try {
        fn(0, workers);
    } catch (...) {
        caller_error = std::current_exception();
    }
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return pending_ == 0; });
    job_ = nullptr;
    if (caller_error) std::rethrow_exception(caller_error);
    if (error_) std::rethrow_exception(error_);
}

void ThreadPool::parallel_for(int64_t count, int64_t chunk,
                              const std::function<void(int64_t, int64_t, int)>& fn) {
    if (count <= 0) return;
    chunk = std::max<int64_t>(1, chunk);
    const int64_t chunks = (count + chunk - 1) / chunk;
    std::atomic<int64_t> next{0};
    run(int(std::min<int64_t>(chunks, size())), [&](int worker, int) {
        for (;;) {
            const int64_t i = next.fetch_add(1, std::memory_order_relaxed);
            if (i >= chunks) break;
            const int64_t begin = i * chunk;
            fn(begin, std::min(count, begin + chunk), worker);
        }
    });
}

}  // namespace engram
