// scan_rows.hpp — what the scan family's CPU ops share: where one (sequence,
// head)'s rows lie in the caller's tensors, row loads with dtype conversion,
// and the static split of work units among the workers.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/context.hpp"
#include "cpu/convert.hpp"
#include "cpu/simd_scalar.hpp"
#include "ops/scan/scan_problem.hpp"

namespace engram::cpu {

// Conversions of a few rows per chunk are not where the time goes: the
// portable scalar path suffices.
using ScanConv = Convert<VecScalar>;

// Element offsets of one (sequence, value head) in the caller's tensors.
struct HeadView {
    const ScanProblem& p;
    int64_t b, h;

    int64_t qk_row(int64_t t) const {  // first element of q/k at token t
        return ((b * p.t + t) * p.qk_heads + h / p.group()) * p.k_dim;
    }
    int64_t v_row(int64_t t) const { return ((b * p.t + t) * p.heads + h) * p.v_dim; }
    int64_t g_row(int64_t t) const { return ((b * p.t + t) * p.heads + h) * p.gate_width(); }
    int64_t state() const { return (b * p.heads + h) * p.k_dim * p.v_dim; }
};

inline const char* elem_at(const void* base, int64_t elem, engram_dtype dt) {
    return static_cast<const char*>(base) + elem * int64_t(engram_dtype_size(dt));
}
inline char* elem_at(void* base, int64_t elem, engram_dtype dt) {
    return static_cast<char*>(base) + elem * int64_t(engram_dtype_size(dt));
}

// n elements of `src` (dtype dt) from element `elem`, as fp32.
inline void load_row(const void* src, engram_dtype dt, int64_t elem, int64_t n, float* dst) {
    ScanConv::to_f32(elem_at(src, elem, dt), dt, n, dst);
}
inline void store_row(const float* src, int64_t n, engram_dtype dt, void* dst, int64_t elem) {
    ScanConv::from_f32(src, n, dt, elem_at(dst, elem, dt));
}

// Runs fn(unit, worker) for every unit in [0, units), split into contiguous
// static ranges, one per worker: the same unit always runs the same code in
// the same order, whatever the thread count.
template <class F>
void for_each_unit(engram_context& ctx, int64_t units, F&& fn) {
    const int workers = int(std::min<int64_t>(ctx.pool->size(), units));
    ctx.pool->run(workers, [&](int w, int nw) {
        const int64_t begin = units * w / nw, end = units * (w + 1) / nw;
        for (int64_t u = begin; u < end; ++u) fn(u, w);
    });
}

inline int unit_workers(engram_context& ctx, int64_t units) {
    return int(std::min<int64_t>(ctx.pool->size(), units));
}

// Defined in scan_backward.cpp.
void scan_linear_backward(engram_context& ctx, const ScanProblem& p, const void* grad_o,
                          const float* grad_final_state, const ScanGrads& grads);

}  // namespace engram::cpu
