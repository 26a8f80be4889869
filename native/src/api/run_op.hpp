// run_op.hpp — the frame of every op entry point: errors become a status and
// a message (guard), calls on one context are serialised, and the context's op
// stats restart with the op's id and backend before the body runs. On a CUDA
// context the body runs inside an NVTX range named after the op.
#pragma once

#include <mutex>

#include "core/context.hpp"
#include "core/error.hpp"
#include "core/nvtx.hpp"
#include "core/op_stats.hpp"
#include "api/tensor_checks.hpp"

namespace engram {

template <class F>
engram_status run_op(const char* fn, engram_op op, engram_context* ctx, F&& body) {
    return guard(fn, [&] {
        engram_context& c = require_context(ctx);
        std::lock_guard<std::mutex> lock(c.mutex);
        // A named range on the CUDA timeline (core/nvtx.hpp; empty without NVTX).
        NvtxRange range(nvtx_op_name(fn), c.backend == ENGRAM_BACKEND_CUDA);
        op_stats_begin(c.last_op, op, c.backend);
        body(c);
    });
}

}  // namespace engram
