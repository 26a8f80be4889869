// qmatmul_bitstack_api.cpp — engram_qmatmul_bitstack_decompose,
// engram_qmatmul_bitstack and engram_bitstack_init: validate every argument
// (messages name it), reject overlapping outputs, then run the CPU code
// (cpu/qmatmul_bitstack.cpp; a CUDA context gets ENGRAM_ERR_UNSUPPORTED, as
// for the rest of the family).
#include <cmath>
#include <cstring>
#include <string>

#include "api/run_op.hpp"
#include "api/tensor_checks.hpp"
#include "ops/qmatmul/cpu/qmatmul_bitstack.hpp"
#include "ops/qmatmul/qmatmul_checks.hpp"
#include "shared/half.h"

using namespace engram;

namespace {

void require_k32(int64_t k, const char* name) {
    if (k % 32 != 0)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("%s = %lld is not a multiple of 32 (32 sign bits per word; pad the matrix with "
                    "zero columns)",
                    name, (long long)k));
}

void require_planes(int64_t planes, const char* name) {
    if (planes < 1 || planes > 32)
        fail(ENGRAM_ERR_INVALID_ARGUMENT, format("%s = %lld: planes must be 1..32", name, (long long)planes));
}

uint64_t sign_words_of(int64_t planes, int64_t n_out, int64_t k) {
    return uint64_t(planes) * uint64_t(n_out) * uint64_t(k / 32);
}

float load_float(const void* w, engram_dtype dt, int64_t i) {
    switch (dt) {
        case ENGRAM_DTYPE_F16: return f16_to_f32(static_cast<const uint16_t*>(w)[i]);
        case ENGRAM_DTYPE_BF16: return bf16_to_f32(static_cast<const uint16_t*>(w)[i]);
        default: return static_cast<const float*>(w)[i];
    }
}

}  // namespace

extern "C" {

ENGRAM_API engram_status engram_bitstack_init(engram_bitstack* b) {
    return guard(__func__, [&] {
        require_not_null(b, "b");
        std::memset(b, 0, sizeof *b);
        b->struct_size = sizeof *b;
        b->planes = 1;
    });
}

ENGRAM_API engram_status engram_qmatmul_bitstack_decompose(engram_context* ctx, int64_t n_out,
                                                           int64_t k, engram_dtype w_dtype,
                                                           const void* w, int32_t planes,
                                                           uint32_t* signs, uint64_t sign_words,
                                                           float* row_scales, float* col_scales) {
    return run_op(__func__, ENGRAM_OP_QMATMUL_BITSTACK_DECOMPOSE, ctx, [&](engram_context& c) {
        qmatmul_backend_of(c);
        require_dim(n_out, "n_out");
        require_dim(k, "k");
        require_k32(k, "k");
        require_float_dtype(w_dtype, "w_dtype");
        require_planes(planes, "planes");
        require_not_null(w, "w");
        require_not_null(signs, "signs");
        require_not_null(row_scales, "row_scales");
        require_not_null(col_scales, "col_scales");
        const uint64_t words = sign_words_of(planes, n_out, k);
        qmatmul_require_words(sign_words, words, "sign_words",
                              format("%d planes of %lld x %lld signs", planes, (long long)n_out, (long long)k).c_str());
        const uint64_t ws = engram_dtype_size(w_dtype);
        const uint64_t wbytes = checked_bytes(n_out, k, ws, "w [n_out, k]");
        const uint64_t ubytes = uint64_t(planes) * uint64_t(n_out) * 4, vbytes = uint64_t(planes) * uint64_t(k) * 4;
        require_aligned(w, ws, "w");
        require_aligned(signs, 4, "signs");
        require_aligned(row_scales, 4, "row_scales");
        require_aligned(col_scales, 4, "col_scales");
        check_buffer(c, w, wbytes, "w");
        check_buffer(c, signs, words * 4, "signs");
        check_buffer(c, row_scales, ubytes, "row_scales");
        check_buffer(c, col_scales, vbytes, "col_scales");
        require_disjoint({{w, wbytes, "w", false},
                          {signs, words * 4, "signs", true},
                          {row_scales, ubytes, "row_scales", true},
                          {col_scales, vbytes, "col_scales", true}});
        for (int64_t i = 0; i < n_out * k; ++i) {
            const float v = load_float(w, w_dtype, i);
            if (!std::isfinite(v))
                fail(ENGRAM_ERR_INVALID_ARGUMENT,
                     format("w[%lld] (row %lld, column %lld) is %g: BitStack needs finite weights",
                            (long long)i, (long long)(i / k), (long long)(i % k), double(v)));
        }
        cpu::bitstack_decompose(c, n_out, k, w_dtype, w, planes, signs, row_scales, col_scales);
    });
}

ENGRAM_API engram_status engram_qmatmul_bitstack(engram_context* ctx, const engram_bitstack* b,
                                                 int32_t p, int64_t m, engram_dtype x_dtype,
                                                 const void* x, engram_dtype y_dtype, void* y) {
    return run_op(__func__, ENGRAM_OP_QMATMUL_BITSTACK, ctx, [&](engram_context& c) {
        qmatmul_backend_of(c);
        require_not_null(b, "b");
        require_struct_size(b->struct_size, sizeof *b, "b", "engram_bitstack_init");
        require_planes(b->planes, "b->planes");
        require_dim(b->n_out, "b->n_out");
        require_dim(b->k, "b->k");
        require_k32(b->k, "b->k");
        if (p < 1 || p > b->planes)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("p = %d: the planes used must be 1..b->planes = %d", p, b->planes));
        require_not_null(b->signs, "b->signs");
        require_not_null(b->row_scales, "b->row_scales");
        require_not_null(b->col_scales, "b->col_scales");
        const uint64_t words = sign_words_of(b->planes, b->n_out, b->k);
        qmatmul_require_words(b->sign_words, words, "b->sign_words",
                              format("%d planes of %lld x %lld signs", b->planes, (long long)b->n_out,
                                     (long long)b->k).c_str());
        require_dim(m, "m");
        require_float_dtype(x_dtype, "x_dtype");
        require_float_dtype(y_dtype, "y_dtype");
        if (y_dtype != ENGRAM_DTYPE_F32 && y_dtype != x_dtype)
            fail(ENGRAM_ERR_UNSUPPORTED,
                 format("y_dtype = %s: y is F32 or x's dtype (%s)", dtype_name(y_dtype), dtype_name(x_dtype)));
        require_not_null(x, "x");
        require_not_null(y, "y");
        const uint64_t xs = engram_dtype_size(x_dtype), ys = engram_dtype_size(y_dtype);
        const uint64_t xbytes = checked_bytes(m, b->k, xs, "x [m, k]");
        const uint64_t ybytes = checked_bytes(m, b->n_out, ys, "y [m, n_out]");
        const uint64_t ubytes = uint64_t(b->planes) * uint64_t(b->n_out) * 4;
        const uint64_t vbytes = uint64_t(b->planes) * uint64_t(b->k) * 4;
        require_aligned(b->signs, 4, "b->signs");
        require_aligned(b->row_scales, 4, "b->row_scales");
        require_aligned(b->col_scales, 4, "b->col_scales");
        require_aligned(x, xs, "x");
        require_aligned(y, ys, "y");
        check_buffer(c, b->signs, words * 4, "b->signs");
        check_buffer(c, b->row_scales, ubytes, "b->row_scales");
        check_buffer(c, b->col_scales, vbytes, "b->col_scales");
        check_buffer(c, x, xbytes, "x");
        check_buffer(c, y, ybytes, "y");
        require_disjoint({{b->signs, words * 4, "b->signs", false},
                          {b->row_scales, ubytes, "b->row_scales", false},
                          {b->col_scales, vbytes, "b->col_scales", false},
                          {x, xbytes, "x", false},
                          {y, ybytes, "y", true}});
        cpu::BitstackPlanes planes;
        planes.n_out = b->n_out;
        planes.k = b->k;
        planes.planes = b->planes;
        planes.signs = b->signs;
        planes.u = b->row_scales;
        planes.v = b->col_scales;
        cpu::bitstack_product(c, planes, p, m, x_dtype, x, y_dtype, y);
    });
}

}  // extern "C"
