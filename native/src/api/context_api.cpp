// context_api.cpp — context lifetime, threads, streams, memory and op stats.
#include <cstring>
#include <memory>

#include "cuda/cuda_backend.hpp"
#include "api/tensor_checks.hpp"

using namespace engram;

namespace {

std::unique_lock<std::mutex> lock(engram_context& ctx) {
    return std::unique_lock<std::mutex>(ctx.mutex);
}

void require_cuda_context(engram_context& ctx, const char* what) {
    if (ctx.backend != ENGRAM_BACKEND_CUDA)
        fail(ENGRAM_ERR_WRONG_BACKEND, format("%s needs a CUDA context; ctx is a CPU context", what));
}

}  // namespace

extern "C" {

ENGRAM_API engram_status engram_context_create(engram_backend backend, int32_t device,
                                               engram_context** out) {
    return guard(__func__, [&] {
        require_not_null(out, "out");
        *out = nullptr;
        auto ctx = std::make_unique<engram_context>();
        ctx->backend = backend;
        switch (backend) {
            case ENGRAM_BACKEND_CPU:
                ctx->pool = std::make_unique<ThreadPool>(ThreadPool::default_threads());
                break;
            case ENGRAM_BACKEND_CUDA:
                if (!cuda::built())
                    fail(ENGRAM_ERR_UNSUPPORTED,
                         "backend CUDA: this build of libengram has no CUDA backend");
                cuda::context_init(*ctx, device);
                ctx->device = device;
                break;
            default:
                fail(ENGRAM_ERR_INVALID_ARGUMENT,
                     format("backend %d is not an engram_backend", int(backend)));
        }
        *out = ctx.release();
    });
}

ENGRAM_API engram_status engram_context_destroy(engram_context* ctx) {
    return guard(__func__, [&] {
        if (!ctx) return;
        if (ctx->backend == ENGRAM_BACKEND_CUDA) cuda::context_release(*ctx);
        delete ctx;
    });
}

ENGRAM_API engram_status engram_context_get_backend(engram_context* ctx, engram_backend* out) {
    return guard(__func__, [&] {
        engram_context& c = require_context(ctx);
        require_not_null(out, "out");
        *out = c.backend;
    });
}

ENGRAM_API engram_status engram_context_set_threads(engram_context* ctx, int32_t threads) {
    return guard(__func__, [&] {
        engram_context& c = require_context(ctx);
        if (c.backend != ENGRAM_BACKEND_CPU)
            fail(ENGRAM_ERR_WRONG_BACKEND, "threads apply to CPU contexts; ctx is a CUDA context");
        if (threads < 0 || threads > 4096)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("threads must be in [0, 4096] (0 = all cores), got %d", threads));
        auto l = lock(c);
        const int n = threads == 0 ? ThreadPool::default_threads() : threads;
        if (n != c.pool->size()) c.pool = std::make_unique<ThreadPool>(n);
    });
}

ENGRAM_API engram_status engram_context_get_threads(engram_context* ctx, int32_t* threads) {
    return guard(__func__, [&] {
        engram_context& c = require_context(ctx);
        require_not_null(threads, "threads");
        auto l = lock(c);  // set_threads may be replacing the pool
        *threads = c.backend == ENGRAM_BACKEND_CPU ? c.pool->size() : 0;
    });
}

ENGRAM_API engram_status engram_context_set_stream(engram_context* ctx, void* stream) {
    return guard(__func__, [&] {
        engram_context& c = require_context(ctx);
        require_cuda_context(c, "engram_context_set_stream");
        auto l = lock(c);
        cuda::set_stream(c, stream);
    });
}

ENGRAM_API engram_status engram_context_get_stream(engram_context* ctx, void** stream) {
    return guard(__func__, [&] {
        engram_context& c = require_context(ctx);
        require_not_null(stream, "stream");
        require_cuda_context(c, "engram_context_get_stream");
        auto l = lock(c);  // set_stream may be replacing it
        *stream = cuda::get_stream(c);
    });
}

ENGRAM_API engram_status engram_memory_stats_init(engram_memory_stats* stats) {
    return guard(__func__, [&] {
        require_not_null(stats, "stats");
        std::memset(stats, 0, sizeof *stats);
        stats->struct_size = sizeof *stats;
    });
}

ENGRAM_API engram_status engram_context_get_memory_stats(engram_context* ctx,
                                                         engram_memory_stats* stats) {
    return guard(__func__, [&] {
        engram_context& c = require_context(ctx);
        require_not_null(stats, "stats");
        require_struct_size(stats->struct_size, sizeof *stats, "stats", "engram_memory_stats_init");
        stats->current_bytes = c.scratch.current();
        // An op on another thread may have raised current but not yet peak.
        const uint64_t peak = c.scratch.peak();
        stats->peak_bytes = peak > stats->current_bytes ? peak : stats->current_bytes;
        stats->allocations = c.scratch.allocations();
    });
}

ENGRAM_API engram_status engram_context_reset_peak_memory(engram_context* ctx) {
    return guard(__func__, [&] { require_context(ctx).scratch.reset_peak(); });
}

ENGRAM_API engram_status engram_op_stats_init(engram_op_stats* stats) {
    return guard(__func__, [&] {
        require_not_null(stats, "stats");
        std::memset(stats, 0, sizeof *stats);
        stats->struct_size = sizeof *stats;
    });
}

ENGRAM_API engram_status engram_context_get_op_stats(engram_context* ctx, engram_op_stats* stats) {
    return guard(__func__, [&] {
        engram_context& c = require_context(ctx);
        require_not_null(stats, "stats");
        require_struct_size(stats->struct_size, sizeof *stats, "stats", "engram_op_stats_init");
        auto l = lock(c);
        *stats = c.last_op;
        stats->struct_size = sizeof *stats;
    });
}

/* Device memory, copies, events: CUDA contexts only. */

ENGRAM_API engram_status engram_device_alloc(engram_context* ctx, uint64_t bytes, void** out) {
    return guard(__func__, [&] {
        engram_context& c = require_context(ctx);
        require_not_null(out, "out");
        *out = nullptr;
        require_cuda_context(c, "engram_device_alloc");
        if (bytes == 0) fail(ENGRAM_ERR_INVALID_ARGUMENT, "bytes must be positive, got 0");
        auto l = lock(c);
        *out = cuda::alloc(c, bytes);
    });
}

ENGRAM_API engram_status engram_device_free(engram_context* ctx, void* ptr) {
    return guard(__func__, [&] {
        engram_context& c = require_context(ctx);
        require_cuda_context(c, "engram_device_free");
        if (!ptr) return;
        auto l = lock(c);
        cuda::free(c, ptr);
    });
}

ENGRAM_API engram_status engram_copy_to_device(engram_context* ctx, void* dst, const void* src,
                                               uint64_t bytes) {
    return guard(__func__, [&] {
        engram_context& c = require_context(ctx);
        require_cuda_context(c, "engram_copy_to_device");
        require_not_null(dst, "dst");
        require_not_null(src, "src");
        if (bytes == 0) return;
        auto l = lock(c);
        cuda::check_device_buffer(c, dst, bytes, "dst");
        cuda::copy_to_device(c, dst, src, bytes);
    });
}

ENGRAM_API engram_status engram_copy_to_host(engram_context* ctx, void* dst, const void* src,
                                             uint64_t bytes) {
    return guard(__func__, [&] {
        engram_context& c = require_context(ctx);
        require_cuda_context(c, "engram_copy_to_host");
        require_not_null(dst, "dst");
        require_not_null(src, "src");
        if (bytes == 0) return;
        auto l = lock(c);
        cuda::check_device_buffer(c, src, bytes, "src");
        cuda::copy_to_host(c, dst, src, bytes);
    });
}

ENGRAM_API engram_status engram_device_memset(engram_context* ctx, void* dst, int32_t value,
                                              uint64_t bytes) {
    return guard(__func__, [&] {
        engram_context& c = require_context(ctx);
        require_cuda_context(c, "engram_device_memset");
        require_not_null(dst, "dst");
        if (value < 0 || value > 255)
            fail(ENGRAM_ERR_INVALID_ARGUMENT, format("value must be a byte (0..255), got %d", value));
        if (bytes == 0) return;
        auto l = lock(c);
        cuda::check_device_buffer(c, dst, bytes, "dst");
        cuda::memset(c, dst, value, bytes);
    });
}

ENGRAM_API engram_status engram_synchronize(engram_context* ctx) {
    return guard(__func__, [&] {
        engram_context& c = require_context(ctx);
        require_cuda_context(c, "engram_synchronize");
        auto l = lock(c);
        cuda::synchronize(c);
    });
}

ENGRAM_API engram_status engram_event_create(engram_context* ctx, engram_event** out) {
    return guard(__func__, [&] {
        engram_context& c = require_context(ctx);
        require_not_null(out, "out");
        *out = nullptr;
        require_cuda_context(c, "engram_event_create");
        auto l = lock(c);
        *out = reinterpret_cast<engram_event*>(cuda::event_create(c));
    });
}

ENGRAM_API engram_status engram_event_destroy(engram_event* event) {
    return guard(__func__, [&] {
        if (event) cuda::event_destroy(reinterpret_cast<cuda::Event*>(event));
    });
}

ENGRAM_API engram_status engram_event_record(engram_context* ctx, engram_event* event) {
    return guard(__func__, [&] {
        engram_context& c = require_context(ctx);
        require_not_null(event, "event");
        require_cuda_context(c, "engram_event_record");
        auto l = lock(c);
        cuda::event_record(c, reinterpret_cast<cuda::Event*>(event));
    });
}

ENGRAM_API engram_status engram_event_elapsed_ms(engram_event* start, engram_event* end,
                                                 float* ms) {
    return guard(__func__, [&] {
        require_not_null(start, "start");
        require_not_null(end, "end");
        require_not_null(ms, "ms");
        *ms = cuda::event_elapsed_ms(reinterpret_cast<cuda::Event*>(start),
                                     reinterpret_cast<cuda::Event*>(end));
    });
}

}  // extern "C"
