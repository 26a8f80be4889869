// scan_delta_api.cpp — the delta-rule entry points (ops 203-205): validate
// every argument (shapes, the cu_seqlens offsets, options), resolve the
// sequences, then dispatch to the context's backend.
#include <cstring>
#include <string>

#include "api/backend_table.hpp"
#include "api/run_op.hpp"
#include "api/tensor_checks.hpp"
#include "ops/scan/scan_delta_backend.hpp"
#include "ops/scan/scan_problem.hpp"

using namespace engram;

namespace {

struct Sizes {
    uint64_t qk, v, gate, state, o;
};

const ScanDeltaBackend& delta_backend(const engram_context& c) {
    // No CUDA kernels for the delta rule: a CUDA context is refused before
    // any (device) pointer is read on the host.
    return backend_table<ScanDeltaBackend>(c, scan_delta_cpu_backend(), nullptr, "scan");
}

void require_head_dim(int64_t value, const char* name) {
    require_dim(value, name);
    if (value > ENGRAM_SCAN_MAX_HEAD_DIM)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("%s = %lld exceeds the supported maximum %d", name, (long long)value,
                    ENGRAM_SCAN_MAX_HEAD_DIM));
}

// Reads and checks cu_seqlens (host memory: only the CPU backend gets here):
// N + 1 offsets, 0 first, strictly increasing, T last.
void resolve_offsets(const engram_scan_delta_inputs* in, DeltaProblem& p) {
    if (!in->cu_seqlens) {
        if (in->num_seqs != 0)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("in->num_seqs = %lld without in->cu_seqlens: it must be 0 (the batch "
                        "is B sequences of T tokens)",
                        (long long)in->num_seqs));
        p.offsets.resize(size_t(p.batch + 1));
        for (int64_t n = 0; n <= p.batch; ++n) p.offsets[size_t(n)] = n * p.t;
        return;
    }
    if (p.batch != 1)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("in->batch = %lld with in->cu_seqlens: a variable-length batch is packed "
                    "into one row (batch 1)",
                    (long long)p.batch));
    require_dim(in->num_seqs, "in->num_seqs");
    if (in->num_seqs > p.t)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("in->num_seqs = %lld exceeds in->t = %lld: every sequence has a token",
                    (long long)in->num_seqs, (long long)p.t));
    if (in->cu_seqlens_dtype != ENGRAM_DTYPE_I32 && in->cu_seqlens_dtype != ENGRAM_DTYPE_I64)
        fail(ENGRAM_ERR_UNSUPPORTED,
             format("in->cu_seqlens_dtype = %d (%s): cu_seqlens is I32 or I64",
                    in->cu_seqlens_dtype, dtype_name(in->cu_seqlens_dtype)));
    const bool wide = in->cu_seqlens_dtype == ENGRAM_DTYPE_I64;
    require_aligned(in->cu_seqlens, wide ? 8 : 4, "in->cu_seqlens");
    const int64_t n = in->num_seqs;
    p.offsets.resize(size_t(n + 1));
    for (int64_t i = 0; i <= n; ++i) {
        const int64_t x = wide ? static_cast<const int64_t*>(in->cu_seqlens)[i]
                               : static_cast<const int32_t*>(in->cu_seqlens)[i];
        p.offsets[size_t(i)] = x;
        if (i == 0 && x != 0)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("in->cu_seqlens[0] = %lld: the offsets start at 0", (long long)x));
        if (i > 0 && x <= p.offsets[size_t(i - 1)])
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("in->cu_seqlens[%lld] = %lld is not above cu_seqlens[%lld] = %lld: the "
                        "offsets must be strictly increasing (no empty sequence)",
                        (long long)i, (long long)x, (long long)(i - 1),
                        (long long)p.offsets[size_t(i - 1)]));
    }
    if (p.offsets.back() != p.t)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("in->cu_seqlens[%lld] = %lld: the last offset must be in->t = %lld",
                    (long long)n, (long long)p.offsets.back(), (long long)p.t));
}

DeltaProblem validate_inputs(engram_context& ctx, const engram_scan_delta_inputs* in,
                             const engram_scan_options* opts, Sizes& sz) {
    require_not_null(in, "in");
    require_struct_size(in->struct_size, sizeof *in, "in", "engram_scan_delta_inputs_init");
    require_float_dtype(in->dtype, "in->dtype");
    if (in->qk_l2norm != 0 && in->qk_l2norm != 1)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("in->qk_l2norm = %d: 0 (off) or 1 (on)", in->qk_l2norm));
    DeltaProblem p;
    p.dtype = engram_dtype(in->dtype);
    p.l2norm = in->qk_l2norm == 1;
    require_dim(in->batch, "in->batch");
    require_dim(in->t, "in->t");
    require_dim(in->heads, "in->heads");
    require_head_dim(in->k_dim, "in->k_dim");
    require_head_dim(in->v_dim, "in->v_dim");
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
    require_not_null(in->beta, "in->beta");
    resolve_scan_options(opts, p.dtype, p.k_dim, p.chunk, p.scale, p.out_dtype);

    const uint64_t es = engram_dtype_size(p.dtype);
    const int64_t bt = p.batch * p.t;
    sz.qk = checked_bytes(bt, hk * p.k_dim, es, "in->q / in->k [B, T, Hk, K]");
    sz.v = checked_bytes(bt, p.heads * p.v_dim, es, "in->v [B, T, H, V]");
    sz.gate = checked_bytes(bt, p.heads, 4, "in->g / in->beta [B, T, H]");
    sz.o = checked_bytes(bt, p.heads * p.v_dim, engram_dtype_size(p.out_dtype), "o [B, T, H, V]");
    require_aligned(in->q, es, "in->q");
    require_aligned(in->k, es, "in->k");
    require_aligned(in->v, es, "in->v");
    require_aligned(in->g, 4, "in->g");
    require_aligned(in->beta, 4, "in->beta");
    require_aligned(in->initial_state, 4, "in->initial_state");
    check_buffer(ctx, in->q, sz.qk, "in->q");
    check_buffer(ctx, in->k, sz.qk, "in->k");
    check_buffer(ctx, in->v, sz.v, "in->v");
    check_buffer(ctx, in->g, sz.gate, "in->g");
    check_buffer(ctx, in->beta, sz.gate, "in->beta");
    (void)delta_backend(ctx);  // refuse a backend without the ops before reading cu_seqlens
    resolve_offsets(in, p);
    sz.state = checked_bytes(p.seqs() * p.heads, p.k_dim * p.v_dim, 4, "state [N, H, K, V]");
    check_buffer(ctx, in->initial_state, sz.state, "in->initial_state");
    p.q = in->q;
    p.k = in->k;
    p.v = in->v;
    p.g = in->g;
    p.beta = in->beta;
    p.initial_state = in->initial_state;
    return p;
}

std::vector<TensorSpan> input_spans(const engram_scan_delta_inputs* in, const DeltaProblem& p,
                                    const Sizes& sz) {
    const uint64_t cu = in->cu_seqlens ? uint64_t(p.seqs() + 1) *
                                             (in->cu_seqlens_dtype == ENGRAM_DTYPE_I64 ? 8 : 4)
                                       : 0;
    return {{p.q, sz.qk, "in->q", false},
            {p.k, sz.qk, "in->k", false},
            {p.v, sz.v, "in->v", false},
            {p.g, sz.gate, "in->g", false},
            {p.beta, sz.gate, "in->beta", false},
            {in->cu_seqlens, cu, "in->cu_seqlens", false},
            {p.initial_state, sz.state, "in->initial_state", false}};
}

void check_output(engram_context& ctx, const void* p, uint64_t bytes, uint64_t align,
                  const char* name) {
    require_not_null(p, name);
    require_aligned(p, align, name);
    check_buffer(ctx, p, bytes, name);
}

DeltaGrads validate_grads(engram_context& ctx, const DeltaProblem& p, const Sizes& sz,
                          const engram_scan_delta_grads* grads, std::vector<TensorSpan>& spans) {
    require_not_null(grads, "grads");
    require_struct_size(grads->struct_size, sizeof *grads, "grads",
                        "engram_scan_delta_grads_init");
    if (grads->dtype != ENGRAM_DTYPE_F32 && grads->dtype != p.dtype)
        fail(ENGRAM_ERR_UNSUPPORTED,
             format("grads->dtype = %d (%s): dq, dk, dv are written as F32 or as the inputs' "
                    "dtype (%s)",
                    grads->dtype, dtype_name(grads->dtype), dtype_name(p.dtype)));
    DeltaGrads g;
    g.dtype = engram_dtype(grads->dtype);
    g.dq = grads->dq;
    g.dk = grads->dk;
    g.dv = grads->dv;
    g.dg = grads->dg;
    g.dbeta = grads->dbeta;
    g.d_initial_state = grads->d_initial_state;
    if (!g.dq && !g.dk && !g.dv && !g.dg && !g.dbeta && !g.d_initial_state)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             "grads has no output: set at least one of dq, dk, dv, dg, dbeta, d_initial_state");
    if (g.dg && !p.g)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             "grads->dg is set but in->g is NULL (the plain delta rule has no gate)");
    const uint64_t gs = engram_dtype_size(g.dtype);
    const uint64_t qk = sz.qk / engram_dtype_size(p.dtype) * gs;
    const uint64_t v = sz.v / engram_dtype_size(p.dtype) * gs;
    require_aligned(g.dq, gs, "grads->dq");
    require_aligned(g.dk, gs, "grads->dk");
    require_aligned(g.dv, gs, "grads->dv");
    require_aligned(g.dg, 4, "grads->dg");
    require_aligned(g.dbeta, 4, "grads->dbeta");
    require_aligned(g.d_initial_state, 4, "grads->d_initial_state");
    check_buffer(ctx, g.dq, qk, "grads->dq");
    check_buffer(ctx, g.dk, qk, "grads->dk");
    check_buffer(ctx, g.dv, v, "grads->dv");
    check_buffer(ctx, g.dg, sz.gate, "grads->dg");
    check_buffer(ctx, g.dbeta, sz.gate, "grads->dbeta");
    check_buffer(ctx, g.d_initial_state, sz.state, "grads->d_initial_state");
    spans.push_back({g.dq, qk, "grads->dq", true});
    spans.push_back({g.dk, qk, "grads->dk", true});
    spans.push_back({g.dv, v, "grads->dv", true});
    spans.push_back({g.dg, sz.gate, "grads->dg", true});
    spans.push_back({g.dbeta, sz.gate, "grads->dbeta", true});
    spans.push_back({g.d_initial_state, sz.state, "grads->d_initial_state", true});
    return g;
}

}  // namespace

extern "C" {

ENGRAM_API engram_status engram_scan_delta_inputs_init(engram_scan_delta_inputs* inputs) {
    return guard(__func__, [&] {
        require_not_null(inputs, "inputs");
        std::memset(inputs, 0, sizeof *inputs);
        inputs->struct_size = sizeof *inputs;
        inputs->dtype = ENGRAM_DTYPE_F32;
        inputs->cu_seqlens_dtype = ENGRAM_DTYPE_I32;
    });
}

ENGRAM_API engram_status engram_scan_delta_grads_init(engram_scan_delta_grads* grads) {
    return guard(__func__, [&] {
        require_not_null(grads, "grads");
        std::memset(grads, 0, sizeof *grads);
        grads->struct_size = sizeof *grads;
        grads->dtype = ENGRAM_DTYPE_F32;
    });
}

ENGRAM_API engram_status engram_scan_delta_forward(engram_context* ctx,
                                                   const engram_scan_delta_inputs* in,
                                                   const engram_scan_options* opts, void* o,
                                                   float* final_state) {
    return run_op(__func__, ENGRAM_OP_SCAN_DELTA_FORWARD, ctx, [&](engram_context& c) {
        Sizes sz{};
        const DeltaProblem p = validate_inputs(c, in, opts, sz);
        check_output(c, o, sz.o, engram_dtype_size(p.out_dtype), "o");
        if (final_state) check_output(c, final_state, sz.state, 4, "final_state");
        std::vector<TensorSpan> spans = input_spans(in, p, sz);
        spans.push_back({o, sz.o, "o", true});
        spans.push_back({final_state, sz.state, "final_state", true});
        require_disjoint(spans);
        const ScratchAccount offsets(c, p.offsets.capacity() * sizeof(int64_t));  // memory stats see it
        delta_backend(c).forward(c, p, o, final_state);
    });
}

ENGRAM_API engram_status engram_scan_delta_decode(engram_context* ctx,
                                                  const engram_scan_delta_inputs* in,
                                                  const engram_scan_options* opts, void* o,
                                                  float* state_out) {
    return run_op(__func__, ENGRAM_OP_SCAN_DELTA_DECODE, ctx, [&](engram_context& c) {
        require_not_null(in, "in");
        require_struct_size(in->struct_size, sizeof *in, "in", "engram_scan_delta_inputs_init");
        if (in->cu_seqlens)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 "in->cu_seqlens must be NULL for the decode step (one token per sequence: "
                 "B sequences, t = 1)");
        Sizes sz{};
        const DeltaProblem p = validate_inputs(c, in, opts, sz);
        if (p.t != 1)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("in->t = %lld: the decode step takes one token (t = 1); use "
                        "engram_scan_delta_forward for more",
                        (long long)p.t));
        check_output(c, o, sz.o, engram_dtype_size(p.out_dtype), "o");
        check_output(c, state_out, sz.state, 4, "state_out");
        std::vector<TensorSpan> spans = input_spans(in, p, sz);
        // In place (state_out == initial_state) is the documented way to step
        // a state: each state row is read before it is written.
        if (state_out == p.initial_state) spans.back().p = nullptr;
        spans.push_back({o, sz.o, "o", true});
        spans.push_back({state_out, sz.state, "state_out", true});
        require_disjoint(spans);
        const ScratchAccount offsets(c, p.offsets.capacity() * sizeof(int64_t));  // memory stats see it
        delta_backend(c).decode(c, p, o, state_out);
    });
}

ENGRAM_API engram_status engram_scan_delta_backward(engram_context* ctx,
                                                    const engram_scan_delta_inputs* in,
                                                    const engram_scan_options* opts,
                                                    const void* grad_o,
                                                    const float* grad_final_state,
                                                    const engram_scan_delta_grads* grads) {
    return run_op(__func__, ENGRAM_OP_SCAN_DELTA_BACKWARD, ctx, [&](engram_context& c) {
        Sizes sz{};
        const DeltaProblem p = validate_inputs(c, in, opts, sz);
        require_not_null(grad_o, "grad_o");
        require_aligned(grad_o, engram_dtype_size(p.out_dtype), "grad_o");
        check_buffer(c, grad_o, sz.o, "grad_o");
        require_aligned(grad_final_state, 4, "grad_final_state");
        check_buffer(c, grad_final_state, sz.state, "grad_final_state");
        std::vector<TensorSpan> spans = input_spans(in, p, sz);
        spans.push_back({grad_o, sz.o, "grad_o", false});
        spans.push_back({grad_final_state, sz.state, "grad_final_state", false});
        const DeltaGrads g = validate_grads(c, p, sz, grads, spans);
        require_disjoint(spans);
        const ScratchAccount offsets(c, p.offsets.capacity() * sizeof(int64_t));  // memory stats see it
        delta_backend(c).backward(c, p, grad_o, grad_final_state, g);
    });
}

}  // extern "C"
