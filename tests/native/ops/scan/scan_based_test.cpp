// scan_based_test.cpp — BASED on the CPU against the float64 references
// (scan_based_reference.hpp): the Taylor feature map (d = 16 gives 273
// features) and its backward against finite differences, BASED linear
// attention (chunked, via 1 + s + s^2/2) against the materialised form over
// explicit features, the sliding-window softmax attention; every dtype,
// grouped heads, awkward T; NaN; bit-identical over threads; bad input.
#include <cmath>
#include <limits>

#include "ops/scan/reference/scan_based_reference.hpp"
#include "test_util.hpp"

namespace engram_test {
namespace {

constexpr double kEps = 0x1p-24;

double out_eps(engram_dtype dt) {
    return dt == ENGRAM_DTYPE_BF16 ? 0x1p-8 : dt == ENGRAM_DTYPE_F16 ? 0x1p-11 : 0.0;
}

std::vector<float> draw(Rng& rng, engram_dtype dt, int64_t n, double sd = 1.0) {
    std::vector<float> x(static_cast<size_t>(n));
    for (float& e : x) e = round_to(dt, float(sd * rng.normal()));
    return x;
}

TEST(ScanBased, FeatureMapMatchesReference) {
    Context ctx(ENGRAM_BACKEND_CPU);
    for (engram_dtype dt : {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16})
        for (int64_t d : {1, 3, 16, 32}) {
            SCOPED_TRACE(std::string(dtype_label(dt)) + " d" + std::to_string(d));
            const int64_t rows = 7, f = 1 + d + d * d;
            if (d == 16) {
                EXPECT_EQ(273, f);
            }
            Rng rng(static_cast<uint64_t>(d));
            const std::vector<float> x = draw(rng, dt, rows * d);
            Buffer xb = ctx.upload(encode_floats(dt, x)), phi = ctx.output(size_t(rows * f) * 4);
            ASSERT_OK(engram_scan_based_feature_map(ctx.get(), dt, rows, d, xb.get(), phi.as<float>()));
            const std::vector<double> want = ref_based_feature_map(std::vector<double>(x.begin(), x.end()), rows, d);
            std::vector<double> bound;  // two products and a constant: a few fp32 roundings
            for (double w : want) bound.push_back(4 * kEps * std::fabs(w) + 1e-30);
            EXPECT_TRUE(all_within("phi", phi.floats(), want, bound, f));
            // The map's defining identity, on the reference: phi(a).phi(b) = 1 + s + s^2/2.
            const double* pa = want.data();
            const double* pb = want.data() + f;
            double dot = 0.0, s = 0.0;
            for (int64_t e = 0; e < f; ++e) dot += pa[e] * pb[e];
            for (int64_t e = 0; e < d; ++e) s += double(x[size_t(e)]) * x[size_t(d + e)];
            s /= std::sqrt(double(d));
            EXPECT_NEAR(1.0 + s + 0.5 * s * s, dot, 1e-12 * (1.0 + s * s));
        }
}

TEST(ScanBased, FeatureMapBackwardAgainstFiniteDifferences) {
    Context ctx(ENGRAM_BACKEND_CPU);
    for (engram_dtype dt : {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_BF16})
        for (int64_t d : {1, 5, 16}) {
            SCOPED_TRACE(std::string(dtype_label(dt)) + " d" + std::to_string(d));
            const int64_t rows = 3, f = 1 + d + d * d;
            Rng rng(uint64_t(7 + d));
            const std::vector<float> x = draw(rng, dt, rows * d), g = draw(rng, ENGRAM_DTYPE_F32, rows * f);
            Buffer xb = ctx.upload(encode_floats(dt, x)), gb = ctx.upload(g), dx = ctx.output(size_t(rows * d) * 4);
            ASSERT_OK(engram_scan_based_feature_map_backward(ctx.get(), dt, rows, d, xb.get(), gb.as<float>(),
                                                             dx.as<float>()));
            std::vector<double> xd(x.begin(), x.end()), want(xd.size()), bound;
            auto loss = [&] {
                const std::vector<double> phi = ref_based_feature_map(xd, rows, d);
                double l = 0.0;
                for (size_t i = 0; i < phi.size(); ++i) l += double(g[i]) * phi[i];
                return l;
            };
            const double h = 1e-5;
            for (size_t i = 0; i < xd.size(); ++i) {
                const double x0 = xd[i];
                xd[i] = x0 + h;
                const double lp = loss();
                xd[i] = x0 - h;
                const double lm = loss();
                xd[i] = x0;
                want[i] = (lp - lm) / (2 * h);
            }
            // 2d + 2 fp32 terms per entry: bound from the sum of |terms|.
            for (int64_t r = 0; r < rows; ++r)
                for (int64_t i = 0; i < d; ++i) {
                    double mag = std::fabs(g[size_t(r * f + 1 + i)]);
                    for (int64_t j = 0; j < d; ++j)
                        mag += (std::fabs(g[size_t(r * f + 1 + d + i * d + j)]) + std::fabs(g[size_t(r * f + 1 + d + j * d + i)])) *
                               std::fabs(x[size_t(r * d + j)]);
                    bound.push_back(4.0 * double(2 * d + 4) * kEps * mag + 1e-8);
                }
            EXPECT_TRUE(all_within("dx", dx.floats(), want, bound, d));
        }
}

struct AttnCase {
    int64_t b, t, hk, h, d, v;
    int32_t chunk_or_window;
    engram_dtype dt;
};

engram_scan_based_inputs inputs_of(const AttnCase& c, const Buffer& q, const Buffer& k, const Buffer& v, bool window) {
    engram_scan_based_inputs in;
    engram_scan_based_inputs_init(&in);
    in.dtype = c.dt;
    in.output_dtype = ENGRAM_DTYPE_F32;
    in.batch = c.b;
    in.t = c.t;
    in.heads = c.h;
    in.qk_heads = c.hk;
    in.k_dim = c.d;
    in.v_dim = c.v;
    if (window) in.window = c.chunk_or_window;
    else in.chunk_size = c.chunk_or_window;
    in.q = q.get();
    in.k = k.get();
    in.v = v.get();
    return in;
}

// BASED: bound from the error model 4 (F + 2C + T/C + 8) eps R (o_abs + |o|),
// o_abs the reference on |q|, |k|, |v| (sums of |terms| over the absolute
// denominator) and R = 3 + 2 sqrt(2) the largest ratio of an absolute score
// 1 + |s| + s^2/2 to the score 1 + s + s^2/2 (so |num| / den <= R o_abs).
TEST(ScanBased, BasedForwardMatchesReference) {
    Context ctx(ENGRAM_BACKEND_CPU);
    const AttnCase cases[] = {{1, 1, 1, 1, 16, 8, 0, ENGRAM_DTYPE_F32},  {2, 37, 2, 4, 16, 5, 16, ENGRAM_DTYPE_F32},
                              {1, 65, 1, 1, 3, 7, 0, ENGRAM_DTYPE_F32},  {1, 130, 2, 2, 8, 4, 64, ENGRAM_DTYPE_F32},
                              {2, 29, 1, 3, 16, 6, 7, ENGRAM_DTYPE_F16}, {1, 41, 2, 2, 16, 9, 1, ENGRAM_DTYPE_BF16},
                              {1, 23, 1, 1, 32, 3, 256, ENGRAM_DTYPE_BF16}};
    for (const AttnCase& c : cases) {
        SCOPED_TRACE("B" + std::to_string(c.b) + " T" + std::to_string(c.t) + " H" + std::to_string(c.h) + "/" +
                     std::to_string(c.hk) + " d" + std::to_string(c.d) + " V" + std::to_string(c.v) + " chunk" +
                     std::to_string(c.chunk_or_window) + " " + dtype_label(c.dt));
        Rng rng(uint64_t(c.t * 7 + c.d));
        const std::vector<float> q = draw(rng, c.dt, c.b * c.t * c.hk * c.d, 0.5), k = draw(rng, c.dt, c.b * c.t * c.hk * c.d, 0.5),
                                 v = draw(rng, c.dt, c.b * c.t * c.h * c.v);
        Buffer qb = ctx.upload(encode_floats(c.dt, q)), kb = ctx.upload(encode_floats(c.dt, k)),
               vb = ctx.upload(encode_floats(c.dt, v)), o = ctx.output(size_t(c.b * c.t * c.h * c.v) * 4);
        const engram_scan_based_inputs in = inputs_of(c, qb, kb, vb, false);
        ASSERT_OK(engram_scan_based_forward(ctx.get(), &in, o.get()));
        BasedRefProblem p{c.b, c.t, c.h, c.hk, c.d, c.v, 64, 1.0, {q.begin(), q.end()}, {k.begin(), k.end()}, {v.begin(), v.end()}};
        const std::vector<double> want = ref_based_forward(p);
        for (auto* x : {&p.q, &p.k, &p.v})
            for (double& e : *x) e = std::fabs(e);
        const std::vector<double> mag = ref_based_forward(p);
        const int64_t chunk = std::min<int64_t>(c.chunk_or_window ? c.chunk_or_window : 64, c.t);
        const double terms = double(1 + c.d + c.d * c.d + 2 * chunk + c.t / chunk + 8);
        std::vector<double> bound;
        for (size_t i = 0; i < want.size(); ++i)
            bound.push_back(4.0 * terms * kEps * (3.0 + 2.0 * std::sqrt(2.0)) * (mag[i] + std::fabs(want[i])) + 1e-30);
        EXPECT_TRUE(all_within("o", o.floats(), want, bound, c.v));
    }
}

// Window: the scores' fp32 error (D terms of |q||k| scale) moves each weight
// by that much relatively; the weighted sum adds w terms.
TEST(ScanBased, SlidingWindowMatchesReference) {
    Context ctx(ENGRAM_BACKEND_CPU);
    const AttnCase cases[] = {{1, 1, 1, 1, 4, 3, 0, ENGRAM_DTYPE_F32},    {2, 37, 2, 4, 16, 5, 5, ENGRAM_DTYPE_F32},
                              {1, 130, 1, 2, 8, 4, 0, ENGRAM_DTYPE_F32},  {1, 67, 1, 1, 16, 16, 1, ENGRAM_DTYPE_F32},
                              {1, 29, 1, 3, 32, 6, 100, ENGRAM_DTYPE_F16}, {2, 71, 2, 2, 16, 9, 64, ENGRAM_DTYPE_BF16}};
    for (const AttnCase& c : cases) {
        SCOPED_TRACE("B" + std::to_string(c.b) + " T" + std::to_string(c.t) + " H" + std::to_string(c.h) + "/" +
                     std::to_string(c.hk) + " d" + std::to_string(c.d) + " w" + std::to_string(c.chunk_or_window) + " " +
                     dtype_label(c.dt));
        Rng rng(uint64_t(c.t * 3 + c.d));
        const std::vector<float> q = draw(rng, c.dt, c.b * c.t * c.h * c.d), k = draw(rng, c.dt, c.b * c.t * c.hk * c.d),
                                 v = draw(rng, c.dt, c.b * c.t * c.hk * c.v);
        Buffer qb = ctx.upload(encode_floats(c.dt, q)), kb = ctx.upload(encode_floats(c.dt, k)),
               vb = ctx.upload(encode_floats(c.dt, v)), o = ctx.output(size_t(c.b * c.t * c.h * c.v) * 4);
        const engram_scan_based_inputs in = inputs_of(c, qb, kb, vb, true);
        ASSERT_OK(engram_scan_sliding_window_forward(ctx.get(), &in, o.get()));
        const int w = c.chunk_or_window ? c.chunk_or_window : 64;
        const double scale = double(float(1.0 / std::sqrt(double(c.d))));
        BasedRefProblem p{c.b, c.t, c.h, c.hk, c.d, c.v, w, scale, {q.begin(), q.end()}, {k.begin(), k.end()}, {v.begin(), v.end()}};
        const std::vector<double> want = ref_sliding_window(p);
        for (double& e : p.v) e = std::fabs(e);
        const std::vector<double> mag = ref_sliding_window(p);  // sum_j p_j |v_j|
        double smag = 0.0;  // the largest sum of |q||k| scale
        for (int64_t r = 0; r < c.b * c.t * c.h; ++r)
            for (int64_t j = 0; j < c.b * c.t * c.hk; ++j) {
                double s = 0.0;
                for (int64_t e = 0; e < c.d; ++e) s += std::fabs(double(q[size_t(r * c.d + e)]) * k[size_t(j * c.d + e)]);
                smag = std::max(smag, s * scale);
            }
        std::vector<double> bound;
        for (size_t i = 0; i < want.size(); ++i)
            bound.push_back(kEps * (4.0 * double(std::min<int64_t>(w, c.t) + 8) + 4.0 * double(c.d) * smag) * mag[i] + 1e-30);
        EXPECT_TRUE(all_within("o", o.floats(), want, bound, c.v));
    }
}

// NaN in k at token s: BASED makes every later output NaN; the window only
// those that see s. Bit-identical over 1, 2, 3 threads.
TEST(ScanBased, NanAndDeterminism) {
    const AttnCase c{1, 20, 1, 1, 4, 3, 0, ENGRAM_DTYPE_F32};
    Rng rng(1);
    std::vector<float> q = draw(rng, c.dt, c.t * c.d), k = draw(rng, c.dt, c.t * c.d), v = draw(rng, c.dt, c.t * c.v);
    k[size_t(6 * c.d + 1)] = std::numeric_limits<float>::quiet_NaN();
    std::vector<std::vector<float>> runs;
    for (int threads : {1, 2, 3}) {
        Context ctx(ENGRAM_BACKEND_CPU);
        ASSERT_OK(engram_context_set_threads(ctx.get(), threads));
        Buffer qb = ctx.upload(q), kb = ctx.upload(k), vb = ctx.upload(v), o = ctx.output(size_t(c.t * c.v) * 4),
               ow = ctx.output(size_t(c.t * c.v) * 4);
        engram_scan_based_inputs in = inputs_of(c, qb, kb, vb, false);
        in.chunk_size = 8;
        ASSERT_OK(engram_scan_based_forward(ctx.get(), &in, o.get()));
        in.window = 5;
        ASSERT_OK(engram_scan_sliding_window_forward(ctx.get(), &in, ow.get()));
        const std::vector<float> a = o.floats(), b = ow.floats();
        for (int64_t t = 0; t < c.t; ++t)
            for (int64_t x = 0; x < c.v; ++x) {
                EXPECT_EQ(t >= 6, std::isnan(a[size_t(t * c.v + x)])) << t;
                EXPECT_EQ(t >= 6 && t < 11, std::isnan(b[size_t(t * c.v + x)])) << t;
            }
        std::vector<float> both(a);
        both.insert(both.end(), b.begin(), b.end());
        runs.push_back(both);
    }
    for (size_t i = 1; i < runs.size(); ++i) EXPECT_EQ(0, std::memcmp(runs[0].data(), runs[i].data(), runs[0].size() * 4));
}

TEST(ScanBased, RejectsBadInput) {
    Context ctx(ENGRAM_BACKEND_CPU);
    const AttnCase c{1, 4, 1, 2, 4, 3, 0, ENGRAM_DTYPE_F32};
    Buffer q = ctx.upload(std::vector<float>(size_t(c.t * c.h * c.d), 0.5f)), k = ctx.upload(std::vector<float>(size_t(c.t * c.h * c.d), 0.5f)),
           v = ctx.upload(std::vector<float>(size_t(c.t * c.h * c.v), 0.5f)), o = ctx.output(size_t(c.t * c.h * c.v) * 4);
    const std::vector<float> before = o.floats();
    auto expect_untouched = [&] {
        const std::vector<float> now = o.floats();
        EXPECT_EQ(0, std::memcmp(before.data(), now.data(), now.size() * 4));
    };
    engram_scan_based_inputs in = inputs_of(c, q, k, v, false);
    in.k_dim = ENGRAM_SCAN_BASED_MAX_DIM + 1;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_scan_based_forward(ctx.get(), &in, o.get()), "in->k_dim = 33");
    in = inputs_of(c, q, k, v, true);
    in.window = -1;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_scan_sliding_window_forward(ctx.get(), &in, o.get()), "in->window");
    in = inputs_of(c, q, k, v, true);
    in.scale = std::numeric_limits<float>::infinity();
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_scan_sliding_window_forward(ctx.get(), &in, o.get()), "in->scale");
    in = inputs_of(c, q, k, v, false);
    in.qk_heads = 3;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_scan_based_forward(ctx.get(), &in, o.get()), "in->qk_heads");
    in = inputs_of(c, q, k, v, false);
    in.chunk_size = 257;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_scan_based_forward(ctx.get(), &in, o.get()), "in->chunk_size");
    in = inputs_of(c, q, k, v, false);
    in.output_dtype = ENGRAM_DTYPE_BF16;
    EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED, engram_scan_based_forward(ctx.get(), &in, o.get()), "in->output_dtype");
    in = inputs_of(c, q, k, v, false);
    in.v = nullptr;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_scan_based_forward(ctx.get(), &in, o.get()), "in->v");
    in = inputs_of(c, q, k, v, false);
    in.struct_size = 2;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_scan_based_forward(ctx.get(), &in, o.get()), "in->struct_size");
    in = inputs_of(c, q, k, v, false);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_scan_based_forward(ctx.get(), &in, const_cast<void*>(in.v)), "overlaps");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_scan_based_forward(ctx.get(), &in, nullptr), "o");
    expect_untouched();
    Buffer phi = ctx.output(size_t(2 * 21) * 4);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_scan_based_feature_map(ctx.get(), ENGRAM_DTYPE_F32, 2, 33, q.get(), phi.as<float>()), "dim = 33");
    EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED, engram_scan_based_feature_map(ctx.get(), ENGRAM_DTYPE_I32, 2, 4, q.get(), phi.as<float>()), "dtype");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_scan_based_feature_map(ctx.get(), ENGRAM_DTYPE_F32, 0, 4, q.get(), phi.as<float>()), "rows");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_scan_based_feature_map(ctx.get(), ENGRAM_DTYPE_F32, 2, 4, q.get(), nullptr), "phi");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_scan_based_feature_map_backward(ctx.get(), ENGRAM_DTYPE_F32, 2, 4, q.get(), phi.as<float>(), phi.as<float>()), "overlaps");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_scan_based_feature_map_backward(ctx.get(), ENGRAM_DTYPE_F32, 2, 4, q.get(), nullptr, o.as<float>()), "d_phi");
    for (engram_op op : {ENGRAM_OP_SCAN_BASED_FEATURE_MAP, ENGRAM_OP_SCAN_BASED_FEATURE_MAP_BACKWARD, ENGRAM_OP_SCAN_BASED_FORWARD,
                         ENGRAM_OP_SCAN_SLIDING_WINDOW_FORWARD})
        EXPECT_OK(engram_op_supported(ENGRAM_BACKEND_CPU, op, ENGRAM_DTYPE_F16));
    uint64_t value = 0;
    ASSERT_OK(engram_struct_layout("engram_scan_based_inputs", "scale", &value));
    EXPECT_EQ(offsetof(engram_scan_based_inputs, scale), value);
}

}  // namespace
}  // namespace engram_test
