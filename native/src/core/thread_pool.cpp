// thread_pool.cpp — see thread_pool.hpp.
#include "thread_pool.hpp"

#include <algorithm>
#include <atomic>

namespace engram {

int ThreadPool::default_threads() {
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : int(n);
}

ThreadPool::ThreadPool(int threads) {
    threads = std::max(1, threads);
    workers_.reserve(size_t(threads - 1));
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
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
