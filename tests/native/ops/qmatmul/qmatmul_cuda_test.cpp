// qmatmul_cuda_test.cpp — the 2-bit product on every backend (CPU and CUDA,
// BackendTest) against the float64 reference of qmatmul_harness: both CUDA
// kernels (register GEMV/small batch for m <= 16, dequantise-tile for larger
// m), every activation/scale dtype, both code layouts, 16-byte and
// element-wise load paths (x and codes misaligned, k / 16 not a multiple of
// 4), tile edges (n_out, m not multiples of 64), special values, NaN rows,
// determinism and op stats. The CUDA cases skip on a machine without a
// device; the CPU cases check the same cases here.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "ops/qmatmul/qmatmul_harness.hpp"
#include "test_util.hpp"

using namespace engram_test;

namespace {

class QmatmulBackendTest : public BackendTest {
protected:
    // y (as f32) of engram_qmatmul on this fixture's backend. x_shift / codes_shift
    // place x and the codes that many elements past a 16-byte boundary.
    std::vector<float> run(const QData& d, size_t x_shift = 0, size_t codes_shift = 0,
                           engram_op_stats* stats = nullptr) {
        const QSpec& s = d.spec;
        const size_t xs = engram_dtype_size(s.x_dtype);
        Buffer codes(ctx(), (d.words.size() + codes_shift) * 4);
        codes.upload(d.words.data(), d.words.size() * 4, codes_shift * 4);
        Buffer scales = ctx().upload(d.scales_raw);
        Buffer zeros = ctx().upload(d.zeros_raw);
        Buffer x(ctx(), d.x_raw.size() + x_shift * xs);
        x.upload(d.x_raw.data(), d.x_raw.size(), x_shift * xs);
        const size_t n = size_t(s.m * s.n_out);
        Buffer y = ctx().output(n * engram_dtype_size(s.y_dtype));
        engram_qweight w = d.qweight();
        w.codes = codes.as<uint32_t>() + codes_shift;
        w.scales = scales.get();
        w.zeros = zeros.get();
        const engram_status st = engram_qmatmul(ctx().get(), &w, s.m, s.x_dtype,
                                                x.as<uint8_t>() + x_shift * xs, s.y_dtype, y.get());
        EXPECT_EQ(ENGRAM_OK, st) << s.label() << ": " << engram_last_error();
        if (stats) {
            engram_op_stats_init(stats);
            EXPECT_EQ(ENGRAM_OK, engram_context_get_op_stats(ctx().get(), stats));
        }
        return y.floats(s.y_dtype);
    }

    void check(const QSpec& spec, size_t x_shift = 0, size_t codes_shift = 0) {
        SCOPED_TRACE(spec.label());
        const QData d = make_qdata(spec);
        const std::vector<float> y = run(d, x_shift, codes_shift);
        std::vector<double> ref, bound;
        qmatmul_expected(d, ref, bound);
        EXPECT_TRUE(all_within("y", y, ref, bound, spec.n_out))
            << spec.label() << " x_shift " << x_shift << " codes_shift " << codes_shift;
    }
};

const engram_dtype kFloat[] = {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16};
const engram_dtype kScale[] = {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16};
const engram_qlayout kLayouts[] = {ENGRAM_QLAYOUT_PLAIN, ENGRAM_QLAYOUT_CPU_PREPARED};

}  // namespace

// Register kernel: m = 1..16 (each template width and the rows past m in it),
// k with k / 16 = 2, 6 (partial 4-word chunk), 8, 136 (more than 32 chunks:
// lanes loop), every dtype and layout, n_out 1 and primes.
TEST_P(QmatmulBackendTest, SmallBatchAgainstReference) {
    uint64_t seed = 1000;
    for (engram_dtype xd : kFloat)
        for (engram_dtype sd : kScale)
            for (engram_qlayout layout : kLayouts)
                for (int64_t m : {1, 2, 3, 5, 8, 11, 16}) {
                    QSpec s;
                    s.m = m;
                    s.group = m % 3 == 0 ? 32 : (m % 3 == 1 ? 64 : 128);
                    const int64_t ks[] = {s.group, 3 * s.group, 2176};
                    s.k = ks[m % 3];
                    s.n_out = m == 1 ? 1 : (m % 2 ? 7 : 37);
                    s.x_dtype = xd;
                    s.y_dtype = m % 2 ? ENGRAM_DTYPE_F32 : xd;
                    s.scale_dtype = sd;
                    s.layout = layout;
                    s.seed = seed++;
                    check(s);
                    if (HasFailure()) return;
                }
}

// Dequantise-tile kernel: m just past 16, not a multiple of 64, several
// m tiles; n_out past a 64-row tile; one and many 32-column steps.
TEST_P(QmatmulBackendTest, LargeBatchAgainstReference) {
    uint64_t seed = 2000;
    for (engram_dtype xd : kFloat)
        for (engram_dtype sd : kScale)
            for (int64_t m : {17, 65, 130}) {
                QSpec s;
                s.m = m;
                s.n_out = m == 17 ? 67 : (m == 65 ? 5 : 129);
                s.group = m == 65 ? 32 : 128;
                s.k = m == 65 ? 32 : 384;
                s.x_dtype = xd;
                s.y_dtype = m == 65 ? xd : ENGRAM_DTYPE_F32;
                s.scale_dtype = sd;
                s.layout = m == 130 ? ENGRAM_QLAYOUT_CPU_PREPARED : ENGRAM_QLAYOUT_PLAIN;
                s.seed = seed++;
                check(s);
                if (HasFailure()) return;
            }
}

// Element-wise load paths: x not 16-byte aligned, codes not 16-byte aligned.
TEST_P(QmatmulBackendTest, MisalignedInputsTakeTheElementPath) {
    for (engram_dtype xd : kFloat)
        for (int64_t m : {3, 20}) {
            QSpec s;
            s.m = m;
            s.n_out = 13;
            s.k = 256;
            s.group = 64;
            s.x_dtype = xd;
            s.seed = 3000 + uint64_t(m);
            check(s, 1, 0);
            check(s, 0, 1);
            check(s, 3, 3);
        }
}

TEST_P(QmatmulBackendTest, SpecialValues) {
    for (QValues v : {QValues::EqualGroups, QValues::HugeScales, QValues::TinyScales})
        for (engram_dtype sd : kScale)
            for (engram_dtype xd : kFloat)
                for (int64_t m : {1, 6, 19}) {
                    QSpec s;
                    s.values = v;
                    s.group = 32;
                    s.k = 96;
                    s.n_out = 7;
                    s.m = m;
                    s.scale_dtype = sd;
                    s.x_dtype = xd;
                    s.y_dtype = (v == QValues::HugeScales && sd == ENGRAM_DTYPE_F32 &&
                                 xd == ENGRAM_DTYPE_F16) ? ENGRAM_DTYPE_F32 : xd;
                    check(s);
                }
}

// A NaN in row i of x makes row i of y NaN, on both kernels and layouts.
TEST_P(QmatmulBackendTest, NanInActivationsPropagatesToItsRow) {
    for (engram_dtype xd : kFloat)
        for (engram_qlayout layout : kLayouts)
            for (int64_t m : {6, 20}) {
                QSpec s;
                s.n_out = 9;
                s.k = 64;
                s.group = 32;
                s.m = m;
                s.x_dtype = xd;
                s.layout = layout;
                QData d = make_qdata(s);
                const size_t xs = engram_dtype_size(xd);
                for (int64_t row : {1, 4}) {
                    const size_t at = size_t(row * s.k + 17 + row) * xs;
                    if (xd == ENGRAM_DTYPE_F32) {
                        const float nan = NAN;
                        std::memcpy(&d.x_raw[at], &nan, 4);
                    } else {
                        const uint16_t nan = xd == ENGRAM_DTYPE_F16 ? 0x7E00 : 0x7FC0;
                        std::memcpy(&d.x_raw[at], &nan, 2);
                    }
                }
                const std::vector<float> y = run(d);
                for (int64_t i = 0; i < s.m; ++i)
                    for (int64_t r = 0; r < s.n_out; ++r)
                        EXPECT_EQ(i == 1 || i == 4, std::isnan(y[size_t(i * s.n_out + r)]))
                            << s.label() << " row " << i << " column " << r;
            }
}

// Bit-identical run to run and across the two code layouts (same lane
// partition on both load paths), on both kernels.
TEST_P(QmatmulBackendTest, DeterministicAcrossRunsAndLayouts) {
    for (int64_t m : {7, 40}) {
        QSpec s;
        s.n_out = 23;
        s.k = 256;
        s.group = 64;
        s.m = m;
        const QData plain = make_qdata(s);
        s.layout = ENGRAM_QLAYOUT_CPU_PREPARED;
        const QData prep = make_qdata(s);
        const std::vector<float> a = run(plain);
        ASSERT_EQ(size_t(m * 23), a.size());
        EXPECT_EQ(0, std::memcmp(a.data(), run(plain).data(), a.size() * 4)) << m;
        EXPECT_EQ(0, std::memcmp(a.data(), run(prep).data(), a.size() * 4)) << m;
        EXPECT_EQ(0, std::memcmp(a.data(), run(plain, 1, 1).data(), a.size() * 4)) << m;
    }
}

// weight_bytes as documented; dequant_tiles 0 on the register path and
// nonzero on the tile path.
TEST_P(QmatmulBackendTest, OpStats) {
    QSpec s;
    s.n_out = 9;
    s.k = 64;
    s.group = 32;
    s.scale_dtype = ENGRAM_DTYPE_F16;
    engram_op_stats st;
    run(make_qdata(s), 0, 0, &st);
    EXPECT_EQ(uint64_t(9 * 64 / 4 + 2 * 9 * 2 * 2), op_counter(st, "weight_bytes"));
    EXPECT_EQ(0u, op_counter(st, "dequant_tiles"));
    s.m = 17;
    run(make_qdata(s), 0, 0, &st);
    EXPECT_LT(0u, op_counter(st, "dequant_tiles"));
}

ENGRAM_INSTANTIATE_BACKENDS(QmatmulBackendTest);
