// scan_mom_api.cpp — the Mixture-of-Memories entry points (engram_scan.h):
// validate every argument (shapes, dtypes, index tensors' values, overlaps),
// then dispatch to the context's MoM backend. Index tensors are read in full
// before anything is written, so a bad index leaves every output untouched.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "api/backend_table.hpp"
#include "api/run_op.hpp"
#include "api/tensor_checks.hpp"
#include "ops/scan/scan_mom_backend.hpp"

using namespace engram;

namespace {

const MomBackend& mom_backend(const engram_context& c) {
    return backend_table<MomBackend>(c, scan_mom_cpu_backend(), nullptr, "scan");
}

void require_top_k(int64_t top_k, int64_t memories, const char* k_name, const char* m_name) {
    require_dim(top_k, k_name);
    if (top_k > memories)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("%s = %lld exceeds %s = %lld (top-k of M memories needs k <= M)", k_name,
                    (long long)top_k, m_name, (long long)memories));
}

void require_memories(int64_t m, const char* name) {
    require_dim(m, name);
    if (m > ENGRAM_SCAN_MOM_MAX_MEMORIES)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("%s = %lld exceeds the supported maximum %d", name, (long long)m,
                    ENGRAM_SCAN_MOM_MAX_MEMORIES));
}

// Packed rows are counted in int32 (slots, offsets, gather_index).
void require_int32_count(int64_t a, int64_t b, int64_t c, const char* what) {
    const unsigned __int128 n = (unsigned __int128)uint64_t(a) * uint64_t(b) * uint64_t(c);
    if (n > INT32_MAX)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("%s = %llu exceeds 2147483647 (packed rows are counted in int32)", what,
                    (unsigned long long)n));
}

void check_tensor(engram_context& ctx, const void* p, uint64_t bytes, uint64_t align,
                  const char* name) {
    require_not_null(p, name);
    require_aligned(p, align, name);
    check_buffer(ctx, p, bytes, name);
}

MomRouting validate_routing(engram_context& ctx, const engram_scan_mom_routing* r,
                            uint64_t& logits_bytes) {
    require_not_null(r, "routing");
    require_struct_size(r->struct_size, sizeof *r, "routing", "engram_scan_mom_routing_init");
    require_float_dtype(r->dtype, "routing->dtype");
    require_dim(r->batch, "routing->batch");
    require_dim(r->t, "routing->t");
    require_memories(r->memories, "routing->memories");
    require_top_k(r->top_k, r->memories, "routing->top_k", "routing->memories");
    require_int32_count(r->batch, r->t, r->top_k, "routing B * T * top_k");
    if (!std::isfinite(r->capacity_factor) || r->capacity_factor < 0.0f)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("routing->capacity_factor = %g must be finite and >= 0 (0 = unlimited)",
                    double(r->capacity_factor)));
    MomRouting p;
    p.dtype = engram_dtype(r->dtype);
    p.batch = r->batch;
    p.t = r->t;
    p.memories = r->memories;
    p.top_k = r->top_k;
    if (r->capacity_factor > 0.0f) {
        // ceil(cf T k / M), at least 1, at most T (a segment never holds more).
        const double c = std::ceil(double(r->capacity_factor) * double(r->t) * double(r->top_k) /
                                   double(r->memories));
        p.capacity = int64_t(std::min(std::max(c, 1.0), double(r->t)));
    }
    logits_bytes = checked_bytes(p.tokens(), p.memories, engram_dtype_size(p.dtype),
                                 "routing->logits [B, T, M]");
    check_tensor(ctx, r->logits, logits_bytes, engram_dtype_size(p.dtype), "routing->logits");
    p.logits = r->logits;
    return p;
}

MomRows validate_rows(const engram_scan_mom_rows* rows) {
    require_not_null(rows, "rows");
    require_struct_size(rows->struct_size, sizeof *rows, "rows", "engram_scan_mom_rows_init");
    require_float_dtype(rows->dtype, "rows->dtype");
    require_dim(rows->tokens, "rows->tokens");
    require_dim(rows->top_k, "rows->top_k");
    require_dim(rows->width, "rows->width");
    require_int32_count(rows->tokens, rows->top_k, 1, "rows->tokens * rows->top_k");
    MomRows r;
    r.dtype = engram_dtype(rows->dtype);
    r.tokens = rows->tokens;
    r.top_k = rows->top_k;
    r.width = rows->width;
    return r;
}

// Every entry of an int32 index tensor in [lo, hi); with `distinct`, entries
// >= 0 must not repeat (a bitmap over [0, hi), counted as scratch).
void check_indices(engram_context& ctx, const int32_t* x, int64_t n, int64_t lo, int64_t hi,
                   bool distinct, const char* name) {
    std::vector<uint8_t> seen;
    ScratchAccount account(ctx, distinct ? uint64_t(hi) : 0);
    if (distinct) seen.assign(size_t(hi), 0);
    for (int64_t i = 0; i < n; ++i) {
        if (x[i] < lo || x[i] >= hi)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("%s[%lld] = %d is outside [%lld, %lld)", name, (long long)i, x[i],
                        (long long)lo, (long long)hi));
        if (distinct && x[i] >= 0) {
            if (seen[size_t(x[i])])
                fail(ENGRAM_ERR_INVALID_ARGUMENT,
                     format("%s[%lld] = %d repeats an earlier entry (slots must be distinct)",
                            name, (long long)i, x[i]));
            seen[size_t(x[i])] = 1;
        }
    }
}

uint64_t row_bytes(const MomRows& r, int64_t count, const char* what) {
    return checked_bytes(count, r.width, engram_dtype_size(r.dtype), what);
}

}  // namespace

extern "C" {

ENGRAM_API engram_status engram_scan_mom_routing_init(engram_scan_mom_routing* routing) {
    return guard(__func__, [&] {
        require_not_null(routing, "routing");
        std::memset(routing, 0, sizeof *routing);
        routing->struct_size = sizeof *routing;
        routing->dtype = ENGRAM_DTYPE_F32;
    });
}

ENGRAM_API engram_status engram_scan_mom_route_out_init(engram_scan_mom_route_out* out) {
    return guard(__func__, [&] {
        require_not_null(out, "out");
        std::memset(out, 0, sizeof *out);
        out->struct_size = sizeof *out;
    });
}

ENGRAM_API engram_status engram_scan_mom_rows_init(engram_scan_mom_rows* rows) {
    return guard(__func__, [&] {
        require_not_null(rows, "rows");
        std::memset(rows, 0, sizeof *rows);
        rows->struct_size = sizeof *rows;
        rows->dtype = ENGRAM_DTYPE_F32;
    });
}

ENGRAM_API engram_status engram_scan_mom_decode_inputs_init(engram_scan_mom_decode_inputs* in) {
    return guard(__func__, [&] {
        require_not_null(in, "in");
        std::memset(in, 0, sizeof *in);
        in->struct_size = sizeof *in;
        in->dtype = ENGRAM_DTYPE_F32;
        in->gate = ENGRAM_SCAN_GATE_NONE;
    });
}

ENGRAM_API engram_status engram_scan_mom_route(engram_context* ctx,
                                               const engram_scan_mom_routing* routing,
                                               const engram_scan_mom_route_out* out) {
    return run_op(__func__, ENGRAM_OP_SCAN_MOM_ROUTE, ctx, [&](engram_context& c) {
        uint64_t lb = 0;
        const MomRouting r = validate_routing(c, routing, lb);
        require_not_null(out, "out");
        require_struct_size(out->struct_size, sizeof *out, "out", "engram_scan_mom_route_out_init");
        const uint64_t nk = uint64_t(r.tokens() * r.top_k) * 4;
        const uint64_t ob = uint64_t(r.segments() + 1) * 4;
        check_tensor(c, out->indices, nk, 4, "out->indices");
        check_tensor(c, out->weights, nk, 4, "out->weights");
        check_tensor(c, out->slots, nk, 4, "out->slots");
        check_tensor(c, out->offsets, ob, 4, "out->offsets");
        check_tensor(c, out->gather_index, nk, 4, "out->gather_index");
        require_disjoint({{r.logits, lb, "routing->logits", false},
                          {out->indices, nk, "out->indices", true},
                          {out->weights, nk, "out->weights", true},
                          {out->slots, nk, "out->slots", true},
                          {out->offsets, ob, "out->offsets", true},
                          {out->gather_index, nk, "out->gather_index", true}});
        mom_backend(c).route(c, r, MomRouteOut{out->indices, out->weights, out->slots,
                                               out->offsets, out->gather_index});
    });
}

ENGRAM_API engram_status engram_scan_mom_route_backward(engram_context* ctx,
                                                        const engram_scan_mom_routing* routing,
                                                        const int32_t* indices,
                                                        const int32_t* slots,
                                                        const float* d_weights, float* d_logits) {
    return run_op(__func__, ENGRAM_OP_SCAN_MOM_ROUTE_BACKWARD, ctx, [&](engram_context& c) {
        uint64_t lb = 0;
        const MomRouting r = validate_routing(c, routing, lb);
        const int64_t nk = r.tokens() * r.top_k;
        const uint64_t nkb = uint64_t(nk) * 4, db = uint64_t(r.tokens() * r.memories) * 4;
        check_tensor(c, indices, nkb, 4, "indices");
        check_tensor(c, slots, nkb, 4, "slots");
        check_tensor(c, d_weights, nkb, 4, "d_weights");
        check_tensor(c, d_logits, db, 4, "d_logits");
        require_disjoint({{r.logits, lb, "routing->logits", false},
                          {indices, nkb, "indices", false},
                          {slots, nkb, "slots", false},
                          {d_weights, nkb, "d_weights", false},
                          {d_logits, db, "d_logits", true}});
        check_indices(c, slots, nk, -1, nk, false, "slots");
        // k distinct memories per token: a marker per memory holding the last
        // token that chose it.
        std::vector<int64_t> last(size_t(r.memories), -1);
        ScratchAccount account(c, uint64_t(r.memories) * 8);
        for (int64_t i = 0; i < nk; ++i) {
            const int32_t m = indices[i];
            if (m < 0 || m >= r.memories)
                fail(ENGRAM_ERR_INVALID_ARGUMENT,
                     format("indices[%lld] = %d is outside [0, %lld)", (long long)i, m,
                            (long long)r.memories));
            if (last[size_t(m)] == i / r.top_k)
                fail(ENGRAM_ERR_INVALID_ARGUMENT,
                     format("indices[%lld] = %d repeats a memory of token %lld", (long long)i, m,
                            (long long)(i / r.top_k)));
            last[size_t(m)] = i / r.top_k;
        }
        mom_backend(c).route_backward(c, r, indices, slots, d_weights, d_logits);
    });
}

ENGRAM_API engram_status engram_scan_mom_gather(engram_context* ctx,
                                                const engram_scan_mom_rows* rows, const void* x,
                                                const int32_t* gather_index, void* packed) {
    return run_op(__func__, ENGRAM_OP_SCAN_MOM_GATHER, ctx, [&](engram_context& c) {
        const MomRows r = validate_rows(rows);
        const uint64_t es = engram_dtype_size(r.dtype);
        const uint64_t xb = row_bytes(r, r.tokens, "x [N, D]");
        const uint64_t pb = row_bytes(r, r.packed(), "packed [N k, D]");
        const uint64_t ib = uint64_t(r.packed()) * 4;
        check_tensor(c, x, xb, es, "x");
        check_tensor(c, gather_index, ib, 4, "gather_index");
        check_tensor(c, packed, pb, es, "packed");
        require_disjoint({{x, xb, "x", false},
                          {gather_index, ib, "gather_index", false},
                          {packed, pb, "packed", true}});
        check_indices(c, gather_index, r.packed(), -1, r.tokens, false, "gather_index");
        mom_backend(c).gather(c, r, x, gather_index, packed);
    });
}

ENGRAM_API engram_status engram_scan_mom_gather_backward(engram_context* ctx,
                                                         const engram_scan_mom_rows* rows,
                                                         const void* d_packed,
                                                         const int32_t* slots, void* d_x) {
    return run_op(__func__, ENGRAM_OP_SCAN_MOM_GATHER_BACKWARD, ctx, [&](engram_context& c) {
        const MomRows r = validate_rows(rows);
        const uint64_t es = engram_dtype_size(r.dtype);
        const uint64_t xb = row_bytes(r, r.tokens, "d_x [N, D]");
        const uint64_t pb = row_bytes(r, r.packed(), "d_packed [N k, D]");
        const uint64_t sb = uint64_t(r.packed()) * 4;
        check_tensor(c, d_packed, pb, es, "d_packed");
        check_tensor(c, slots, sb, 4, "slots");
        check_tensor(c, d_x, xb, es, "d_x");
        require_disjoint({{d_packed, pb, "d_packed", false},
                          {slots, sb, "slots", false},
                          {d_x, xb, "d_x", true}});
        check_indices(c, slots, r.packed(), -1, r.packed(), false, "slots");
        mom_backend(c).gather_backward(c, r, d_packed, slots, d_x);
    });
}

ENGRAM_API engram_status engram_scan_mom_combine(engram_context* ctx,
                                                 const engram_scan_mom_rows* rows,
                                                 const void* mem_out, const int32_t* slots,
                                                 const float* weights, const void* shared_out,
                                                 void* y) {
    return run_op(__func__, ENGRAM_OP_SCAN_MOM_COMBINE, ctx, [&](engram_context& c) {
        const MomRows r = validate_rows(rows);
        const uint64_t es = engram_dtype_size(r.dtype);
        const uint64_t yb = row_bytes(r, r.tokens, "y [N, D]");
        const uint64_t pb = row_bytes(r, r.packed(), "mem_out [N k, D]");
        const uint64_t sb = uint64_t(r.packed()) * 4;
        check_tensor(c, mem_out, pb, es, "mem_out");
        check_tensor(c, slots, sb, 4, "slots");
        check_tensor(c, weights, sb, 4, "weights");
        if (shared_out) check_tensor(c, shared_out, yb, es, "shared_out");
        check_tensor(c, y, yb, es, "y");
        require_disjoint({{mem_out, pb, "mem_out", false},
                          {slots, sb, "slots", false},
                          {weights, sb, "weights", false},
                          {shared_out, yb, "shared_out", false},
                          {y, yb, "y", true}});
        check_indices(c, slots, r.packed(), -1, r.packed(), false, "slots");
        mom_backend(c).combine(c, r, mem_out, slots, weights, shared_out, y);
    });
}

ENGRAM_API engram_status engram_scan_mom_combine_backward(engram_context* ctx,
                                                          const engram_scan_mom_rows* rows,
                                                          const void* dy, const void* mem_out,
                                                          const int32_t* slots,
                                                          const float* weights, void* d_mem_out,
                                                          float* d_weights) {
    return run_op(__func__, ENGRAM_OP_SCAN_MOM_COMBINE_BACKWARD, ctx, [&](engram_context& c) {
        const MomRows r = validate_rows(rows);
        const uint64_t es = engram_dtype_size(r.dtype);
        const uint64_t yb = row_bytes(r, r.tokens, "dy [N, D]");
        const uint64_t pb = row_bytes(r, r.packed(), "mem_out [N k, D]");
        const uint64_t sb = uint64_t(r.packed()) * 4;
        if (!d_mem_out && !d_weights)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 "d_mem_out and d_weights are both NULL: set at least one");
        check_tensor(c, dy, yb, es, "dy");
        check_tensor(c, slots, sb, 4, "slots");
        if (d_weights) check_tensor(c, mem_out, pb, es, "mem_out");
        else if (mem_out) check_tensor(c, mem_out, pb, es, "mem_out");
        if (d_mem_out) {
            check_tensor(c, weights, sb, 4, "weights");
            check_tensor(c, d_mem_out, pb, es, "d_mem_out");
        } else if (weights) {
            check_tensor(c, weights, sb, 4, "weights");
        }
        if (d_weights) check_tensor(c, d_weights, sb, 4, "d_weights");
        require_disjoint({{dy, yb, "dy", false},
                          {mem_out, pb, "mem_out", false},
                          {slots, sb, "slots", false},
                          {weights, sb, "weights", false},
                          {d_mem_out, pb, "d_mem_out", true},
                          {d_weights, sb, "d_weights", true}});
        check_indices(c, slots, r.packed(), -1, r.packed(), true, "slots");
        mom_backend(c).combine_backward(c, r, dy, mem_out, slots, weights, d_mem_out, d_weights);
    });
}

}  // extern "C"
