// thread_pool.hpp — a small persistent worker pool for the CPU backend.
// Why not OpenMP: a library must not impose its runtime on the host process
// (.NET, Python, another OpenMP), and ops need a per-context thread count.
// run() hands every worker (the caller is worker 0) the same function and
// returns when all are done; exceptions from workers are rethrown in the caller.
// A pool that cannot start all its threads throws engram::Error
// (ENGRAM_ERR_OUT_OF_MEMORY) after stopping the ones it started.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace engram {

class ThreadPool {
public:
    explicit ThreadPool(int threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return int(workers_.size()) + 1; }

    // Calls fn(worker, workers) once on each of `workers` threads (capped at
    // size()) and waits for all of them.
    void run(int workers, const std::function<void(int, int)>& fn);

    // Splits [0, count) into chunks handed out dynamically; fn(begin, end, worker).
    void parallel_for(int64_t count, int64_t chunk,
                      const std::function<void(int64_t, int64_t, int)>& fn);

    static int default_threads();

private:
    void worker_loop(int index);
    void stop_and_join() noexcept;

    std::vector<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable done_;
    const std::function<void(int, int)>* job_ = nullptr;
    int job_workers_ = 0;
    uint64_t generation_ = 0;
    int pending_ = 0;
    bool stop_ = false;
    std::exception_ptr error_;
};

}  // namespace engram
