// qmatmul_refine_test.cpp — the decoupleQ-style refinement: on calibration
// inputs with correlated channels, the refined quantization's layer-output
// error ||(W - W_hat) X^T||^2 (scored in float64 from the outputs) is below
// RTN's, never above it per row; 0 iterations is exactly RTN; the result is
// a valid quantized matrix (qmatmul on it matches the reference); results
// do not depend on threads; bad input is rejected with nothing written.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>

#include "ops/qmatmul/qmatmul_harness.hpp"
#include "test_util.hpp"

using namespace engram_test;

namespace {

struct Quantized {
    std::vector<uint32_t> words;
    std::vector<uint8_t> s_raw, z_raw;
};

struct Calib {
    int64_t n_out = 8, k = 128, group = 32, tokens = 192;
    std::vector<float> w;  // [n_out, k]
    std::vector<float> h;  // [k, k] = X^T X, rounded to fp32
};

// X = Z M with M mixing neighbouring channels and channel scales spread over
// two decades: the correlated, uneven activations that make weighting matter.
Calib make_calib(int64_t n_out, int64_t k, int64_t group, uint64_t seed) {
    Calib c;
    c.n_out = n_out;
    c.k = k;
    c.group = group;
    Rng rng(seed);
    std::vector<double> x(size_t(c.tokens * k));
    for (int64_t t = 0; t < c.tokens; ++t) {
        double prev = 0.0;
        for (int64_t j = 0; j < k; ++j) {
            prev = 0.8 * prev + rng.normal();
            x[size_t(t * k + j)] = prev * std::pow(10.0, double(j % 7) / 3.0);
        }
    }
    c.h.resize(size_t(k * k));
    for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < k; ++j) {
            double v = 0.0;
            for (int64_t t = 0; t < c.tokens; ++t) v += x[size_t(t * k + i)] * x[size_t(t * k + j)];
            c.h[size_t(i * k + j)] = float(v);
        }
    c.w.resize(size_t(n_out * k));
    for (float& v : c.w) v = float(rng.normal());
    return c;
}

engram_status quantize(engram_context* ctx, const Calib& c, engram_dtype sd, int iterations,
                       Quantized& q) {
    const size_t ns = size_t(c.n_out * (c.k / c.group)), ss = engram_dtype_size(sd);
    q.words.assign(size_t(c.n_out * c.k / 16), 0xA5A5A5A5u);
    q.s_raw.assign(ns * ss, 0xEE);
    q.z_raw.assign(ns * ss, 0xEE);
    if (iterations < 0)
        return engram_qmatmul_quantize_rtn(ctx, c.n_out, c.k, ENGRAM_DTYPE_F32, c.w.data(),
                                           int32_t(c.group), sd, q.words.data(), q.words.size(),
                                           q.s_raw.data(), q.z_raw.data());
    return engram_qmatmul_quantize_refine(ctx, c.n_out, c.k, ENGRAM_DTYPE_F32, c.w.data(),
                                          int32_t(c.group), sd, c.h.data(), iterations,
                                          q.words.data(), q.words.size(), q.s_raw.data(),
                                          q.z_raw.data());
}

RefQWeight ref_of(const Calib& c, engram_dtype sd, const Quantized& q) {
    RefQWeight r;
    r.n_out = c.n_out;
    r.k = c.k;
    r.group = c.group;
    r.words = q.words;
    const size_t ns = size_t(c.n_out * (c.k / c.group));
    for (float v : decode_floats(sd, q.s_raw.data(), ns)) r.scales.push_back(v);
    for (float v : decode_floats(sd, q.z_raw.data(), ns)) r.zeros.push_back(v);
    return r;
}

// e_r^T H e_r per row, e = W - W_hat, in float64.
std::vector<double> row_errors(const Calib& c, const RefQWeight& r) {
    const std::vector<double> wh = ref_dequantise(r);
    std::vector<double> out(size_t(c.n_out));
    for (int64_t row = 0; row < c.n_out; ++row) {
        std::vector<double> e(size_t(c.k));
        for (int64_t j = 0; j < c.k; ++j) e[size_t(j)] = c.w[size_t(row * c.k + j)] - wh[size_t(row * c.k + j)];
        double total = 0.0;
        for (int64_t i = 0; i < c.k; ++i)
            for (int64_t j = 0; j < c.k; ++j) total += e[size_t(i)] * double(c.h[size_t(i * c.k + j)]) * e[size_t(j)];
        out[size_t(row)] = total;
    }
    return out;
}

double sum(const std::vector<double>& v) {
    double s = 0.0;
    for (double x : v) s += x;
    return s;
}

struct Ctx {
    engram_context* ctx = nullptr;
    explicit Ctx(int threads = 0) {
        EXPECT_EQ(ENGRAM_OK, engram_context_create(ENGRAM_BACKEND_CPU, 0, &ctx));
        EXPECT_EQ(ENGRAM_OK, engram_context_set_threads(ctx, threads));
    }
    ~Ctx() { engram_context_destroy(ctx); }
};

}  // namespace

TEST(QmatmulRefine, LowersLayerOutputErrorBelowRtn) {
    for (int64_t g : {32, 64, 128})
        for (engram_dtype sd : {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16}) {
            SCOPED_TRACE("G=" + std::to_string(g) + " s=" + dtype_label(sd));
            const Calib c = make_calib(6, 256, g, 40 + uint64_t(g));
            Ctx ctx;
            Quantized rtn, ref;
            ASSERT_OK(quantize(ctx.ctx, c, sd, -1, rtn));
            ASSERT_OK(quantize(ctx.ctx, c, sd, 4, ref));
            const std::vector<double> e_rtn = row_errors(c, ref_of(c, sd, rtn));
            const std::vector<double> e_ref = row_errors(c, ref_of(c, sd, ref));
            for (size_t r = 0; r < e_rtn.size(); ++r)
                EXPECT_LE(e_ref[r], e_rtn[r] * (1 + 1e-9)) << "row " << r << " got worse";
            // Refinement must pay off on correlated inputs, not merely tie.
            EXPECT_LT(sum(e_ref), 0.9 * sum(e_rtn));
            std::printf("[ refine   ] G=%lld s=%s: ||(W - W_hat) X^T||^2 RTN %.6g, refined %.6g (%.1f%%)\n",
                        (long long)g, dtype_label(sd), sum(e_rtn), sum(e_ref), 100.0 * sum(e_ref) / sum(e_rtn));
        }
}

TEST(QmatmulRefine, ZeroIterationsIsRtn) {
    const Calib c = make_calib(5, 64, 32, 3);
    Ctx ctx;
    Quantized rtn, zero;
    ASSERT_OK(quantize(ctx.ctx, c, ENGRAM_DTYPE_F16, -1, rtn));
    ASSERT_OK(quantize(ctx.ctx, c, ENGRAM_DTYPE_F16, 0, zero));
    EXPECT_EQ(rtn.words, zero.words);
    EXPECT_EQ(rtn.s_raw, zero.s_raw);
    EXPECT_EQ(rtn.z_raw, zero.z_raw);
}

TEST(QmatmulRefine, ResultMultipliesLikeItsReference) {
    const Calib c = make_calib(9, 128, 64, 5);
    Ctx ctx;
    Quantized q;
    ASSERT_OK(quantize(ctx.ctx, c, ENGRAM_DTYPE_F32, 3, q));
    QSpec spec;
    spec.n_out = c.n_out;
    spec.k = c.k;
    spec.group = c.group;
    spec.m = 5;
    QData d = make_qdata(spec);  // activations; the weights are replaced
    d.ref = ref_of(c, ENGRAM_DTYPE_F32, q);
    d.words = q.words;
    d.scales_raw = q.s_raw;
    d.zeros_raw = q.z_raw;
    const std::vector<float> y = run_qmatmul(d);
    std::vector<double> ref, bound;
    qmatmul_expected(d, ref, bound);
    EXPECT_TRUE(all_within("y", y, ref, bound, c.n_out));
}

TEST(QmatmulRefine, SameResultForAnyThreadCount) {
    const Calib c = make_calib(7, 128, 32, 9);
    Quantized a, b;
    {
        Ctx one(1);
        ASSERT_OK(quantize(one.ctx, c, ENGRAM_DTYPE_F32, 2, a));
    }
    {
        Ctx two(2);
        ASSERT_OK(quantize(two.ctx, c, ENGRAM_DTYPE_F32, 2, b));
    }
    EXPECT_EQ(a.words, b.words);
    EXPECT_EQ(a.s_raw, b.s_raw);
    EXPECT_EQ(a.z_raw, b.z_raw);
}

TEST(QmatmulRefine, RejectsBadInput) {
    Calib c = make_calib(4, 64, 32, 1);
    Ctx ctx;
    std::vector<uint32_t> words(16, 0x5A5A5A5Au);
    std::vector<float> s(8, 7.0f), z(8, 7.0f);
    auto call = [&](const float* h, int it, uint32_t* cw = nullptr) {
        return engram_qmatmul_quantize_refine(ctx.ctx, 4, 64, ENGRAM_DTYPE_F32, c.w.data(), 32,
                                              ENGRAM_DTYPE_F32, h, it, cw ? cw : words.data(), 16,
                                              s.data(), z.data());
    };
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, call(nullptr, 2), "h");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, call(c.h.data(), -1), "iterations");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, call(c.h.data(), 101), "iterations");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, call(c.h.data() + 0, 2, reinterpret_cast<uint32_t*>(c.h.data())),
                  "codes overlaps h");
    std::vector<float> bad = c.h;
    bad[70] = NAN;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, call(bad.data(), 2), "h[70]");
    std::vector<float> neg(size_t(64 * 64), 0.0f);
    for (int i = 0; i < 64; ++i) neg[size_t(i * 64 + i)] = i == 5 ? -100.0f : 1.0f;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, call(neg.data(), 2), "h", "positive");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_qmatmul_quantize_refine(ctx.ctx, 4, 48, ENGRAM_DTYPE_F32, c.w.data(), 32,
                                                 ENGRAM_DTYPE_F32, c.h.data(), 2, words.data(), 16,
                                                 s.data(), z.data()),
                  "group_size");
    for (uint32_t v : words) EXPECT_EQ(0x5A5A5A5Au, v);
    for (float v : s) EXPECT_EQ(7.0f, v);
    for (float v : z) EXPECT_EQ(7.0f, v);
}
