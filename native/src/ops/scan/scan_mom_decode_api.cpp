// scan_mom_decode_api.cpp — engram_scan_mom_decode: validate the one-token MoM
// step (shapes as engram_scan.h, options as the linear scan's), then dispatch.
#include <cmath>
#include <cstring>

#include "api/backend_table.hpp"
#include "api/run_op.hpp"
#include "api/tensor_checks.hpp"
#include "ops/scan/scan_mom_backend.hpp"

using namespace engram;

namespace {

void require_at_most(int64_t value, int64_t max, const char* name) {
    if (value > max)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("%s = %lld exceeds the supported maximum %lld", name, (long long)value,
                    (long long)max));
}

// The linear scan's options with its rules (scan_api.cpp): chunk_size is
// validated though a single step does not use it.
void resolve_options(const engram_scan_options* opts, ScanProblem& p) {
    engram_scan_options o;
    engram_scan_options_init(&o);
    if (opts) {
        require_struct_size(opts->struct_size, sizeof *opts, "opts", "engram_scan_options_init");
        o = *opts;
    }
    if (o.chunk_size < 0 || o.chunk_size > ENGRAM_SCAN_MAX_CHUNK)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("opts->chunk_size = %d is outside [1, %d] (0 = default %d)", o.chunk_size,
                    ENGRAM_SCAN_MAX_CHUNK, ENGRAM_SCAN_DEFAULT_CHUNK));
    if (!std::isfinite(o.scale))
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("opts->scale must be finite (0 = 1/sqrt(K)), got %g", double(o.scale)));
    if (o.output_dtype != ENGRAM_SCAN_OUTPUT_DTYPE_INPUT && o.output_dtype != ENGRAM_DTYPE_F32 &&
        o.output_dtype != p.dtype)
        fail(ENGRAM_ERR_UNSUPPORTED,
             format("opts->output_dtype = %d (%s): o is written as F32 or as the inputs' dtype (%s)",
                    o.output_dtype, dtype_name(o.output_dtype), dtype_name(p.dtype)));
    p.scale = o.scale == 0.0f ? float(1.0 / std::sqrt(double(p.k_dim))) : o.scale;
    p.out_dtype = o.output_dtype == ENGRAM_SCAN_OUTPUT_DTYPE_INPUT ? p.dtype
                                                                   : engram_dtype(o.output_dtype);
}

MomDecode validate(const engram_scan_mom_decode_inputs* in) {
    require_not_null(in, "in");
    require_struct_size(in->struct_size, sizeof *in, "in", "engram_scan_mom_decode_inputs_init");
    require_float_dtype(in->dtype, "in->dtype");
    if (in->gate < ENGRAM_SCAN_GATE_NONE || in->gate > ENGRAM_SCAN_GATE_VECTOR)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("in->gate = %d is not an engram_scan_gate", in->gate));
    if (in->shared_memory != 0 && in->shared_memory != 1)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("in->shared_memory = %d must be 0 or 1", in->shared_memory));
    require_dim(in->batch, "in->batch");
    require_dim(in->memories, "in->memories");
    require_at_most(in->memories, ENGRAM_SCAN_MOM_MAX_MEMORIES, "in->memories");
    require_dim(in->top_k, "in->top_k");
    if (in->top_k > in->memories)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("in->top_k = %lld exceeds in->memories = %lld (top-k of M memories needs "
                    "k <= M)",
                    (long long)in->top_k, (long long)in->memories));
    require_dim(in->heads, "in->heads");
    require_dim(in->k_dim, "in->k_dim");
    require_dim(in->v_dim, "in->v_dim");
    require_at_most(in->k_dim, ENGRAM_SCAN_MAX_HEAD_DIM, "in->k_dim");
    require_at_most(in->v_dim, ENGRAM_SCAN_MAX_HEAD_DIM, "in->v_dim");
    const int64_t hk = in->qk_heads == 0 ? in->heads : in->qk_heads;
    if (in->qk_heads != 0) require_dim(in->qk_heads, "in->qk_heads");
    if (in->heads % hk != 0)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("in->qk_heads = %lld does not divide in->heads = %lld", (long long)hk,
                    (long long)in->heads));
    require_not_null(in->logits, "in->logits");
    require_not_null(in->q, "in->q");
    require_not_null(in->k, "in->k");
    require_not_null(in->v, "in->v");
    if (in->gate == ENGRAM_SCAN_GATE_NONE && in->g)
        fail(ENGRAM_ERR_INVALID_ARGUMENT, "in->g must be NULL when in->gate is NONE");
    if (in->gate != ENGRAM_SCAN_GATE_NONE) require_not_null(in->g, "in->g");
    MomDecode d;
    ScanProblem& p = d.step;
    p.dtype = engram_dtype(in->dtype);
    p.gate = engram_scan_gate(in->gate);
    p.batch = in->batch;
    p.t = 1;
    p.heads = in->heads;
    p.qk_heads = hk;
    p.k_dim = in->k_dim;
    p.v_dim = in->v_dim;
    p.q = in->q;
    p.k = in->k;
    p.v = in->v;
    p.g = in->g;
    d.logits = in->logits;
    d.memories = in->memories;
    d.top_k = in->top_k;
    d.shared = in->shared_memory == 1;
    return d;
}

}  // namespace

extern "C" {

ENGRAM_API engram_status engram_scan_mom_decode(engram_context* ctx,
                                                const engram_scan_mom_decode_inputs* in,
                                                const engram_scan_options* opts, float* states,
                                                void* o, int32_t* indices, float* weights) {
    return run_op(__func__, ENGRAM_OP_SCAN_MOM_DECODE, ctx, [&](engram_context& c) {
        MomDecode d = validate(in);
        ScanProblem& p = d.step;
        resolve_options(opts, p);
        const uint64_t es = engram_dtype_size(p.dtype);
        const int64_t bs = p.batch * d.slots();  // (sequence, memory) rows
        const uint64_t lb = checked_bytes(p.batch, d.memories, es, "in->logits [B, M]");
        const uint64_t qb = checked_bytes(p.batch, p.qk_heads * p.k_dim, es, "in->q [B, Hk, K]");
        const uint64_t kb = checked_bytes(bs, p.qk_heads * p.k_dim, es, "in->k [B, M + s, Hk, K]");
        const uint64_t vb = checked_bytes(bs, p.heads * p.v_dim, es, "in->v [B, M + s, H, V]");
        const uint64_t gb = checked_bytes(bs, p.heads * p.gate_width(), 4, "in->g");
        const uint64_t sb = checked_bytes(bs * p.heads, p.k_dim * p.v_dim, 4,
                                          "states [B, M + s, H, K, V]");
        const uint64_t ob = checked_bytes(p.batch, p.heads * p.v_dim,
                                          engram_dtype_size(p.out_dtype), "o [B, H, V]");
        const uint64_t rb = uint64_t(p.batch * d.top_k) * 4;
        struct Arg {
            const void* ptr;
            uint64_t bytes, align;
            const char* name;
        };
        const Arg args[] = {{d.logits, lb, es, "in->logits"}, {p.q, qb, es, "in->q"},
                            {p.k, kb, es, "in->k"},           {p.v, vb, es, "in->v"},
                            {p.g, gb, 4, "in->g"}};
        for (const Arg& a : args) {
            require_aligned(a.ptr, a.align, a.name);
            check_buffer(c, a.ptr, a.bytes, a.name);
        }
        require_not_null(states, "states");
        require_aligned(states, 4, "states");
        check_buffer(c, states, sb, "states");
        require_not_null(o, "o");
        require_aligned(o, engram_dtype_size(p.out_dtype), "o");
        check_buffer(c, o, ob, "o");
        require_aligned(indices, 4, "indices");
        check_buffer(c, indices, rb, "indices");
        require_aligned(weights, 4, "weights");
        check_buffer(c, weights, rb, "weights");
        require_disjoint({{d.logits, lb, "in->logits", false},
                          {p.q, qb, "in->q", false},
                          {p.k, kb, "in->k", false},
                          {p.v, vb, "in->v", false},
                          {p.g, gb, "in->g", false},
                          {states, sb, "states", true},
                          {o, ob, "o", true},
                          {indices, rb, "indices", true},
                          {weights, rb, "weights", true}});
        backend_table<MomBackend>(c, scan_mom_cpu_backend(), nullptr, "scan")
            .decode(c, d, states, o, indices, weights);
    });
}

}  // extern "C"
