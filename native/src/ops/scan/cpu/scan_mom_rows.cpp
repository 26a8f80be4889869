// scan_mom_rows.cpp — MoM row movement on the CPU: gather token rows into the
// packed per-memory order, combine the packed memory outputs back per token
// with the routing weights, and the backward of both. Every output row is
// written by one worker with sums in a fixed order (j = 0 .. k-1, then the
// shared row): bit-identical for any thread count, no atomics.
#include <cstring>

#include "ops/scan/cpu/scan_mom_cpu.hpp"
#include "ops/scan/cpu/scan_mom_topk.hpp"
#include "ops/scan/cpu/scan_rows.hpp"

namespace engram::cpu {

namespace {

// Two fp32 rows of D per worker: the accumulator and a loaded row.
struct RowScratch {
    HostScratch mem;
    uint64_t per;
    RowScratch(engram_context& ctx, int64_t width, int64_t units)
        : per((uint64_t(2 * width) * 4 + 63) & ~uint64_t(63)) {
        mem = HostScratch(ctx, per * uint64_t(unit_workers(ctx, units)));
    }
    float* acc(int w) const { return mem.at<float>(per * uint64_t(w)); }
    float* row(int w, int64_t width) const { return acc(w) + width; }
};

}  // namespace

void mom_gather(engram_context& ctx, const MomRows& rows, const void* x,
                const int32_t* gather_index, void* packed) {
    const size_t row_bytes = size_t(rows.width) * engram_dtype_size(rows.dtype);
    for_each_unit(ctx, rows.packed(), [&](int64_t p, int) {
        char* dst = elem_at(packed, p * rows.width, rows.dtype);
        const int32_t src = gather_index[p];
        if (src < 0)
            std::memset(dst, 0, row_bytes);
        else
            std::memcpy(dst, elem_at(x, int64_t(src) * rows.width, rows.dtype), row_bytes);
    });
}

void mom_gather_backward(engram_context& ctx, const MomRows& rows, const void* d_packed,
                         const int32_t* slots, void* d_x) {
    const int64_t d = rows.width, k = rows.top_k;
    RowScratch s(ctx, d, rows.tokens);
    for_each_unit(ctx, rows.tokens, [&](int64_t n, int w) {
        float* acc = s.acc(w);
        float* row = s.row(w, d);
        std::memset(acc, 0, size_t(d) * 4);
        for (int64_t j = 0; j < k; ++j) {
            const int32_t slot = slots[n * k + j];
            if (slot < 0) continue;
            load_row(d_packed, rows.dtype, int64_t(slot) * d, d, row);
            for (int64_t c = 0; c < d; ++c) acc[c] += row[c];
        }
        store_row(acc, d, rows.dtype, d_x, n * d);
    });
}

void mom_combine(engram_context& ctx, const MomRows& rows, const void* mem_out,
                 const int32_t* slots, const float* weights, const void* shared_out, void* y) {
    const int64_t d = rows.width, k = rows.top_k;
    RowScratch s(ctx, d, rows.tokens);
    for_each_unit(ctx, rows.tokens, [&](int64_t n, int w) {
        float* acc = s.acc(w);
        float* row = s.row(w, d);
        std::memset(acc, 0, size_t(d) * 4);
        for (int64_t j = 0; j < k; ++j) {
            const int32_t slot = slots[n * k + j];
            if (slot < 0) continue;  // dropped: adds nothing, whatever its weight
            const float wt = weights[n * k + j];
            load_row(mem_out, rows.dtype, int64_t(slot) * d, d, row);
            for (int64_t c = 0; c < d; ++c) acc[c] += wt * row[c];
        }
        if (shared_out) {
            load_row(shared_out, rows.dtype, n * d, d, row);
            for (int64_t c = 0; c < d; ++c) acc[c] += row[c];
        }
        store_row(acc, d, rows.dtype, y, n * d);
    });
}

void mom_combine_backward(engram_context& ctx, const MomRows& rows, const void* dy,
                          const void* mem_out, const int32_t* slots, const float* weights,
                          void* d_mem_out, float* d_weights) {
    const int64_t d = rows.width, k = rows.top_k;
    if (d_mem_out)  // rows no slot names stay zero
        for_each_unit(ctx, rows.packed(), [&](int64_t p, int) {
            std::memset(elem_at(d_mem_out, p * d, rows.dtype), 0,
                        size_t(d) * engram_dtype_size(rows.dtype));
        });
    RowScratch s(ctx, d, rows.tokens);
    for_each_unit(ctx, rows.tokens, [&](int64_t n, int w) {
        float* g = s.acc(w);
        float* row = s.row(w, d);
        load_row(dy, rows.dtype, n * d, d, g);
        for (int64_t j = 0; j < k; ++j) {
            const int32_t slot = slots[n * k + j];
            if (d_weights) {
                float dot = 0.0f;
                if (slot >= 0) {
                    load_row(mem_out, rows.dtype, int64_t(slot) * d, d, row);
                    for (int64_t c = 0; c < d; ++c) dot += g[c] * row[c];
                }
                d_weights[n * k + j] = dot;
            }
            if (d_mem_out && slot >= 0) {  // slots are distinct: one writer per row
                const float wt = weights[n * k + j];
                for (int64_t c = 0; c < d; ++c) row[c] = wt * g[c];
                store_row(row, d, rows.dtype, d_mem_out, int64_t(slot) * d);
            }
        }
    });
}

}  // namespace engram::cpu
