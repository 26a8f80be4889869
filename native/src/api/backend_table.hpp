// backend_table.hpp — how an op family dispatches: it defines a table of
// function pointers (one struct per family), one instance per backend, and
// each entry point picks the table of its context's backend here.
#pragma once

#include "core/context.hpp"
#include "core/error.hpp"

namespace engram {

// The table for ctx's backend; `cuda` is nullptr when this build has no CUDA
// implementation of the family.
template <class Table>
const Table& backend_table(const engram_context& ctx, const Table& cpu, const Table* cuda,
                           const char* family) {
    if (ctx.backend != ENGRAM_BACKEND_CUDA) return cpu;
    if (!cuda)
        fail(ENGRAM_ERR_UNSUPPORTED,
             format("%s on cuda: this build of libengram has no CUDA backend for it", family));
    return *cuda;
}

}  // namespace engram
