// scan_based_api.cpp — the BASED entry points (engram_scan.h): the Taylor
// feature map and its backward, BASED linear attention, and the sliding-window
// softmax attention. Validate every argument, then dispatch.
#include <cmath>
#include <cstring>

#include "api/backend_table.hpp"
#include "api/run_op.hpp"
#include "api/tensor_checks.hpp"
#include "ops/scan/scan_based_backend.hpp"

using namespace engram;

namespace {

const BasedBackend& based_backend(const engram_context& c) {
    return backend_table<BasedBackend>(c, scan_based_cpu_backend(), nullptr, "scan");
}

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

struct FeatureSizes {
    uint64_t x, phi, dx;
};

FeatureSizes validate_feature_map(engram_context& c, int32_t dtype, int64_t rows, int64_t dim,
                                  const void* x) {
    require_float_dtype(dtype, "dtype");
    require_dim(rows, "rows");
    require_dim(dim, "dim");
    require_at_most(dim, ENGRAM_SCAN_BASED_MAX_DIM, "dim");
    const uint64_t es = engram_dtype_size(engram_dtype(dtype));
    FeatureSizes s;
    s.x = checked_bytes(rows, dim, es, "x [rows, dim]");
    s.phi = checked_bytes(rows, 1 + dim + dim * dim, 4, "phi [rows, 1 + dim + dim^2]");
    s.dx = checked_bytes(rows, dim, 4, "dx [rows, dim]");
    check_tensor(c, x, s.x, es, "x");
    return s;
}

// `window`: the sliding-window call (q/o take `heads`, k/v `qk_heads`).
BasedProblem validate(engram_context& c, const engram_scan_based_inputs* in, bool window,
                      std::vector<TensorSpan>& spans, uint64_t& o_bytes) {
    require_not_null(in, "in");
    require_struct_size(in->struct_size, sizeof *in, "in", "engram_scan_based_inputs_init");
    require_float_dtype(in->dtype, "in->dtype");
    BasedProblem p;
    p.dtype = engram_dtype(in->dtype);
    require_dim(in->batch, "in->batch");
    require_dim(in->t, "in->t");
    require_dim(in->heads, "in->heads");
    require_dim(in->k_dim, "in->k_dim");
    require_dim(in->v_dim, "in->v_dim");
    require_at_most(in->k_dim, window ? ENGRAM_SCAN_MAX_HEAD_DIM : ENGRAM_SCAN_BASED_MAX_DIM,
                    "in->k_dim");
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
    if (in->chunk_size < 0 || in->chunk_size > ENGRAM_SCAN_MAX_CHUNK)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("in->chunk_size = %d is outside [1, %d] (0 = default %d)", in->chunk_size,
                    ENGRAM_SCAN_MAX_CHUNK, ENGRAM_SCAN_DEFAULT_CHUNK));
    if (in->window < 0)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("in->window = %d must be >= 1 (0 = default %d)", in->window,
                    ENGRAM_SCAN_WINDOW_DEFAULT));
    if (!std::isfinite(in->scale))
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("in->scale must be finite (0 = 1/sqrt(K)), got %g", double(in->scale)));
    require_not_null(in->q, "in->q");
    require_not_null(in->k, "in->k");
    require_not_null(in->v, "in->v");
    p.batch = in->batch;
    p.t = in->t;
    p.heads = in->heads;
    p.qk_heads = hk;
    p.k_dim = in->k_dim;
    p.v_dim = in->v_dim;
    p.out_dtype = in->output_dtype == ENGRAM_SCAN_OUTPUT_DTYPE_INPUT
                      ? p.dtype
                      : engram_dtype(in->output_dtype);
    p.chunk = in->chunk_size == 0 ? ENGRAM_SCAN_DEFAULT_CHUNK : in->chunk_size;
    p.window = in->window == 0 ? ENGRAM_SCAN_WINDOW_DEFAULT : in->window;
    p.window = int32_t(std::min<int64_t>(p.window, p.t));  // a wider window sees the same keys
    p.scale = in->scale == 0.0f ? float(1.0 / std::sqrt(double(p.k_dim))) : in->scale;
    const uint64_t es = engram_dtype_size(p.dtype);
    const int64_t bt = p.batch * p.t;
    const int64_t q_heads = window ? p.heads : hk, v_heads = window ? hk : p.heads;
    const uint64_t qb = checked_bytes(bt, q_heads * p.k_dim, es, "in->q");
    const uint64_t kb = checked_bytes(bt, hk * p.k_dim, es, "in->k");
    const uint64_t vb = checked_bytes(bt, v_heads * p.v_dim, es, "in->v");
    o_bytes = checked_bytes(bt, p.heads * p.v_dim, engram_dtype_size(p.out_dtype), "o [B, T, H, V]");
    check_tensor(c, in->q, qb, es, "in->q");
    check_tensor(c, in->k, kb, es, "in->k");
    check_tensor(c, in->v, vb, es, "in->v");
    p.q = in->q;
    p.k = in->k;
    p.v = in->v;
    spans = {{p.q, qb, "in->q", false}, {p.k, kb, "in->k", false}, {p.v, vb, "in->v", false}};
    return p;
}

}  // namespace

extern "C" {

ENGRAM_API engram_status engram_scan_based_inputs_init(engram_scan_based_inputs* in) {
    return guard(__func__, [&] {
        require_not_null(in, "in");
        std::memset(in, 0, sizeof *in);
        in->struct_size = sizeof *in;
        in->dtype = ENGRAM_DTYPE_F32;
        in->output_dtype = ENGRAM_SCAN_OUTPUT_DTYPE_INPUT;
    });
}

ENGRAM_API engram_status engram_scan_based_feature_map(engram_context* ctx, int32_t dtype,
                                                       int64_t rows, int64_t dim,
                                                       const void* x, float* phi) {
    return run_op(__func__, ENGRAM_OP_SCAN_BASED_FEATURE_MAP, ctx, [&](engram_context& c) {
        const FeatureSizes s = validate_feature_map(c, dtype, rows, dim, x);
        check_tensor(c, phi, s.phi, 4, "phi");
        require_disjoint({{x, s.x, "x", false}, {phi, s.phi, "phi", true}});
        based_backend(c).feature_map(c, engram_dtype(dtype), rows, dim, x, phi);
    });
}

ENGRAM_API engram_status engram_scan_based_feature_map_backward(engram_context* ctx,
                                                                int32_t dtype, int64_t rows,
                                                                int64_t dim, const void* x,
                                                                const float* d_phi, float* dx) {
    return run_op(__func__, ENGRAM_OP_SCAN_BASED_FEATURE_MAP_BACKWARD, ctx, [&](engram_context& c) {
        const FeatureSizes s = validate_feature_map(c, dtype, rows, dim, x);
        check_tensor(c, d_phi, s.phi, 4, "d_phi");
        check_tensor(c, dx, s.dx, 4, "dx");
        require_disjoint({{x, s.x, "x", false}, {d_phi, s.phi, "d_phi", false}, {dx, s.dx, "dx", true}});
        based_backend(c).feature_map_backward(c, engram_dtype(dtype), rows, dim, x, d_phi, dx);
    });
}

ENGRAM_API engram_status engram_scan_based_forward(engram_context* ctx,
                                                   const engram_scan_based_inputs* in, void* o) {
    return run_op(__func__, ENGRAM_OP_SCAN_BASED_FORWARD, ctx, [&](engram_context& c) {
        std::vector<TensorSpan> spans;
        uint64_t ob = 0;
        const BasedProblem p = validate(c, in, false, spans, ob);
        check_tensor(c, o, ob, engram_dtype_size(p.out_dtype), "o");
        spans.push_back({o, ob, "o", true});
        require_disjoint(spans);
        based_backend(c).based_forward(c, p, o);
    });
}

ENGRAM_API engram_status engram_scan_sliding_window_forward(engram_context* ctx,
                                                            const engram_scan_based_inputs* in,
                                                            void* o) {
    return run_op(__func__, ENGRAM_OP_SCAN_SLIDING_WINDOW_FORWARD, ctx, [&](engram_context& c) {
        std::vector<TensorSpan> spans;
        uint64_t ob = 0;
        const BasedProblem p = validate(c, in, true, spans, ob);
        check_tensor(c, o, ob, engram_dtype_size(p.out_dtype), "o");
        spans.push_back({o, ob, "o", true});
        require_disjoint(spans);
        based_backend(c).window_forward(c, p, o);
    });
}

}  // extern "C"
