// scan_titans_api.cpp — the Titans neural memory entry points (engram_scan.h):
// validate every argument, then dispatch to the recurrence.
#include <cstring>
#include <vector>

#include "api/backend_table.hpp"
#include "api/run_op.hpp"
#include "api/tensor_checks.hpp"
#include "ops/scan/scan_titans_backend.hpp"

using namespace engram;

namespace {

void require_at_most(int64_t value, int64_t max, const char* name) {
    if (value > max)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("%s = %lld exceeds the supported maximum %lld", name, (long long)value,
                    (long long)max));
}

void check_tensor(engram_context& ctx, const void* p, uint64_t bytes, uint64_t align,
                  const char* name) {
    require_not_null(p, name);
    require_aligned(p, align, name);
    check_buffer(ctx, p, bytes, name);
}

struct Sizes {
    uint64_t o, state;
};

TitansProblem validate(engram_context& c, const engram_scan_titans_inputs* in,
                       std::vector<TensorSpan>& spans, Sizes& sz) {
    require_not_null(in, "in");
    require_struct_size(in->struct_size, sizeof *in, "in", "engram_scan_titans_inputs_init");
    require_float_dtype(in->dtype, "in->dtype");
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
    if (in->output_dtype != ENGRAM_SCAN_OUTPUT_DTYPE_INPUT &&
        in->output_dtype != ENGRAM_DTYPE_F32 && in->output_dtype != in->dtype)
        fail(ENGRAM_ERR_UNSUPPORTED,
             format("in->output_dtype = %d (%s): o is written as F32 or as the inputs' dtype (%s)",
                    in->output_dtype, dtype_name(in->output_dtype), dtype_name(in->dtype)));
    TitansProblem p;
    p.dtype = engram_dtype(in->dtype);
    p.out_dtype = in->output_dtype == ENGRAM_SCAN_OUTPUT_DTYPE_INPUT
                      ? p.dtype
                      : engram_dtype(in->output_dtype);
    p.batch = in->batch;
    p.t = in->t;
    p.heads = in->heads;
    p.qk_heads = hk;
    p.k_dim = in->k_dim;
    p.v_dim = in->v_dim;
    const uint64_t es = engram_dtype_size(p.dtype);
    const int64_t bt = p.batch * p.t;
    const uint64_t qk = checked_bytes(bt, hk * p.k_dim, es, "in->q / in->k [B, T, Hk, K]");
    const uint64_t vb = checked_bytes(bt, p.heads * p.v_dim, es, "in->v [B, T, H, V]");
    const uint64_t gb = checked_bytes(bt, p.heads, 4, "in->eta / theta / alpha [B, T, H]");
    sz.state = checked_bytes(p.batch * p.heads, p.k_dim * p.v_dim, 4, "memory [B, H, K, V]");
    sz.o = checked_bytes(bt, p.heads * p.v_dim, engram_dtype_size(p.out_dtype), "o [B, T, H, V]");
    check_tensor(c, in->q, qk, es, "in->q");
    check_tensor(c, in->k, qk, es, "in->k");
    check_tensor(c, in->v, vb, es, "in->v");
    check_tensor(c, in->eta, gb, 4, "in->eta");
    check_tensor(c, in->theta, gb, 4, "in->theta");
    check_tensor(c, in->alpha, gb, 4, "in->alpha");
    require_aligned(in->initial_memory, 4, "in->initial_memory");
    check_buffer(c, in->initial_memory, sz.state, "in->initial_memory");
    require_aligned(in->initial_surprise, 4, "in->initial_surprise");
    check_buffer(c, in->initial_surprise, sz.state, "in->initial_surprise");
    p.q = in->q;
    p.k = in->k;
    p.v = in->v;
    p.eta = in->eta;
    p.theta = in->theta;
    p.alpha = in->alpha;
    p.initial_memory = in->initial_memory;
    p.initial_surprise = in->initial_surprise;
    spans = {{p.q, qk, "in->q", false},
             {p.k, qk, "in->k", false},
             {p.v, vb, "in->v", false},
             {p.eta, gb, "in->eta", false},
             {p.theta, gb, "in->theta", false},
             {p.alpha, gb, "in->alpha", false},
             {p.initial_memory, sz.state, "in->initial_memory", false},
             {p.initial_surprise, sz.state, "in->initial_surprise", false}};
    return p;
}

const TitansBackend& titans_backend(const engram_context& c) {
    return backend_table<TitansBackend>(c, scan_titans_cpu_backend(), nullptr, "scan");
}

}  // namespace

extern "C" {

ENGRAM_API engram_status engram_scan_titans_inputs_init(engram_scan_titans_inputs* in) {
    return guard(__func__, [&] {
        require_not_null(in, "in");
        std::memset(in, 0, sizeof *in);
        in->struct_size = sizeof *in;
        in->dtype = ENGRAM_DTYPE_F32;
        in->output_dtype = ENGRAM_SCAN_OUTPUT_DTYPE_INPUT;
    });
}

ENGRAM_API engram_status engram_scan_titans_forward(engram_context* ctx,
                                                    const engram_scan_titans_inputs* in,
                                                    void* o, float* final_memory,
                                                    float* final_surprise) {
    return run_op(__func__, ENGRAM_OP_SCAN_TITANS_FORWARD, ctx, [&](engram_context& c) {
        std::vector<TensorSpan> spans;
        Sizes sz{};
        const TitansProblem p = validate(c, in, spans, sz);
        check_tensor(c, o, sz.o, engram_dtype_size(p.out_dtype), "o");
        if (final_memory) check_tensor(c, final_memory, sz.state, 4, "final_memory");
        if (final_surprise) check_tensor(c, final_surprise, sz.state, 4, "final_surprise");
        spans.push_back({o, sz.o, "o", true});
        spans.push_back({final_memory, sz.state, "final_memory", true});
        spans.push_back({final_surprise, sz.state, "final_surprise", true});
        require_disjoint(spans);
        titans_backend(c).forward(c, p, o, final_memory, final_surprise);
    });
}

ENGRAM_API engram_status engram_scan_titans_decode(engram_context* ctx,
                                                   const engram_scan_titans_inputs* in, void* o,
                                                   float* memory_out, float* surprise_out) {
    return run_op(__func__, ENGRAM_OP_SCAN_TITANS_DECODE, ctx, [&](engram_context& c) {
        std::vector<TensorSpan> spans;
        Sizes sz{};
        const TitansProblem p = validate(c, in, spans, sz);
        if (p.t != 1)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("in->t = %lld: the decode step takes one token (t = 1); use "
                        "engram_scan_titans_forward for more",
                        (long long)p.t));
        check_tensor(c, o, sz.o, engram_dtype_size(p.out_dtype), "o");
        check_tensor(c, memory_out, sz.state, 4, "memory_out");
        check_tensor(c, surprise_out, sz.state, 4, "surprise_out");
        // In place (out == initial) is the documented way to step: the step
        // copies its state in before writing it out. Any other overlap is
        // rejected.
        if (memory_out == p.initial_memory) spans[6].p = nullptr;
        if (surprise_out == p.initial_surprise) spans[7].p = nullptr;
        spans.push_back({o, sz.o, "o", true});
        spans.push_back({memory_out, sz.state, "memory_out", true});
        spans.push_back({surprise_out, sz.state, "surprise_out", true});
        require_disjoint(spans);
        titans_backend(c).forward(c, p, o, memory_out, surprise_out);
    });
}

}  // extern "C"
