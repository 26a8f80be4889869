// scan_api.cpp — the scan entry points: validate every argument, resolve the
// options, then dispatch to the context's backend.
#include <cmath>
#include <cstring>
#include <string>

#include "api/backend_table.hpp"
#include "api/run_op.hpp"
#include "api/tensor_checks.hpp"
#include "cuda/cuda_backend.hpp"
#include "ops/scan/scan_backend.hpp"
#include "ops/scan/scan_problem.hpp"

using namespace engram;

namespace {

void require_at_most(int64_t value, int64_t max, const char* name) {
    if (value > max)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("%s = %lld exceeds the supported maximum %lld", name, (long long)value,
                    (long long)max));
}

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
    p.chunk = o.chunk_size == 0 ? ENGRAM_SCAN_DEFAULT_CHUNK : o.chunk_size;
    p.scale = o.scale == 0.0f ? float(1.0 / std::sqrt(double(p.k_dim))) : o.scale;
    p.out_dtype = o.output_dtype == ENGRAM_SCAN_OUTPUT_DTYPE_INPUT ? p.dtype
                                                                   : engram_dtype(o.output_dtype);
}

struct Sizes {
    uint64_t qk, v, g, state, o;
};

// Validates `in` and the options; fills the byte sizes of every tensor.
ScanProblem validate_inputs(engram_context& ctx, const engram_scan_inputs* in,
                            const engram_scan_options* opts, Sizes& sz) {
    require_not_null(in, "in");
    require_struct_size(in->struct_size, sizeof *in, "in", "engram_scan_inputs_init");
    ScanProblem p;
    require_float_dtype(in->dtype, "in->dtype");
    if (in->gate < ENGRAM_SCAN_GATE_NONE || in->gate > ENGRAM_SCAN_GATE_VECTOR)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("in->gate = %d is not an engram_scan_gate", in->gate));
    p.dtype = engram_dtype(in->dtype);
    p.gate = engram_scan_gate(in->gate);
    require_dim(in->batch, "in->batch");
    require_dim(in->t, "in->t");
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
    p.batch = in->batch;
    p.t = in->t;
    p.heads = in->heads;
    p.qk_heads = hk;
    p.k_dim = in->k_dim;
    p.v_dim = in->v_dim;
    require_not_null(in->q, "in->q");
    require_not_null(in->k, "in->k");
    require_not_null(in->v, "in->v");
    if (p.gate == ENGRAM_SCAN_GATE_NONE && in->g)
        fail(ENGRAM_ERR_INVALID_ARGUMENT, "in->g must be NULL when in->gate is NONE");
    if (p.gate != ENGRAM_SCAN_GATE_NONE) require_not_null(in->g, "in->g");
    resolve_options(opts, p);

    const uint64_t es = engram_dtype_size(p.dtype);
    // B * T <= 2^62 and H * K, H * V <= 2^39: each product fits int64; the
    // byte totals are checked against overflow.
    const int64_t bt = p.batch * p.t, bh = p.batch * p.heads;
    sz.qk = checked_bytes(bt, hk * p.k_dim, es, "in->q / in->k [B, T, Hk, K]");
    sz.v = checked_bytes(bt, p.heads * p.v_dim, es, "in->v [B, T, H, V]");
    sz.g = checked_bytes(bt, p.heads * p.gate_width(), 4, "in->g");
    sz.state = checked_bytes(bh, p.k_dim * p.v_dim, 4, "state [B, H, K, V]");
    sz.o = checked_bytes(bt, p.heads * p.v_dim, engram_dtype_size(p.out_dtype), "o [B, T, H, V]");
    require_aligned(in->q, es, "in->q");
    require_aligned(in->k, es, "in->k");
    require_aligned(in->v, es, "in->v");
    require_aligned(in->g, 4, "in->g");
    require_aligned(in->initial_state, 4, "in->initial_state");
    check_buffer(ctx, in->q, sz.qk, "in->q");
    check_buffer(ctx, in->k, sz.qk, "in->k");
    check_buffer(ctx, in->v, sz.v, "in->v");
    check_buffer(ctx, in->g, sz.g, "in->g");
    check_buffer(ctx, in->initial_state, sz.state, "in->initial_state");
    p.q = in->q;
    p.k = in->k;
    p.v = in->v;
    p.g = in->g;
    p.initial_state = in->initial_state;
    return p;
}

std::vector<TensorSpan> input_spans(const ScanProblem& p, const Sizes& sz) {
    return {{p.q, sz.qk, "in->q", false},
            {p.k, sz.qk, "in->k", false},
            {p.v, sz.v, "in->v", false},
            {p.g, sz.g, "in->g", false},
            {p.initial_state, sz.state, "in->initial_state", false}};
}

void check_output(engram_context& ctx, const void* p, uint64_t bytes, uint64_t align,
                  const char* name) {
    require_not_null(p, name);
    require_aligned(p, align, name);
    check_buffer(ctx, p, bytes, name);
}

ScanGrads validate_grads(engram_context& ctx, const ScanProblem& p, const Sizes& sz,
                         const engram_scan_grads* grads, std::vector<TensorSpan>& spans) {
    require_not_null(grads, "grads");
    require_struct_size(grads->struct_size, sizeof *grads, "grads", "engram_scan_grads_init");
    if (grads->dtype != ENGRAM_DTYPE_F32 && grads->dtype != p.dtype)
        fail(ENGRAM_ERR_UNSUPPORTED,
             format("grads->dtype = %d (%s): dq, dk, dv are written as F32 or as the inputs' "
                    "dtype (%s)",
                    grads->dtype, dtype_name(grads->dtype), dtype_name(p.dtype)));
    ScanGrads g;
    g.dtype = engram_dtype(grads->dtype);
    g.dq = grads->dq;
    g.dk = grads->dk;
    g.dv = grads->dv;
    g.dg = grads->dg;
    g.d_initial_state = grads->d_initial_state;
    if (!g.dq && !g.dk && !g.dv && !g.dg && !g.d_initial_state)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             "grads has no output: set at least one of dq, dk, dv, dg, d_initial_state");
    if (g.dg && p.gate == ENGRAM_SCAN_GATE_NONE)
        fail(ENGRAM_ERR_INVALID_ARGUMENT, "grads->dg is set but in->gate is NONE");
    const uint64_t gs = engram_dtype_size(g.dtype);
    const uint64_t qk = sz.qk / engram_dtype_size(p.dtype) * gs;
    const uint64_t v = sz.v / engram_dtype_size(p.dtype) * gs;
    require_aligned(g.dq, gs, "grads->dq");
    require_aligned(g.dk, gs, "grads->dk");
    require_aligned(g.dv, gs, "grads->dv");
    require_aligned(g.dg, 4, "grads->dg");
    require_aligned(g.d_initial_state, 4, "grads->d_initial_state");
    check_buffer(ctx, g.dq, qk, "grads->dq");
    check_buffer(ctx, g.dk, qk, "grads->dk");
    check_buffer(ctx, g.dv, v, "grads->dv");
    check_buffer(ctx, g.dg, sz.g, "grads->dg");
    check_buffer(ctx, g.d_initial_state, sz.state, "grads->d_initial_state");
    spans.push_back({g.dq, qk, "grads->dq", true});
    spans.push_back({g.dk, qk, "grads->dk", true});
    spans.push_back({g.dv, v, "grads->dv", true});
    spans.push_back({g.dg, sz.g, "grads->dg", true});
    spans.push_back({g.d_initial_state, sz.state, "grads->d_initial_state", true});
    return g;
}

const ScanBackend& scan_backend(const engram_context& c) {
    return backend_table(c, scan_cpu_backend(), scan_cuda_backend(), "scan");
}

}  // namespace

extern "C" {

ENGRAM_API engram_status engram_scan_options_init(engram_scan_options* opts) {
    return guard(__func__, [&] {
        require_not_null(opts, "opts");
        std::memset(opts, 0, sizeof *opts);
        opts->struct_size = sizeof *opts;
        opts->chunk_size = 0;
        opts->scale = 0.0f;
        opts->output_dtype = ENGRAM_SCAN_OUTPUT_DTYPE_INPUT;
    });
}

ENGRAM_API engram_status engram_scan_inputs_init(engram_scan_inputs* inputs) {
    return guard(__func__, [&] {
        require_not_null(inputs, "inputs");
        std::memset(inputs, 0, sizeof *inputs);
        inputs->struct_size = sizeof *inputs;
        inputs->dtype = ENGRAM_DTYPE_F32;
        inputs->gate = ENGRAM_SCAN_GATE_NONE;
    });
}

ENGRAM_API engram_status engram_scan_grads_init(engram_scan_grads* grads) {
    return guard(__func__, [&] {
        require_not_null(grads, "grads");
        std::memset(grads, 0, sizeof *grads);
        grads->struct_size = sizeof *grads;
        grads->dtype = ENGRAM_DTYPE_F32;
    });
}

ENGRAM_API engram_status engram_scan_linear_backward(engram_context* ctx,
                                                     const engram_scan_inputs* in,
                                                     const engram_scan_options* opts,
                                                     const void* grad_o,
                                                     const float* grad_final_state,
                                                     const engram_scan_grads* grads) {
    return run_op(__func__, ENGRAM_OP_SCAN_LINEAR_BACKWARD, ctx, [&](engram_context& c) {
        Sizes sz{};
        const ScanProblem p = validate_inputs(c, in, opts, sz);
        require_not_null(grad_o, "grad_o");
        require_aligned(grad_o, engram_dtype_size(p.out_dtype), "grad_o");
        check_buffer(c, grad_o, sz.o, "grad_o");
        require_aligned(grad_final_state, 4, "grad_final_state");
        check_buffer(c, grad_final_state, sz.state, "grad_final_state");
        std::vector<TensorSpan> spans = input_spans(p, sz);
        spans.push_back({grad_o, sz.o, "grad_o", false});
        spans.push_back({grad_final_state, sz.state, "grad_final_state", false});
        const ScanGrads g = validate_grads(c, p, sz, grads, spans);
        require_disjoint(spans);
        scan_backend(c).linear_backward(c, p, grad_o, grad_final_state, g);
    });
}

ENGRAM_API engram_status engram_scan_linear_forward(engram_context* ctx,
                                                    const engram_scan_inputs* in,
                                                    const engram_scan_options* opts, void* o,
                                                    float* final_state) {
    return run_op(__func__, ENGRAM_OP_SCAN_LINEAR_FORWARD, ctx, [&](engram_context& c) {
        Sizes sz{};
        const ScanProblem p = validate_inputs(c, in, opts, sz);
        check_output(c, o, sz.o, engram_dtype_size(p.out_dtype), "o");
        if (final_state) check_output(c, final_state, sz.state, 4, "final_state");
        std::vector<TensorSpan> spans = input_spans(p, sz);
        spans.push_back({o, sz.o, "o", true});
        spans.push_back({final_state, sz.state, "final_state", true});
        require_disjoint(spans);
        scan_backend(c).linear_forward(c, p, o, final_state);
    });
}

ENGRAM_API engram_status engram_scan_linear_decode(engram_context* ctx,
                                                   const engram_scan_inputs* in,
                                                   const engram_scan_options* opts, void* o,
                                                   float* state_out) {
    return run_op(__func__, ENGRAM_OP_SCAN_LINEAR_DECODE, ctx, [&](engram_context& c) {
        Sizes sz{};
        const ScanProblem p = validate_inputs(c, in, opts, sz);
        if (p.t != 1)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("in->t = %lld: the decode step takes one token (t = 1); use "
                        "engram_scan_linear_forward for more",
                        (long long)p.t));
        check_output(c, o, sz.o, engram_dtype_size(p.out_dtype), "o");
        check_output(c, state_out, sz.state, 4, "state_out");
        std::vector<TensorSpan> spans = input_spans(p, sz);
        // In place (state_out == initial_state) is the documented way to step a
        // state: the step reads each state row before writing it. Any other
        // overlap is rejected.
        if (state_out == p.initial_state) spans.back().p = nullptr;
        spans.push_back({o, sz.o, "o", true});
        spans.push_back({state_out, sz.state, "state_out", true});
        require_disjoint(spans);
        scan_backend(c).linear_decode(c, p, o, state_out);
    });
}

}  // extern "C"

namespace engram {

// The options resolution above, for the delta ops (scan_delta_api.cpp): one
// meaning of engram_scan_options across the family.
void resolve_scan_options(const engram_scan_options* opts, engram_dtype dtype, int64_t k_dim,
                          int32_t& chunk, float& scale, engram_dtype& out_dtype) {
    ScanProblem p;
    p.dtype = dtype;
    p.k_dim = k_dim;
    resolve_options(opts, p);
    chunk = p.chunk;
    scale = p.scale;
    out_dtype = p.out_dtype;
}

}  // namespace engram
