// qmatmul_api.cpp — the 2-bit weight family's entry points: validate every
// argument (messages name it), check that no output overlaps another tensor,
// then dispatch to the context's backend.
#include <cmath>
#include <cstring>
#include <string>

#include "api/backend_table.hpp"
#include "api/run_op.hpp"
#include "api/tensor_checks.hpp"
#include "cuda/cuda_backend.hpp"
#include "ops/qmatmul/qmatmul_backend.hpp"
#include "ops/qmatmul/qmatmul_problem.hpp"

using namespace engram;

namespace {

const QmatmulBackend& qmatmul_backend(const engram_context& c) {
    return backend_table(c, qmatmul_cpu_backend(), qmatmul_cuda_backend(), "qmatmul");
}

void require_scale_dtype(int32_t dtype, const char* name) {
    if (dtype != ENGRAM_DTYPE_F32 && dtype != ENGRAM_DTYPE_F16)
        fail(ENGRAM_ERR_UNSUPPORTED,
             format("%s = %d (%s) is not supported: scales and zeros are F32 or F16", name, dtype,
                    dtype_name(dtype)));
}

void require_group(int64_t group, int64_t k, const char* group_name, const char* k_name) {
    if (group != 32 && group != 64 && group != 128)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("%s = %lld: the group size must be 32, 64 or 128", group_name, (long long)group));
    if (k % group != 0)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("%s = %lld is not a multiple of %s = %lld (2-bit groups are never padded: "
                    "pad the matrix with zero columns)",
                    k_name, (long long)k, group_name, (long long)group));
}

void require_k16(int64_t k, const char* name) {
    if (k % 16 != 0)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("%s = %lld is not a multiple of 16 (16 codes per word)", name, (long long)k));
}

void require_words(uint64_t got, uint64_t expected, const char* name, const char* what) {
    if (got != expected)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("%s = %llu, expected %llu words for %s", name, (unsigned long long)got,
                    (unsigned long long)expected, what));
}

engram_qlayout require_layout(int32_t layout, const char* name) {
    if (layout != ENGRAM_QLAYOUT_PLAIN && layout != ENGRAM_QLAYOUT_CPU_PREPARED)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("%s = %d is not an engram_qlayout (PLAIN 0, CPU_PREPARED 1)", name, layout));
    return engram_qlayout(layout);
}

// Code words of n_out x k, after require_dim and require_k16 (no overflow:
// both are < 2^31).
uint64_t code_words(int64_t n_out, int64_t k, engram_qlayout layout) {
    return qmatmul_code_words(n_out, k, layout);
}

std::string shape(int64_t n_out, int64_t k, engram_qlayout layout) {
    return format("%lld x %lld in the %s layout", (long long)n_out, (long long)k,
                  layout == ENGRAM_QLAYOUT_PLAIN ? "plain" : "CPU-prepared");
}

QWeight validate_weight(engram_context& ctx, const engram_qweight* w,
                        std::vector<TensorSpan>& spans) {
    require_not_null(w, "w");
    require_struct_size(w->struct_size, sizeof *w, "w", "engram_qweight_init");
    if (w->code_dtype != ENGRAM_DTYPE_U2)
        fail(ENGRAM_ERR_UNSUPPORTED,
             format("w->code_dtype = %d (%s) is not supported: use U2", w->code_dtype,
                    dtype_name(w->code_dtype)));
    require_scale_dtype(w->scale_dtype, "w->scale_dtype");
    QWeight q;
    q.scale_dtype = engram_dtype(w->scale_dtype);
    q.layout = require_layout(w->layout, "w->layout");
    if (w->reserved != 0)
        fail(ENGRAM_ERR_INVALID_ARGUMENT, format("w->reserved must be 0, got %d", w->reserved));
    require_dim(w->n_out, "w->n_out");
    require_dim(w->k, "w->k");
    require_group(w->group_size, w->k, "w->group_size", "w->k");
    q.group = w->group_size;
    q.n_out = w->n_out;
    q.k = w->k;
    require_not_null(w->codes, "w->codes");
    require_not_null(w->scales, "w->scales");
    require_not_null(w->zeros, "w->zeros");
    const uint64_t words = code_words(q.n_out, q.k, q.layout);
    require_words(w->code_words, words, "w->code_words", shape(q.n_out, q.k, q.layout).c_str());
    const uint64_t ss = engram_dtype_size(q.scale_dtype);
    const uint64_t sbytes = uint64_t(q.n_out) * uint64_t(q.k / q.group) * ss;
    require_aligned(w->codes, 4, "w->codes");
    require_aligned(w->scales, ss, "w->scales");
    require_aligned(w->zeros, ss, "w->zeros");
    check_buffer(ctx, w->codes, words * 4, "w->codes");
    check_buffer(ctx, w->scales, sbytes, "w->scales");
    check_buffer(ctx, w->zeros, sbytes, "w->zeros");
    q.codes = w->codes;
    q.scales = w->scales;
    q.zeros = w->zeros;
    spans.push_back({w->codes, words * 4, "w->codes", false});
    spans.push_back({w->scales, sbytes, "w->scales", false});
    spans.push_back({w->zeros, sbytes, "w->zeros", false});
    return q;
}

// Common checks of the layout conversions: shape, and that both arrays are
// host words of the expected lengths that do not overlap.
void validate_conversion(engram_context& ctx, const void* in,
                         uint64_t in_bytes, const char* in_name, void* out, uint64_t out_bytes,
                         const char* out_name, uint64_t in_align, uint64_t out_align) {
    require_not_null(in, in_name);
    require_not_null(out, out_name);
    require_aligned(in, in_align, in_name);
    require_aligned(out, out_align, out_name);
    check_buffer(ctx, in, in_bytes, in_name);
    check_buffer(ctx, out, out_bytes, out_name);
    require_disjoint({{in, in_bytes, in_name, false}, {out, out_bytes, out_name, true}});
}

// The quantizers' arguments (all but h); the tensors' spans go to `spans`.
QuantizeProblem validate_quantize(engram_context& c, int64_t n_out, int64_t k, engram_dtype w_dtype,
                                  const void* w, int32_t group_size, engram_dtype scale_dtype,
                                  uint32_t* codes, uint64_t code_words_, void* scales, void* zeros,
                                  std::vector<TensorSpan>& spans) {
    require_dim(n_out, "n_out");
    require_dim(k, "k");
    require_float_dtype(w_dtype, "w_dtype");
    require_group(group_size, k, "group_size", "k");
    require_scale_dtype(scale_dtype, "scale_dtype");
    require_not_null(w, "w");
    require_not_null(codes, "codes");
    require_not_null(scales, "scales");
    require_not_null(zeros, "zeros");
    const uint64_t words = code_words(n_out, k, ENGRAM_QLAYOUT_PLAIN);
    require_words(code_words_, words, "code_words", shape(n_out, k, ENGRAM_QLAYOUT_PLAIN).c_str());
    const uint64_t ws = engram_dtype_size(w_dtype), ss = engram_dtype_size(scale_dtype);
    const uint64_t wbytes = checked_bytes(n_out, k, ws, "w [n_out, k]");
    const uint64_t sbytes = uint64_t(n_out) * uint64_t(k / group_size) * ss;
    require_aligned(w, ws, "w");
    require_aligned(codes, 4, "codes");
    require_aligned(scales, ss, "scales");
    require_aligned(zeros, ss, "zeros");
    check_buffer(c, w, wbytes, "w");
    check_buffer(c, codes, words * 4, "codes");
    check_buffer(c, scales, sbytes, "scales");
    check_buffer(c, zeros, sbytes, "zeros");
    spans.push_back({w, wbytes, "w", false});
    spans.push_back({codes, words * 4, "codes", true});
    spans.push_back({scales, sbytes, "scales", true});
    spans.push_back({zeros, sbytes, "zeros", true});
    QuantizeProblem p;
    p.n_out = n_out;
    p.k = k;
    p.group = group_size;
    p.w_dtype = w_dtype;
    p.scale_dtype = scale_dtype;
    p.w = w;
    p.codes = codes;
    p.scales = scales;
    p.zeros = zeros;
    return p;
}

void require_shape16(int64_t n_out, int64_t k) {
    require_dim(n_out, "n_out");
    require_dim(k, "k");
    require_k16(k, "k");
}

}  // namespace

extern "C" {

ENGRAM_API engram_status engram_qweight_init(engram_qweight* w) {
    return guard(__func__, [&] {
        require_not_null(w, "w");
        std::memset(w, 0, sizeof *w);
        w->struct_size = sizeof *w;
        w->code_dtype = ENGRAM_DTYPE_U2;
        w->scale_dtype = ENGRAM_DTYPE_F32;
        w->group_size = 128;
        w->layout = ENGRAM_QLAYOUT_PLAIN;
    });
}

ENGRAM_API engram_status engram_qmatmul_code_words(int64_t n_out, int64_t k, engram_qlayout layout,
                                                   uint64_t* words) {
    return guard(__func__, [&] {
        require_not_null(words, "words");
        require_shape16(n_out, k);
        *words = code_words(n_out, k, require_layout(layout, "layout"));
    });
}

ENGRAM_API engram_status engram_qmatmul(engram_context* ctx, const engram_qweight* w, int64_t m,
                                        engram_dtype x_dtype, const void* x,
                                        engram_dtype y_dtype, void* y) {
    return run_op(__func__, ENGRAM_OP_QMATMUL, ctx, [&](engram_context& c) {
        const QmatmulBackend& backend = qmatmul_backend(c);
        std::vector<TensorSpan> spans;
        QMatmulProblem p;
        p.w = validate_weight(c, w, spans);
        require_dim(m, "m");
        require_float_dtype(x_dtype, "x_dtype");
        require_float_dtype(y_dtype, "y_dtype");
        if (y_dtype != ENGRAM_DTYPE_F32 && y_dtype != x_dtype)
            fail(ENGRAM_ERR_UNSUPPORTED,
                 format("y_dtype = %s: y is F32 or x's dtype (%s)", dtype_name(y_dtype),
                        dtype_name(x_dtype)));
        p.m = m;
        p.x_dtype = x_dtype;
        p.y_dtype = y_dtype;
        require_not_null(x, "x");
        require_not_null(y, "y");
        const uint64_t xs = engram_dtype_size(x_dtype), ys = engram_dtype_size(y_dtype);
        const uint64_t xbytes = checked_bytes(m, p.w.k, xs, "x [m, k]");
        const uint64_t ybytes = checked_bytes(m, p.w.n_out, ys, "y [m, n_out]");
        require_aligned(x, xs, "x");
        require_aligned(y, ys, "y");
        check_buffer(c, x, xbytes, "x");
        check_buffer(c, y, ybytes, "y");
        spans.push_back({x, xbytes, "x", false});
        spans.push_back({y, ybytes, "y", true});
        require_disjoint(spans);
        p.x = x;
        p.y = y;
        backend.qmatmul(c, p);
    });
}

ENGRAM_API engram_status engram_qmatmul_quantize_rtn(engram_context* ctx, int64_t n_out, int64_t k,
                                                     engram_dtype w_dtype, const void* w,
                                                     int32_t group_size,
                                                     engram_dtype scale_dtype, uint32_t* codes,
                                                     uint64_t code_words_, void* scales,
                                                     void* zeros) {
    return run_op(__func__, ENGRAM_OP_QMATMUL_QUANTIZE_RTN, ctx, [&](engram_context& c) {
        const QmatmulBackend& backend = qmatmul_backend(c);
        std::vector<TensorSpan> spans;
        const QuantizeProblem p = validate_quantize(c, n_out, k, w_dtype, w, group_size, scale_dtype,
                                                    codes, code_words_, scales, zeros, spans);
        require_disjoint(spans);
        backend.quantize_rtn(c, p);
    });
}

ENGRAM_API engram_status engram_qmatmul_quantize_refine(engram_context* ctx, int64_t n_out,
                                                        int64_t k, engram_dtype w_dtype,
                                                        const void* w, int32_t group_size,
                                                        engram_dtype scale_dtype, const float* h,
                                                        int32_t iterations, uint32_t* codes,
                                                        uint64_t code_words_, void* scales,
                                                        void* zeros) {
    return run_op(__func__, ENGRAM_OP_QMATMUL_QUANTIZE_REFINE, ctx, [&](engram_context& c) {
        const QmatmulBackend& backend = qmatmul_backend(c);
        std::vector<TensorSpan> spans;
        const QuantizeProblem p = validate_quantize(c, n_out, k, w_dtype, w, group_size, scale_dtype,
                                                    codes, code_words_, scales, zeros, spans);
        if (iterations < 0 || iterations > 100)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("iterations must be in [0, 100], got %d", iterations));
        require_not_null(h, "h");
        require_aligned(h, 4, "h");
        const uint64_t hbytes = checked_bytes(k, k, 4, "h [k, k]");
        check_buffer(c, h, hbytes, "h");
        spans.push_back({h, hbytes, "h", false});
        require_disjoint(spans);
        for (int64_t i = 0; i < k * k; ++i)
            if (!std::isfinite(h[i]))
                fail(ENGRAM_ERR_INVALID_ARGUMENT,
                     format("h[%lld] (row %lld, column %lld) is %g: h must be finite",
                            (long long)i, (long long)(i / k), (long long)(i % k), double(h[i])));
        backend.quantize_refine(c, p, h, iterations);
    });
}

ENGRAM_API engram_status engram_qmatmul_pack(engram_context* ctx, int64_t n_out, int64_t k,
                                             const uint8_t* codes, uint32_t* words,
                                             uint64_t code_words_) {
    return run_op(__func__, ENGRAM_OP_QMATMUL_PACK, ctx, [&](engram_context& c) {
        const QmatmulBackend& backend = qmatmul_backend(c);
        require_shape16(n_out, k);
        const uint64_t nw = code_words(n_out, k, ENGRAM_QLAYOUT_PLAIN);
        require_words(code_words_, nw, "code_words", shape(n_out, k, ENGRAM_QLAYOUT_PLAIN).c_str());
        validate_conversion(c, codes, uint64_t(n_out) * uint64_t(k), "codes", words,
                            nw * 4, "words", 1, 4);
        backend.pack(c, n_out, k, codes, words);
    });
}

ENGRAM_API engram_status engram_qmatmul_unpack(engram_context* ctx, int64_t n_out, int64_t k,
                                               const uint32_t* words, uint64_t code_words_,
                                               uint8_t* codes) {
    return run_op(__func__, ENGRAM_OP_QMATMUL_UNPACK, ctx, [&](engram_context& c) {
        const QmatmulBackend& backend = qmatmul_backend(c);
        require_shape16(n_out, k);
        const uint64_t nw = code_words(n_out, k, ENGRAM_QLAYOUT_PLAIN);
        require_words(code_words_, nw, "code_words", shape(n_out, k, ENGRAM_QLAYOUT_PLAIN).c_str());
        validate_conversion(c, words, nw * 4, "words", codes,
                            uint64_t(n_out) * uint64_t(k), "codes", 4, 1);
        backend.unpack(c, n_out, k, words, codes);
    });
}

ENGRAM_API engram_status engram_qmatmul_prepare(engram_context* ctx, int64_t n_out, int64_t k,
                                                const uint32_t* plain, uint64_t plain_words,
                                                uint32_t* prepared, uint64_t prepared_words) {
    return run_op(__func__, ENGRAM_OP_QMATMUL_PREPARE, ctx, [&](engram_context& c) {
        const QmatmulBackend& backend = qmatmul_backend(c);
        require_shape16(n_out, k);
        const uint64_t pw = code_words(n_out, k, ENGRAM_QLAYOUT_PLAIN);
        const uint64_t qw = code_words(n_out, k, ENGRAM_QLAYOUT_CPU_PREPARED);
        require_words(plain_words, pw, "plain_words", shape(n_out, k, ENGRAM_QLAYOUT_PLAIN).c_str());
        require_words(prepared_words, qw, "prepared_words",
                      shape(n_out, k, ENGRAM_QLAYOUT_CPU_PREPARED).c_str());
        validate_conversion(c, plain, pw * 4, "plain", prepared, qw * 4, "prepared", 4, 4);
        backend.prepare(c, n_out, k, plain, prepared);
    });
}

ENGRAM_API engram_status engram_qmatmul_unprepare(engram_context* ctx, int64_t n_out, int64_t k,
                                                  const uint32_t* prepared,
                                                  uint64_t prepared_words, uint32_t* plain,
                                                  uint64_t plain_words) {
    return run_op(__func__, ENGRAM_OP_QMATMUL_UNPREPARE, ctx, [&](engram_context& c) {
        const QmatmulBackend& backend = qmatmul_backend(c);
        require_shape16(n_out, k);
        const uint64_t pw = code_words(n_out, k, ENGRAM_QLAYOUT_PLAIN);
        const uint64_t qw = code_words(n_out, k, ENGRAM_QLAYOUT_CPU_PREPARED);
        require_words(prepared_words, qw, "prepared_words",
                      shape(n_out, k, ENGRAM_QLAYOUT_CPU_PREPARED).c_str());
        require_words(plain_words, pw, "plain_words", shape(n_out, k, ENGRAM_QLAYOUT_PLAIN).c_str());
        validate_conversion(c, prepared, qw * 4, "prepared", plain, pw * 4, "plain", 4, 4);
        backend.unprepare(c, n_out, k, prepared, plain);
    });
}

}  // extern "C"

// The checks other entry-point files of the family share (qmatmul_checks.hpp).
namespace engram {

const QmatmulBackend& qmatmul_backend_of(const engram_context& ctx) { return qmatmul_backend(ctx); }
QWeight qmatmul_validate_weight(engram_context& ctx, const engram_qweight* w,
                                std::vector<TensorSpan>& spans) {
    return validate_weight(ctx, w, spans);
}
void qmatmul_require_scale_dtype(int32_t dtype, const char* name) { require_scale_dtype(dtype, name); }
void qmatmul_require_group(int64_t group, int64_t k, const char* group_name, const char* k_name) {
    require_group(group, k, group_name, k_name);
}
engram_qlayout qmatmul_require_layout(int32_t layout, const char* name) {
    return require_layout(layout, name);
}
void qmatmul_require_words(uint64_t got, uint64_t expected, const char* name, const char* what) {
    require_words(got, expected, name, what);
}

}  // namespace engram
