// qmatmul_test.cpp — the 2-bit weight family against its float64 reference:
// layouts (pack, unpack, prepare, bit order), the product over every group
// size, activation and scale dtype, layout, m = 1..17 and awkward n_out, the
// special values (s = 0, extreme scales, NaN), determinism, and the RTN
// quantizer. Suites named QmatmulIsa.* run again under each lower CPU ISA
// (tests/native/CMakeLists.txt).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "ops/qmatmul/qmatmul_harness.hpp"
#include "test_util.hpp"

using namespace engram_test;

namespace {

struct Ctx {
    engram_context* ctx = nullptr;
    Ctx() { EXPECT_EQ(ENGRAM_OK, engram_context_create(ENGRAM_BACKEND_CPU, 0, &ctx)); }
    ~Ctx() { engram_context_destroy(ctx); }
};

void check_case(const QSpec& spec) {
    SCOPED_TRACE(spec.label());
    const QData d = make_qdata(spec);
    const std::vector<float> y = run_qmatmul(d);
    std::vector<double> ref, bound;
    qmatmul_expected(d, ref, bound);
    EXPECT_TRUE(all_within("y", y, ref, bound, spec.n_out)) << spec.label();
}

const engram_dtype kFloat[] = {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16};
const engram_dtype kScale[] = {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16};
const engram_qlayout kLayouts[] = {ENGRAM_QLAYOUT_PLAIN, ENGRAM_QLAYOUT_CPU_PREPARED};
const int64_t kGroups[] = {32, 64, 128};

}  // namespace

// --- layouts --------------------------------------------------------------

TEST(QmatmulLayout, BitOrderIsLowColumnInLowBits) {
    Ctx c;
    std::vector<uint8_t> codes(32, 0);
    codes[0] = 1;   // word 0 bits 0-1
    codes[15] = 3;  // word 0 bits 30-31
    codes[17] = 2;  // word 1 bits 2-3
    std::vector<uint32_t> words(2, 0xDEADBEEF);
    ASSERT_OK(engram_qmatmul_pack(c.ctx, 1, 32, codes.data(), words.data(), 2));
    EXPECT_EQ(0xC0000001u, words[0]);
    EXPECT_EQ(0x00000008u, words[1]);
}

TEST(QmatmulLayout, PackUnpackRoundTrip) {
    Ctx c;
    Rng rng(7);
    for (int64_t n_out : {1, 3, 5})
        for (int64_t k : {16, 48, 160}) {
            std::vector<uint8_t> codes(size_t(n_out * k));
            for (uint8_t& q : codes) q = uint8_t(rng.integer(0, 3));
            std::vector<uint32_t> words(size_t(n_out * k / 16), 0xFFFFFFFFu);
            ASSERT_OK(engram_qmatmul_pack(c.ctx, n_out, k, codes.data(), words.data(), words.size()));
            EXPECT_EQ(ref_pack(n_out, k, codes), words) << n_out << " x " << k;
            std::vector<uint8_t> back(codes.size(), 0xFF);
            ASSERT_OK(engram_qmatmul_unpack(c.ctx, n_out, k, words.data(), words.size(), back.data()));
            EXPECT_EQ(codes, back) << n_out << " x " << k;
        }
}

TEST(QmatmulLayout, PrepareMatchesFormulaAndRoundTrips) {
    Ctx c;
    Rng rng(8);
    for (int64_t n_out = 1; n_out <= 9; ++n_out)
        for (int64_t k : {16, 64, 208}) {
            std::vector<uint32_t> plain(size_t(n_out * k / 16));
            for (uint32_t& w : plain) w = rng.bits32();
            uint64_t pw = 0, qw = 0;
            ASSERT_OK(engram_qmatmul_code_words(n_out, k, ENGRAM_QLAYOUT_PLAIN, &pw));
            ASSERT_OK(engram_qmatmul_code_words(n_out, k, ENGRAM_QLAYOUT_CPU_PREPARED, &qw));
            EXPECT_EQ(plain.size(), pw);
            EXPECT_EQ(uint64_t((n_out + 3) / 4 * 4 * k / 16), qw);
            std::vector<uint32_t> prep(qw, 0xABABABABu);
            ASSERT_OK(engram_qmatmul_prepare(c.ctx, n_out, k, plain.data(), pw, prep.data(), qw));
            EXPECT_EQ(ref_prepare(n_out, k, plain), prep) << n_out << " x " << k;
            std::vector<uint32_t> back(pw, 0xCDCDCDCDu);
            ASSERT_OK(engram_qmatmul_unprepare(c.ctx, n_out, k, prep.data(), qw, back.data(), pw));
            EXPECT_EQ(plain, back) << n_out << " x " << k;
        }
}

// --- the product ----------------------------------------------------------

// Every group size, activation dtype, scale dtype and layout, over m = 1..17
// (the batch kernel's 4-row chunks and their remainders) and n_out = 1 and
// values that leave a partial 4-row block.
TEST(QmatmulIsa, AllDtypesLayoutsAndBatches) {
    uint64_t seed = 1;
    for (int64_t g : kGroups)
        for (engram_dtype xd : kFloat)
            for (engram_dtype sd : kScale)
                for (engram_qlayout layout : kLayouts)
                    for (int64_t m = 1; m <= 17; ++m) {
                        QSpec s;
                        s.group = g;
                        s.k = g * (1 + m % 3);  // one group, two, three
                        s.n_out = (m % 4 == 1) ? 1 : 1 + (m * 3) % 11;
                        s.m = m;
                        s.x_dtype = xd;
                        s.y_dtype = (m % 2) ? ENGRAM_DTYPE_F32 : xd;
                        s.scale_dtype = sd;
                        s.layout = layout;
                        s.seed = seed++;
                        check_case(s);
                        if (HasFailure()) return;
                    }
}

TEST(QmatmulIsa, LongRowsAndLargeBatch) {
    for (engram_dtype xd : kFloat) {
        QSpec s;
        s.n_out = 37;
        s.k = 128 * 9;
        s.group = 128;
        s.m = 40;
        s.x_dtype = xd;
        s.seed = 99;
        check_case(s);
        s.layout = ENGRAM_QLAYOUT_CPU_PREPARED;
        s.group = 64;
        s.m = 3;
        check_case(s);
    }
}

// The large-m path (m > 16): weight tiles past n_out, column chunks past k
// (k = 384 spans two 256-column chunks), activation chunks past m (m = 300
// spans two 256-row chunks), micro-tile rows past m.
TEST(QmatmulIsa, LargeBatchDequantiseTileGemm) {
    uint64_t seed = 500;
    for (engram_dtype xd : kFloat)
        for (engram_dtype sd : kScale)
            for (int64_t m : {17, 33, 300}) {
                QSpec s;
                s.n_out = m == 300 ? 45 : 37;
                s.k = m == 33 ? 64 : 384;
                s.group = m == 33 ? 32 : 128;
                s.m = m;
                s.x_dtype = xd;
                s.y_dtype = m == 33 ? xd : ENGRAM_DTYPE_F32;
                s.scale_dtype = sd;
                s.layout = m == 17 ? ENGRAM_QLAYOUT_CPU_PREPARED : ENGRAM_QLAYOUT_PLAIN;
                s.seed = seed++;
                check_case(s);
            }
}

TEST(QmatmulIsa, EqualGroupsHaveZeroScale) {
    for (int64_t g : kGroups)
        for (engram_dtype sd : kScale)
            for (int64_t m : {1, 5}) {
                QSpec s;
                s.values = QValues::EqualGroups;
                s.group = g;
                s.k = 2 * g;
                s.n_out = 6;
                s.m = m;
                s.scale_dtype = sd;
                check_case(s);
            }
}

TEST(QmatmulIsa, ExtremeScales) {
    for (QValues v : {QValues::HugeScales, QValues::TinyScales})
        for (engram_dtype sd : kScale)
            for (engram_dtype xd : kFloat)
                for (int64_t m : {1, 6}) {
                    QSpec s;
                    s.values = v;
                    s.group = 32;
                    s.k = 96;
                    s.n_out = 7;
                    s.m = m;
                    s.scale_dtype = sd;
                    s.x_dtype = xd;
                    // Huge f32-scaled outputs (~1e25) exceed f16: y stays f32 there.
                    s.y_dtype = (v == QValues::HugeScales && sd == ENGRAM_DTYPE_F32 &&
                                 xd == ENGRAM_DTYPE_F16) ? ENGRAM_DTYPE_F32 : xd;
                    check_case(s);
                }
}

// A NaN in row i of x makes row i of y NaN and leaves the other rows alone.
TEST(QmatmulIsa, NanInActivationsPropagatesToItsRow) {
    for (engram_dtype xd : kFloat)
        for (engram_qlayout layout : kLayouts)
            for (int64_t m : {6, 20}) {  // both paths
                QSpec s;
                s.n_out = 9;
                s.k = 64;
                s.group = 32;
                s.m = m;
                s.x_dtype = xd;
                s.layout = layout;
                QData d = make_qdata(s);
                const size_t xs = engram_dtype_size(xd);
                const int64_t nan_rows[] = {1, 4};
                for (int64_t row : nan_rows) {
                    const size_t at = size_t(row * s.k + 17 + row) * xs;
                    if (xd == ENGRAM_DTYPE_F32) {
                        const float nan = NAN;
                        std::memcpy(&d.x_raw[at], &nan, 4);
                    } else {
                        const uint16_t nan = xd == ENGRAM_DTYPE_F16 ? 0x7E00 : 0x7FC0;
                        std::memcpy(&d.x_raw[at], &nan, 2);
                    }
                }
                const std::vector<float> y = run_qmatmul(d);
                for (int64_t i = 0; i < s.m; ++i) {
                    const bool nan_row = i == 1 || i == 4;
                    for (int64_t r = 0; r < s.n_out; ++r)
                        EXPECT_EQ(nan_row, std::isnan(y[size_t(i * s.n_out + r)]))
                            << s.label() << " row " << i << " column " << r;
                }
            }
}

// Same inputs: bit-identical run to run, for 1 and 2 threads, and for the
// plain and prepared layouts.
TEST(QmatmulIsa, Deterministic) {
    for (int64_t m : {7, 40}) {  // both paths
        QSpec s;
        s.n_out = 23;
        s.k = 256;
        s.group = 64;
        s.m = m;
        const QData plain = make_qdata(s);
        s.layout = ENGRAM_QLAYOUT_CPU_PREPARED;
        const QData prep = make_qdata(s);
        const std::vector<float> a = run_qmatmul(plain, 2);
        EXPECT_EQ(0, std::memcmp(a.data(), run_qmatmul(plain, 2).data(), a.size() * 4));
        EXPECT_EQ(0, std::memcmp(a.data(), run_qmatmul(plain, 1).data(), a.size() * 4));
        EXPECT_EQ(0, std::memcmp(a.data(), run_qmatmul(prep, 2).data(), a.size() * 4));
        EXPECT_EQ(0, std::memcmp(a.data(), run_qmatmul(prep, 1).data(), a.size() * 4));
    }
}

TEST(QmatmulIsa, OpStats) {
    QSpec s;
    s.n_out = 9;
    s.k = 64;
    s.group = 32;
    s.scale_dtype = ENGRAM_DTYPE_F16;
    const QData d = make_qdata(s);
    Ctx c;
    const engram_qweight w = d.qweight();
    std::vector<float> y(9);
    ASSERT_OK(engram_qmatmul(c.ctx, &w, 1, ENGRAM_DTYPE_F32, d.x_raw.data(), ENGRAM_DTYPE_F32, y.data()));
    engram_op_stats st;
    engram_op_stats_init(&st);
    ASSERT_OK(engram_context_get_op_stats(c.ctx, &st));
    EXPECT_EQ(ENGRAM_OP_QMATMUL, st.op);
    uint64_t v = 0;
    ASSERT_OK(engram_op_stats_counter(&st, "weight_bytes", &v));
    EXPECT_EQ(uint64_t(9 * 64 / 4 + 2 * 9 * 2 * 2), v);
    ASSERT_OK(engram_op_stats_counter(&st, "dequant_tiles", &v));
    EXPECT_EQ(0u, v);  // m = 1: codes unpacked in registers
    // m = 17: the dequantise-tile GEMM, at least one tile.
    const std::vector<float> x17(size_t(17 * 64), 0.5f);
    std::vector<float> y17(size_t(17 * 9));
    ASSERT_OK(engram_qmatmul(c.ctx, &w, 17, ENGRAM_DTYPE_F32, x17.data(), ENGRAM_DTYPE_F32, y17.data()));
    ASSERT_OK(engram_context_get_op_stats(c.ctx, &st));
    ASSERT_OK(engram_op_stats_counter(&st, "dequant_tiles", &v));
    EXPECT_GE(v, 1u);
}

// --- RTN quantizer ----------------------------------------------------------

namespace {

// Checks the RTN contract on one matrix: z = min and s = (max - min) / 3 as
// stored, every code the nearest level of the stored grid (ties either way).
void check_rtn(int64_t n_out, int64_t k, int64_t g, engram_dtype wd, engram_dtype sd,
               const std::vector<float>& w_vals) {
    SCOPED_TRACE(std::to_string(n_out) + " x " + std::to_string(k) + " G=" + std::to_string(g) +
                 " w=" + dtype_label(wd) + " s=" + dtype_label(sd));
    Ctx c;
    const std::vector<uint8_t> w_raw = encode_floats(wd, w_vals);
    const std::vector<float> w = decode_floats(wd, w_raw.data(), w_vals.size());
    const size_t ns = size_t(n_out * (k / g)), ss = engram_dtype_size(sd);
    std::vector<uint32_t> words(size_t(n_out * k / 16), 0xFFFFFFFFu);
    std::vector<uint8_t> s_raw(ns * ss, 0xFF), z_raw(ns * ss, 0xFF);
    ASSERT_OK(engram_qmatmul_quantize_rtn(c.ctx, n_out, k, wd, w_raw.data(), int32_t(g), sd,
                                          words.data(), words.size(), s_raw.data(), z_raw.data()));
    const std::vector<float> s = decode_floats(sd, s_raw.data(), ns), z = decode_floats(sd, z_raw.data(), ns);
    RefQWeight ref;
    ref.n_out = n_out;
    ref.k = k;
    ref.group = g;
    ref.words = words;
    for (int64_t r = 0; r < n_out; ++r)
        for (int64_t gi = 0; gi < k / g; ++gi) {
            double mn = INFINITY, mx = -INFINITY;
            for (int64_t cc = gi * g; cc < (gi + 1) * g; ++cc) {
                mn = std::min(mn, double(w[size_t(r * k + cc)]));
                mx = std::max(mx, double(w[size_t(r * k + cc)]));
            }
            const size_t i = size_t(r * (k / g) + gi);
            EXPECT_EQ(round_to(sd, float(mn)), z[i]) << "zero of row " << r << " group " << gi;
            const double s_exact = (mx - mn) / 3.0;
            const double s_tol = (sd == ENGRAM_DTYPE_F16 ? std::ldexp(1.0, -11) : std::ldexp(1.0, -23)) *
                                     s_exact + (sd == ENGRAM_DTYPE_F16 ? std::ldexp(1.0, -25) : 0.0);
            EXPECT_NEAR(s_exact, s[i], s_tol) << "scale of row " << r << " group " << gi;
            for (int64_t cc = gi * g; cc < (gi + 1) * g; ++cc) {
                const uint32_t q = ref_code(ref, r, cc);
                const double x = w[size_t(r * k + cc)];
                const double err = std::fabs(x - (double(s[i]) * q + z[i]));
                for (uint32_t o = 0; o < 4; ++o) {
                    const double other = std::fabs(x - (double(s[i]) * o + z[i]));
                    EXPECT_LE(err, other * (1 + 1e-12) + 1e-300)
                        << "row " << r << " col " << cc << ": code " << q << " but " << o
                        << " is nearer";
                }
                if (s[i] == 0.0f) {
                    EXPECT_EQ(0u, q) << "s = 0 must give code 0";
                }
            }
        }
}

}  // namespace

TEST(QmatmulRtn, NearestLevelsOfStoredGrid) {
    Rng rng(11);
    for (int64_t g : kGroups)
        for (engram_dtype wd : kFloat)
            for (engram_dtype sd : kScale) {
                const int64_t n_out = 3, k = 2 * g;
                std::vector<float> w(size_t(n_out * k));
                for (float& v : w) v = float(rng.normal());
                check_rtn(n_out, k, g, wd, sd, w);
            }
}

TEST(QmatmulRtn, EqualGroupsAndExactGrid) {
    // Row 0: a constant group (s = 0) then a group already on a 4-level grid,
    // which RTN must reproduce exactly.
    const int64_t k = 64;
    std::vector<float> w(size_t(k), 0.75f);
    for (int64_t c = 32; c < 64; ++c) w[size_t(c)] = -1.0f + 0.5f * float(c % 4);
    Ctx c;
    std::vector<uint32_t> words(4);
    std::vector<float> s(2), z(2);
    ASSERT_OK(engram_qmatmul_quantize_rtn(c.ctx, 1, k, ENGRAM_DTYPE_F32, w.data(), 32,
                                          ENGRAM_DTYPE_F32, words.data(), 4, s.data(), z.data()));
    EXPECT_EQ(0.0f, s[0]);
    EXPECT_EQ(0.75f, z[0]);
    EXPECT_EQ(0.5f, s[1]);
    EXPECT_EQ(-1.0f, z[1]);
    EXPECT_EQ(0u, words[0]);
    EXPECT_EQ(0u, words[1]);
    // codes c % 4 = 0,1,2,3,...: 0b11100100 repeated.
    EXPECT_EQ(0xE4E4E4E4u, words[2]);
    EXPECT_EQ(0xE4E4E4E4u, words[3]);
    check_rtn(1, k, 32, ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F32, w);
}

// RTN then qmatmul equals the reference on the dequantised matrix, and the
// quantization error is within half a step per weight.
TEST(QmatmulRtn, QuantizeThenMultiply) {
    Rng rng(12);
    const int64_t n_out = 10, k = 256, g = 64, m = 3;
    std::vector<float> w(size_t(n_out * k));
    for (float& v : w) v = float(rng.normal());
    Ctx c;
    QSpec spec;
    spec.n_out = n_out;
    spec.k = k;
    spec.group = g;
    spec.m = m;
    QData d = make_qdata(spec);
    std::vector<float> s(size_t(n_out * k / g)), z(s.size());
    ASSERT_OK(engram_qmatmul_quantize_rtn(c.ctx, n_out, k, ENGRAM_DTYPE_F32, w.data(), int32_t(g),
                                          ENGRAM_DTYPE_F32, d.words.data(), d.words.size(),
                                          s.data(), z.data()));
    d.ref.words = d.words;
    d.ref.scales.assign(s.begin(), s.end());
    d.ref.zeros.assign(z.begin(), z.end());
    d.scales_raw = encode_floats(ENGRAM_DTYPE_F32, s);
    d.zeros_raw = encode_floats(ENGRAM_DTYPE_F32, z);
    const std::vector<double> wq = ref_dequantise(d.ref);
    for (int64_t r = 0; r < n_out; ++r)
        for (int64_t cc = 0; cc < k; ++cc) {
            const double step = s[size_t(r * (k / g) + cc / g)];
            EXPECT_LE(std::fabs(wq[size_t(r * k + cc)] - w[size_t(r * k + cc)]), 0.5 * step * (1 + 1e-6))
                << r << ", " << cc;
        }
    const std::vector<float> y = run_qmatmul(d);
    std::vector<double> ref, bound;
    qmatmul_expected(d, ref, bound);
    EXPECT_TRUE(all_within("y", y, ref, bound, n_out));
}

TEST(QmatmulRtn, NanGroupGetsNanScaleAndZeroCodes) {
    std::vector<float> w(64, 1.0f);
    w[3] = NAN;
    w[40] = 2.0f;
    Ctx c;
    std::vector<uint32_t> words(4, 0xFFFFFFFFu);
    std::vector<float> s(2), z(2);
    ASSERT_OK(engram_qmatmul_quantize_rtn(c.ctx, 1, 64, ENGRAM_DTYPE_F32, w.data(), 32,
                                          ENGRAM_DTYPE_F32, words.data(), 4, s.data(), z.data()));
    EXPECT_TRUE(std::isnan(s[0]));
    EXPECT_TRUE(std::isnan(z[0]));
    EXPECT_EQ(0u, words[0]);
    EXPECT_EQ(0u, words[1]);
    EXPECT_EQ(1.0f / 3.0f, s[1]);
    EXPECT_EQ(1.0f, z[1]);
}
