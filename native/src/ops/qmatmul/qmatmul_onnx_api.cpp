// qmatmul_onnx_api.cpp — engram_qmatmul_import_onnx / _export_onnx and
// engram_onnx_nbits_init: validate every field (messages name it), check
// that no output overlaps an input, then convert (qmatmul_onnx.cpp). Host
// memory on a CPU context, as the rest of the family.
#include <cstring>
#include <string>

#include "api/run_op.hpp"
#include "api/tensor_checks.hpp"
#include "ops/qmatmul/qmatmul_checks.hpp"
#include "ops/qmatmul/qmatmul_onnx.hpp"

using namespace engram;

namespace {

void require_bytes(uint64_t got, uint64_t expected, const char* name, const std::string& what) {
    if (got != expected)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("%s = %llu, expected %llu bytes for %s", name, (unsigned long long)got,
                    (unsigned long long)expected, what.c_str()));
}

struct NbitsSizes {
    uint64_t b = 0, scales = 0, zero_points = 0;
};

// The struct's scalar fields and array lengths; `prefix` is "src" or "dst".
OnnxNbits validate_nbits(const engram_onnx_nbits* o, const std::string& prefix, NbitsSizes& sz) {
    const std::string p = prefix + "->";
    require_not_null(o, prefix.c_str());
    require_struct_size(o->struct_size, sizeof *o, prefix.c_str(), "engram_onnx_nbits_init");
    if (o->bits != 2)
        fail(ENGRAM_ERR_UNSUPPORTED,
             format("%sbits = %d is not supported: Engram's format holds 2-bit codes", p.c_str(), o->bits));
    if (o->reserved != 0)
        fail(ENGRAM_ERR_INVALID_ARGUMENT, format("%sreserved must be 0, got %d", p.c_str(), o->reserved));
    require_dim(o->n, (p + "n").c_str());
    require_dim(o->k, (p + "k").c_str());
    qmatmul_require_group(o->block_size, o->k, (p + "block_size").c_str(), (p + "k").c_str());
    qmatmul_require_scale_dtype(o->scale_dtype, (p + "scale_dtype").c_str());
    if (o->zero_points_kind < ENGRAM_ONNX_ZP_NONE || o->zero_points_kind > ENGRAM_ONNX_ZP_FLOAT)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("%szero_points_kind = %d is not an engram_onnx_zero_points (NONE 0, PACKED 1, FLOAT 2)",
                    p.c_str(), o->zero_points_kind));
    OnnxNbits x;
    x.n = o->n;
    x.k = o->k;
    x.block = o->block_size;
    x.scale_dtype = engram_dtype(o->scale_dtype);
    x.zp_kind = engram_onnx_zero_points(o->zero_points_kind);
    const uint64_t ss = engram_dtype_size(x.scale_dtype);
    const std::string shape = format("N = %lld, K = %lld, block_size = %d", (long long)x.n,
                                     (long long)x.k, o->block_size);
    sz.b = uint64_t(x.n) * uint64_t(x.k / 4);
    sz.scales = uint64_t(x.n) * uint64_t(x.blocks()) * ss;
    sz.zero_points = x.zp_kind == ENGRAM_ONNX_ZP_NONE     ? 0
                     : x.zp_kind == ENGRAM_ONNX_ZP_PACKED ? uint64_t(x.n) * uint64_t(x.zp_row_bytes())
                                                          : sz.scales;
    require_not_null(o->b, (p + "b").c_str());
    require_bytes(o->b_bytes, sz.b, (p + "b_bytes").c_str(), shape + " ([N, n_blocks, blob_size])");
    require_not_null(o->scales, (p + "scales").c_str());
    require_aligned(o->scales, ss, (p + "scales").c_str());
    require_bytes(o->scale_bytes, sz.scales, (p + "scale_bytes").c_str(), shape + " ([N * n_blocks])");
    if (x.zp_kind == ENGRAM_ONNX_ZP_NONE) {
        if (o->zero_points || o->zero_point_bytes)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("%szero_points must be NULL and %szero_point_bytes 0 for ENGRAM_ONNX_ZP_NONE",
                        p.c_str(), p.c_str()));
    } else {
        require_not_null(o->zero_points, (p + "zero_points").c_str());
        if (x.zp_kind == ENGRAM_ONNX_ZP_FLOAT) require_aligned(o->zero_points, ss, (p + "zero_points").c_str());
        require_bytes(o->zero_point_bytes, sz.zero_points, (p + "zero_point_bytes").c_str(),
                      shape + (x.zp_kind == ENGRAM_ONNX_ZP_PACKED ? " (packed, per row)" : " ([N * n_blocks])"));
    }
    x.b = o->b;
    x.scales = o->scales;
    x.zero_points = o->zero_points;
    return x;
}

}  // namespace

extern "C" {

ENGRAM_API engram_status engram_onnx_nbits_init(engram_onnx_nbits* b) {
    return guard(__func__, [&] {
        require_not_null(b, "b");
        std::memset(b, 0, sizeof *b);
        b->struct_size = sizeof *b;
        b->bits = 2;
        b->block_size = 128;
        b->scale_dtype = ENGRAM_DTYPE_F32;
        b->zero_points_kind = ENGRAM_ONNX_ZP_PACKED;
    });
}

ENGRAM_API engram_status engram_qmatmul_import_onnx(engram_context* ctx,
                                                    const engram_onnx_nbits* src,
                                                    engram_dtype scale_dtype, uint32_t* codes,
                                                    uint64_t code_words, void* scales,
                                                    void* zeros) {
    return run_op(__func__, ENGRAM_OP_QMATMUL_IMPORT_ONNX, ctx, [&](engram_context& c) {
        qmatmul_backend_of(c);
        NbitsSizes sz;
        const OnnxNbits o = validate_nbits(src, "src", sz);
        qmatmul_require_scale_dtype(scale_dtype, "scale_dtype");
        const uint64_t words = qmatmul_code_words(o.n, o.k, ENGRAM_QLAYOUT_PLAIN);
        qmatmul_require_words(code_words, words, "code_words",
                              format("%lld x %lld codes in the plain layout", (long long)o.n, (long long)o.k).c_str());
        require_not_null(codes, "codes");
        require_not_null(scales, "scales");
        require_not_null(zeros, "zeros");
        const uint64_t ss = engram_dtype_size(scale_dtype);
        const uint64_t sbytes = uint64_t(o.n) * uint64_t(o.blocks()) * ss;
        require_aligned(codes, 4, "codes");
        require_aligned(scales, ss, "scales");
        require_aligned(zeros, ss, "zeros");
        check_buffer(c, o.b, sz.b, "src->b");
        check_buffer(c, o.scales, sz.scales, "src->scales");
        if (sz.zero_points) check_buffer(c, o.zero_points, sz.zero_points, "src->zero_points");
        check_buffer(c, codes, words * 4, "codes");
        check_buffer(c, scales, sbytes, "scales");
        check_buffer(c, zeros, sbytes, "zeros");
        std::vector<TensorSpan> spans{{o.b, sz.b, "src->b", false},
                                      {o.scales, sz.scales, "src->scales", false},
                                      {codes, words * 4, "codes", true},
                                      {scales, sbytes, "scales", true},
                                      {zeros, sbytes, "zeros", true}};
        if (sz.zero_points) spans.push_back({o.zero_points, sz.zero_points, "src->zero_points", false});
        require_disjoint(spans);
        onnx_to_engram(o, scale_dtype, codes, scales, zeros);
    });
}

ENGRAM_API engram_status engram_qmatmul_export_onnx(engram_context* ctx, const engram_qweight* w,
                                                    engram_onnx_nbits* dst) {
    return run_op(__func__, ENGRAM_OP_QMATMUL_EXPORT_ONNX, ctx, [&](engram_context& c) {
        qmatmul_backend_of(c);
        std::vector<TensorSpan> spans;
        const QWeight q = qmatmul_validate_weight(c, w, spans);
        NbitsSizes sz;
        const OnnxNbits o = validate_nbits(dst, "dst", sz);
        auto same = [](long long a, long long b, const char* dst_name, const char* w_name) {
            if (a != b)
                fail(ENGRAM_ERR_INVALID_ARGUMENT,
                     format("%s = %lld but %s = %lld: they must match", dst_name, a, w_name, b));
        };
        same(o.n, q.n_out, "dst->n", "w->n_out");
        same(o.k, q.k, "dst->k", "w->k");
        same(o.block, q.group, "dst->block_size", "w->group_size");
        same(o.scale_dtype, q.scale_dtype, "dst->scale_dtype", "w->scale_dtype");
        check_buffer(c, o.b, sz.b, "dst->b");
        check_buffer(c, o.scales, sz.scales, "dst->scales");
        if (sz.zero_points) check_buffer(c, o.zero_points, sz.zero_points, "dst->zero_points");
        spans.push_back({o.b, sz.b, "dst->b", true});
        spans.push_back({o.scales, sz.scales, "dst->scales", true});
        if (sz.zero_points) spans.push_back({o.zero_points, sz.zero_points, "dst->zero_points", true});
        require_disjoint(spans);
        std::vector<double> zp;
        int64_t bad_row = 0, bad_group = 0;
        if (!engram_zero_points(q, o.zp_kind, zp, bad_row, bad_group)) {
            const char* why = o.zp_kind == ENGRAM_ONNX_ZP_NONE
                                  ? "z is not -2 s (the default zero point 2)"
                              : o.zp_kind == ENGRAM_ONNX_ZP_PACKED
                                  ? "z is not -s zp for an integer zp in 0..3"
                                  : "s is 0 with z != 0, or s or z is not finite";
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("w (row %lld, group %lld): %s, so dst->zero_points_kind = %d cannot hold it exactly%s",
                        (long long)bad_row, (long long)bad_group, why, int(o.zp_kind),
                        o.zp_kind == ENGRAM_ONNX_ZP_FLOAT ? "" : " (ENGRAM_ONNX_ZP_FLOAT takes any s != 0)"));
        }
        engram_to_onnx(q, o.zp_kind, zp, const_cast<uint8_t*>(o.b), const_cast<void*>(o.scales),
                       const_cast<void*>(o.zero_points));
    });
}

}  // extern "C"
