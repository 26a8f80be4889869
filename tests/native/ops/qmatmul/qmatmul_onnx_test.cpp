// qmatmul_onnx_test.cpp — ONNX Runtime MatMulNBits (bits = 2) import and
// export: the layout written out independently from the contrib op's
// definition (B [N, n_blocks, blob_size] codes low bits first, scales
// [N * n_blocks], zero points packed per row or unpacked floats, default 2),
// dequantised here as (q - zp) * scale and compared with Engram's reference
// of the imported matrix; exact round trips both ways; bad input rejected.
#include <cmath>
#include <cstring>

#include "ops/qmatmul/qmatmul_harness.hpp"
#include "shared/half.h"
#include "test_util.hpp"

namespace engram_test {
namespace {

struct Ctx {
    engram_context* c = nullptr;
    Ctx() { engram_context_create(ENGRAM_BACKEND_CPU, 0, &c); }
    ~Ctx() { engram_context_destroy(c); }
};

// A MatMulNBits weight with its arrays.
struct Nbits {
    int64_t n = 0, k = 0, block = 0;
    engram_dtype sd = ENGRAM_DTYPE_F32;
    engram_onnx_zero_points kind = ENGRAM_ONNX_ZP_PACKED;
    std::vector<uint8_t> b, scales, zp;
    engram_onnx_nbits desc() {
        engram_onnx_nbits d;
        engram_onnx_nbits_init(&d);
        d.n = n;
        d.k = k;
        d.block_size = int32_t(block);
        d.scale_dtype = sd;
        d.zero_points_kind = kind;
        d.b = b.data();
        d.b_bytes = b.size();
        d.scales = scales.data();
        d.scale_bytes = scales.size();
        d.zero_points = kind == ENGRAM_ONNX_ZP_NONE ? nullptr : zp.data();
        d.zero_point_bytes = kind == ENGRAM_ONNX_ZP_NONE ? 0 : zp.size();
        return d;
    }
    int64_t blocks() const { return k / block; }
    // From the contrib op's definition, independently of the library.
    double code(int64_t r, int64_t c) const {
        const int64_t blob = block / 4;
        const uint8_t byte = b[size_t((r * blocks() + c / block) * blob + (c % block) / 4)];
        return double((byte >> (2 * (c % 4))) & 3);
    }
    double scale(int64_t r, int64_t g) const { return decode(scales, r * blocks() + g); }
    double zero_point(int64_t r, int64_t g) const {
        if (kind == ENGRAM_ONNX_ZP_NONE) return 2.0;
        if (kind == ENGRAM_ONNX_ZP_FLOAT) return decode(zp, r * blocks() + g);
        const int64_t row_bytes = (blocks() * 2 + 7) / 8;
        return double((zp[size_t(r * row_bytes + g / 4)] >> (2 * (g % 4))) & 3);
    }
    double decode(const std::vector<uint8_t>& raw, int64_t i) const {
        return decode_floats(sd, raw.data() + size_t(i) * engram_dtype_size(sd), 1)[0];
    }
    double dequant(int64_t r, int64_t c) const {
        return (code(r, c) - zero_point(r, c / block)) * scale(r, c / block);
    }
};

Nbits random_nbits(int64_t n, int64_t k, int64_t block, engram_dtype sd, engram_onnx_zero_points kind,
                   uint64_t seed) {
    Rng rng(seed);
    Nbits o;
    o.n = n;
    o.k = k;
    o.block = block;
    o.sd = sd;
    o.kind = kind;
    o.b.resize(static_cast<size_t>(n * k / 4));
    for (uint8_t& x : o.b) x = uint8_t(rng.bits32());
    std::vector<float> s(static_cast<size_t>(n * o.blocks()));
    for (float& x : s) x = float(rng.uniform(0.001, 0.1) * (rng.chance(0.2) ? -1 : 1));
    o.scales = encode_floats(sd, s);
    if (kind == ENGRAM_ONNX_ZP_PACKED) {
        const int64_t row_bytes = (o.blocks() + 3) / 4;
        o.zp.assign(size_t(n * row_bytes), 0);
        for (int64_t r = 0; r < n; ++r)
            for (int64_t g = 0; g < o.blocks(); ++g)
                o.zp[size_t(r * row_bytes + g / 4)] |= uint8_t((rng.bits32() & 3u) << (2 * (g % 4)));
    } else if (kind == ENGRAM_ONNX_ZP_FLOAT) {
        std::vector<float> z(static_cast<size_t>(n * o.blocks()));
        for (float& x : z) x = float(rng.uniform(-1.0, 4.0));
        o.zp = encode_floats(sd, z);
    }
    return o;
}

struct Engram {
    std::vector<uint32_t> codes;
    std::vector<uint8_t> scales, zeros;
    engram_dtype sd = ENGRAM_DTYPE_F32;
    int64_t n = 0, k = 0, g = 0;
    engram_qweight qweight() const {
        engram_qweight w;
        engram_qweight_init(&w);
        w.scale_dtype = sd;
        w.group_size = int32_t(g);
        w.n_out = n;
        w.k = k;
        w.codes = codes.data();
        w.code_words = codes.size();
        w.scales = scales.data();
        w.zeros = zeros.data();
        return w;
    }
    double value(int64_t r, int64_t c) const {
        const double s = decode_floats(sd, scales.data() + size_t(r * (k / g) + c / g) * engram_dtype_size(sd), 1)[0];
        const double z = decode_floats(sd, zeros.data() + size_t(r * (k / g) + c / g) * engram_dtype_size(sd), 1)[0];
        const double q = (codes[size_t(r * (k / 16) + c / 16)] >> (2 * (c % 16))) & 3u;
        return s * q + z;
    }
};

Engram import(engram_context* c, Nbits& o, engram_dtype sd) {
    Engram e;
    e.sd = sd;
    e.n = o.n;
    e.k = o.k;
    e.g = o.block;
    e.codes.assign(size_t(o.n * o.k / 16), 0xDEADBEEFu);
    const size_t sb = size_t(o.n * o.blocks()) * engram_dtype_size(sd);
    e.scales.assign(sb, 0xAB);
    e.zeros.assign(sb, 0xAB);
    const engram_onnx_nbits d = o.desc();
    EXPECT_OK(engram_qmatmul_import_onnx(c, &d, sd, e.codes.data(), e.codes.size(), e.scales.data(),
                                         e.zeros.data()));
    return e;
}

// The imported matrix is the MatMulNBits matrix: every weight equal (F16
// scales into F32: exactly; else within the dtype's rounding of z).
TEST(QmatmulOnnx, ImportDequantisesLikeMatMulNBits) {
    Ctx ctx;
    for (engram_dtype ort_sd : {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16})
        for (engram_onnx_zero_points kind : {ENGRAM_ONNX_ZP_NONE, ENGRAM_ONNX_ZP_PACKED, ENGRAM_ONNX_ZP_FLOAT})
            for (const auto& [n, k, block] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
                     {1, 32, 32}, {5, 96, 32}, {3, 640, 128}, {7, 320, 64}, {2, 1152, 128}})
                for (engram_dtype sd : {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16}) {
                    Nbits o = random_nbits(n, k, block, ort_sd, kind, uint64_t(n * k + block + int(kind)));
                    const Engram e = import(ctx.c, o, sd);
                    double worst = 0.0;
                    for (int64_t r = 0; r < n; ++r)
                        for (int64_t c = 0; c < k; ++c) {
                            const double want = o.dequant(r, c), got = e.value(r, c);
                            // Engram's z = -(s zp) is rounded to its dtype (F16 via F32), and s
                            // to F16 when ORT's is F32: a relative 2^-11 (F16) / 2^-24 (F32)
                            // of |s| (|zp| + 3), plus F16's subnormal spacing.
                            const double s = std::fabs(o.scale(r, c / block)), zp = std::fabs(o.zero_point(r, c / block));
                            const double u = sd == ENGRAM_DTYPE_F16 ? std::ldexp(1.0, -11) : std::ldexp(1.0, -24);
                            const bool exact = (ort_sd == ENGRAM_DTYPE_F16 && sd == ENGRAM_DTYPE_F32 && kind != ENGRAM_ONNX_ZP_FLOAT);
                            const double bound = exact ? 0.0 : 2 * u * s * (zp + 3.0) + std::ldexp(1.0, -24);
                            EXPECT_LE(std::fabs(got - want), bound) << "r " << r << " c " << c;
                            worst = std::max(worst, std::fabs(got - want));
                        }
                    // The codes are B's bytes.
                    EXPECT_EQ(0, std::memcmp(e.codes.data(), o.b.data(), o.b.size()));
                }
}

// ORT -> Engram -> ORT is exact for NONE and PACKED zero points (and any
// scale dtypes with Engram's the same as ORT's), and Engram -> ORT -> Engram
// too.
TEST(QmatmulOnnx, RoundTripsAreExact) {
    Ctx ctx;
    for (engram_dtype sd : {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16})
        for (engram_onnx_zero_points kind : {ENGRAM_ONNX_ZP_NONE, ENGRAM_ONNX_ZP_PACKED})
            for (const auto& [n, k, block] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
                     {1, 32, 32}, {5, 96, 32}, {3, 640, 128}, {9, 448, 64}}) {
                Nbits o = random_nbits(n, k, block, sd, kind, uint64_t(7 * n + k));
                const Engram e = import(ctx.c, o, sd);
                Nbits back = o;
                std::fill(back.b.begin(), back.b.end(), 0x55);
                std::fill(back.scales.begin(), back.scales.end(), 0x55);
                std::fill(back.zp.begin(), back.zp.end(), 0x55);
                engram_onnx_nbits d = back.desc();
                const engram_qweight w = e.qweight();
                ASSERT_OK(engram_qmatmul_export_onnx(ctx.c, &w, &d));
                EXPECT_EQ(o.b, back.b);
                EXPECT_EQ(o.scales, back.scales);
                EXPECT_EQ(o.zp, back.zp);
                const Engram again = import(ctx.c, back, sd);
                EXPECT_EQ(e.codes, again.codes);
                EXPECT_EQ(e.scales, again.scales);
                EXPECT_EQ(e.zeros, again.zeros);
                // The CPU-prepared layout exports the same B.
                std::vector<uint32_t> prepared(size_t((n + 3) / 4 * 4 * (k / 16)));
                ASSERT_OK(engram_qmatmul_prepare(ctx.c, n, k, e.codes.data(), e.codes.size(), prepared.data(),
                                                 prepared.size()));
                engram_qweight wp = w;
                wp.layout = ENGRAM_QLAYOUT_CPU_PREPARED;
                wp.codes = prepared.data();
                wp.code_words = prepared.size();
                std::fill(back.b.begin(), back.b.end(), 0x55);
                d = back.desc();
                ASSERT_OK(engram_qmatmul_export_onnx(ctx.c, &wp, &d));
                EXPECT_EQ(o.b, back.b);
            }
}

// A matrix Engram quantized by RTN (z = min) has no integer zero points:
// PACKED export names the first such group and writes nothing; FLOAT export
// takes it, with zp = -z / s rounded, so its dequantisation is within the
// rounding of zp.
TEST(QmatmulOnnx, ExportOfArbitraryZerosNeedsFloatZeroPoints) {
    Ctx ctx;
    QSpec s;
    s.n_out = 6;
    s.k = 128;
    s.group = 32;
    s.scale_dtype = ENGRAM_DTYPE_F32;
    const QData d = make_qdata(s);
    const engram_qweight w = d.qweight();
    Nbits o = random_nbits(6, 128, 32, ENGRAM_DTYPE_F32, ENGRAM_ONNX_ZP_PACKED, 3);
    const Nbits before = o;
    engram_onnx_nbits desc = o.desc();
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_export_onnx(ctx.c, &w, &desc), "row 0, group 0",
                  "integer zp");
    EXPECT_EQ(before.b, o.b);
    EXPECT_EQ(before.scales, o.scales);
    EXPECT_EQ(before.zp, o.zp);
    Nbits f = random_nbits(6, 128, 32, ENGRAM_DTYPE_F32, ENGRAM_ONNX_ZP_FLOAT, 4);
    desc = f.desc();
    ASSERT_OK(engram_qmatmul_export_onnx(ctx.c, &w, &desc));
    for (int64_t r = 0; r < 6; ++r)
        for (int64_t c = 0; c < 128; ++c) {
            const double want = d.ref.scales[size_t(r * 4 + c / 32)] * ref_code(d.ref, r, c) + d.ref.zeros[size_t(r * 4 + c / 32)];
            const double zp = std::fabs(f.zero_point(r, c / 32)), sc = std::fabs(f.scale(r, c / 32));
            EXPECT_NEAR(want, f.dequant(r, c), std::ldexp(1.0, -23) * sc * (zp + 3.0) + 1e-30);
        }
}

TEST(QmatmulOnnx, BadInputIsRejectedWithNothingWritten) {
    Ctx ctx;
    Nbits o = random_nbits(4, 128, 64, ENGRAM_DTYPE_F16, ENGRAM_ONNX_ZP_PACKED, 9);
    std::vector<uint32_t> codes(4 * 8, 0xDEADBEEFu);
    std::vector<uint8_t> s(4 * 2 * 4, 0xAB), z(4 * 2 * 4, 0xAB);
    auto call = [&](const engram_onnx_nbits& d, engram_dtype sd = ENGRAM_DTYPE_F32) {
        return engram_qmatmul_import_onnx(ctx.c, &d, sd, codes.data(), codes.size(), s.data(), z.data());
    };
    struct Fault {
        const char* needle;
        engram_status st;
        void (*edit)(engram_onnx_nbits&);
    };
    const Fault faults[] = {
        {"src->struct_size", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_onnx_nbits& d) { d.struct_size = 4; }},
        {"src->bits", ENGRAM_ERR_UNSUPPORTED, [](engram_onnx_nbits& d) { d.bits = 4; }},
        {"src->block_size", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_onnx_nbits& d) { d.block_size = 16; }},
        {"src->k", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_onnx_nbits& d) { d.k = 96; }},
        {"src->n", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_onnx_nbits& d) { d.n = 0; }},
        {"src->scale_dtype", ENGRAM_ERR_UNSUPPORTED, [](engram_onnx_nbits& d) { d.scale_dtype = ENGRAM_DTYPE_BF16; }},
        {"src->zero_points_kind", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_onnx_nbits& d) { d.zero_points_kind = 3; }},
        {"src->reserved", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_onnx_nbits& d) { d.reserved = 1; }},
        {"src->b_bytes", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_onnx_nbits& d) { d.b_bytes -= 1; }},
        {"src->b", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_onnx_nbits& d) { d.b = nullptr; }},
        {"src->scales", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_onnx_nbits& d) { d.scales = nullptr; }},
        {"src->scale_bytes", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_onnx_nbits& d) { d.scale_bytes += 2; }},
        {"src->zero_point_bytes", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_onnx_nbits& d) { d.zero_point_bytes = 8; }},
        {"src->zero_points", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_onnx_nbits& d) { d.zero_points = nullptr; }},
        {"ENGRAM_ONNX_ZP_NONE", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_onnx_nbits& d) { d.zero_points_kind = 0; }},
    };
    for (const Fault& f : faults) {
        engram_onnx_nbits d = o.desc();
        f.edit(d);
        EXPECT_STATUS(f.st, call(d), f.needle);
    }
    engram_onnx_nbits d = o.desc();
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_import_onnx(ctx.c, &d, ENGRAM_DTYPE_F32, codes.data(),
                                                                          codes.size() + 1, s.data(), z.data()),
                  "code_words");
    EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED, call(d, ENGRAM_DTYPE_BF16), "scale_dtype");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_import_onnx(ctx.c, &d, ENGRAM_DTYPE_F32, codes.data(),
                                                                          codes.size(), s.data(), s.data()),
                  "overlap");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_import_onnx(ctx.c, &d, ENGRAM_DTYPE_F32,
                                                                          reinterpret_cast<uint32_t*>(o.b.data()),
                                                                          codes.size(), s.data(), z.data()),
                  "overlap");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_import_onnx(ctx.c, nullptr, ENGRAM_DTYPE_F32,
                                                                          codes.data(), codes.size(), s.data(), z.data()),
                  "src");
    for (uint32_t v : codes) ASSERT_EQ(0xDEADBEEFu, v);
    for (uint8_t v : s) ASSERT_EQ(0xAB, v);
    for (uint8_t v : z) ASSERT_EQ(0xAB, v);
    // Export: dst must match w.
    const Engram e = import(ctx.c, o, ENGRAM_DTYPE_F16);
    const engram_qweight w = e.qweight();
    Nbits out = o;
    engram_onnx_nbits dd = out.desc();
    dd.block_size = 32;  // with arrays sized for it: only the mismatch with w is wrong
    std::vector<uint8_t> s32(dd.scale_bytes * 2);
    dd.scales = s32.data();
    dd.scale_bytes = s32.size();
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_export_onnx(ctx.c, &w, &dd), "dst->block_size");
    dd = out.desc();
    dd.scale_dtype = ENGRAM_DTYPE_F32;
    dd.scale_bytes *= 2;
    std::vector<uint8_t> big(dd.scale_bytes);
    dd.scales = big.data();
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_export_onnx(ctx.c, &w, &dd), "dst->scale_dtype");
    dd = out.desc();
    dd.b = reinterpret_cast<uint8_t*>(const_cast<uint32_t*>(e.codes.data()));
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_export_onnx(ctx.c, &w, &dd), "overlap");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_export_onnx(ctx.c, nullptr, &dd), "w");
    // The struct's layout is reported.
    uint64_t size = 0;
    EXPECT_OK(engram_struct_layout("engram_onnx_nbits", nullptr, &size));
    EXPECT_EQ(sizeof(engram_onnx_nbits), size);
    EXPECT_OK(engram_struct_layout("engram_onnx_nbits", "zero_point_bytes", &size));
    EXPECT_EQ(offsetof(engram_onnx_nbits, zero_point_bytes), size);
}

}  // namespace
}  // namespace engram_test
