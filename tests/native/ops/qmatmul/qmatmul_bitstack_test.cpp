// qmatmul_bitstack_test.cpp — BitStack sign planes: the decomposition's
// defining properties (signs of the residual, u = |R| v with unit v, the
// error never growing with p, planes a deterministic prefix), the error
// curve, the product over the first p planes against the float64 reference
// (qmatmul_bitstack_reference.hpp) on awkward shapes and every dtype, and
// bad input rejected with nothing written.
#include <cmath>
#include <cstring>

#include "ops/qmatmul/reference/qmatmul_bitstack_reference.hpp"
#include "test_util.hpp"

namespace engram_test {
namespace {

struct Ctx {
    engram_context* c = nullptr;
    explicit Ctx(int threads = 0) {
        engram_context_create(ENGRAM_BACKEND_CPU, 0, &c);
        engram_context_set_threads(c, threads);
    }
    ~Ctx() { engram_context_destroy(c); }
};

struct Planes {
    RefBitstack ref;
    std::vector<float> u, v;
    engram_bitstack desc() const {
        engram_bitstack b;
        engram_bitstack_init(&b);
        b.planes = ref.planes;
        b.n_out = ref.n_out;
        b.k = ref.k;
        b.signs = ref.signs.data();
        b.sign_words = ref.signs.size();
        b.row_scales = u.data();
        b.col_scales = v.data();
        return b;
    }
};

// Weights ~ N(0, 1) with per-row and per-column scales (as trained layers).
std::vector<float> weights(int64_t n, int64_t k, uint64_t seed) {
    Rng rng(seed);
    std::vector<double> rs(static_cast<size_t>(n)), cs(static_cast<size_t>(k));
    for (double& x : rs) x = std::exp(rng.normal() * 0.5);
    for (double& x : cs) x = std::exp(rng.normal() * 0.5);
    std::vector<float> w(static_cast<size_t>(n * k));
    for (int64_t r = 0; r < n; ++r)
        for (int64_t c = 0; c < k; ++c) w[size_t(r * k + c)] = float(rng.normal() * rs[size_t(r)] * cs[size_t(c)]);
    return w;
}

Planes decompose(engram_context* c, int64_t n, int64_t k, const std::vector<uint8_t>& w_raw, engram_dtype dt,
                 int planes) {
    Planes p;
    p.ref.n_out = n;
    p.ref.k = k;
    p.ref.planes = planes;
    p.ref.signs.assign(size_t(planes * n * (k / 32)), 0);
    p.u.assign(size_t(planes * n), 0.0f);
    p.v.assign(size_t(planes * k), 0.0f);
    EXPECT_OK(engram_qmatmul_bitstack_decompose(c, n, k, dt, w_raw.data(), planes, p.ref.signs.data(),
                                                p.ref.signs.size(), p.u.data(), p.v.data()));
    p.ref.u.assign(p.u.begin(), p.u.end());
    p.ref.v.assign(p.v.begin(), p.v.end());
    return p;
}

double frob(const std::vector<double>& a) {
    double s = 0.0;
    for (double x : a) s += x * x;
    return std::sqrt(s);
}

// The decomposition's definition, plane by plane, from the stored values:
// sign_j = sign(R_j) (+ at 0), v_j >= 0 of unit norm, u_j = |R_j| v_j
// (least-squares scale, so ||R_{j+1}||^2 = ||R_j||^2 - ||u_j||^2).
TEST(QmatmulBitstack, DecompositionFollowsItsDefinition) {
    Ctx ctx;
    const int64_t n = 13, k = 96;
    const int planes = 6;
    const std::vector<float> w = weights(n, k, 5);
    const Planes p = decompose(ctx.c, n, k, encode_floats(ENGRAM_DTYPE_F32, w), ENGRAM_DTYPE_F32, planes);
    std::vector<double> R(w.begin(), w.end());
    for (int j = 0; j < planes; ++j) {
        double vnorm = 0.0;
        for (int64_t c = 0; c < k; ++c) {
            const double vc = p.ref.v[size_t(j * k + c)];
            EXPECT_GE(vc, 0.0);
            vnorm += vc * vc;
        }
        EXPECT_NEAR(1.0, vnorm, 1e-6) << "plane " << j;
        double before = 0.0, unorm = 0.0;
        for (double x : R) before += x * x;
        for (int64_t r = 0; r < n; ++r) {
            double ur = 0.0;
            for (int64_t c = 0; c < k; ++c) {
                const double x = R[size_t(r * k + c)];
                ur += std::fabs(x) * p.ref.v[size_t(j * k + c)];
                // The sign bit is the residual's: R here is computed from the stored
                // planes exactly as the library updates its own (same operations).
                EXPECT_EQ(x >= 0 ? 1.0 : -1.0, ref_bitstack_sign(p.ref, j, r, c)) << j << " " << r << " " << c;
            }
            EXPECT_NEAR(ur, p.ref.u[size_t(j * n + r)], 1e-5 * (ur + 1e-30)) << "plane " << j << " row " << r;
            unorm += p.ref.u[size_t(j * n + r)] * p.ref.u[size_t(j * n + r)];
        }
        for (int64_t r = 0; r < n; ++r)
            for (int64_t c = 0; c < k; ++c)
                R[size_t(r * k + c)] -= ref_bitstack_sign(p.ref, j, r, c) * p.ref.u[size_t(j * n + r)] *
                                        p.ref.v[size_t(j * k + c)];
        double after = 0.0;
        for (double x : R) after += x * x;
        EXPECT_NEAR(before - unorm, after, 1e-5 * before) << "plane " << j;
    }
}

// The error curve: ||W - W_hat_p||_F / ||W||_F and the layer-output error
// ||x (W - W_hat_p)^T|| / ||x W^T|| fall with every plane added.
TEST(QmatmulBitstack, ErrorFallsAsPlanesAreAdded) {
    Ctx ctx;
    const int64_t n = 96, k = 256, m = 8;
    const int planes = 8;
    const std::vector<float> w = weights(n, k, 11);
    const Planes p = decompose(ctx.c, n, k, encode_floats(ENGRAM_DTYPE_F32, w), ENGRAM_DTYPE_F32, planes);
    Rng rng(12);
    std::vector<double> x(static_cast<size_t>(m * k));
    for (double& v : x) v = rng.normal();
    std::vector<double> wd(w.begin(), w.end());
    const double wnorm = frob(wd);
    std::vector<double> y_exact(size_t(m * n), 0.0);
    for (int64_t i = 0; i < m; ++i)
        for (int64_t r = 0; r < n; ++r)
            for (int64_t c = 0; c < k; ++c) y_exact[size_t(i * n + r)] += x[size_t(i * k + c)] * wd[size_t(r * k + c)];
    const double ynorm = frob(y_exact);
    double prev_w = 1.0, prev_y = INFINITY;
    std::printf("[ curve    ] %lld x %lld, N(0,1) with row/column scales: p, ||W - W_p|| / ||W||, ||y - y_p|| / ||y||\n",
                (long long)n, (long long)k);
    for (int q = 1; q <= planes; ++q) {
        std::vector<double> diff = ref_bitstack_dequantise(p.ref, q);
        for (size_t i = 0; i < diff.size(); ++i) diff[i] = wd[i] - diff[i];
        const double ew = frob(diff) / wnorm;
        const std::vector<double> yq = ref_bitstack_matmul(p.ref, q, m, x);
        std::vector<double> dy(yq.size());
        for (size_t i = 0; i < yq.size(); ++i) dy[i] = y_exact[i] - yq[i];
        const double ey = frob(dy) / ynorm;
        std::printf("[ curve    ] p=%d  %.4f  %.4f\n", q, ew, ey);
        EXPECT_LT(ew, prev_w * 0.97) << "p = " << q;
        EXPECT_LT(ey, prev_y) << "p = " << q;
        prev_w = ew;
        prev_y = ey;
    }
    EXPECT_LT(prev_w, 0.35);  // 8 planes (8 bits a weight) keep most of W
}

// Decomposing into fewer planes gives the same first planes: a model is
// dialled by loading a prefix.
TEST(QmatmulBitstack, PlanesAreADeterministicPrefixForAnyThreadCount) {
    const int64_t n = 21, k = 64;
    const std::vector<uint8_t> w = encode_floats(ENGRAM_DTYPE_BF16, weights(n, k, 21));
    Ctx one(1), three(3);
    const Planes a = decompose(one.c, n, k, w, ENGRAM_DTYPE_BF16, 5);
    const Planes b = decompose(three.c, n, k, w, ENGRAM_DTYPE_BF16, 3);
    EXPECT_EQ(0, std::memcmp(a.ref.signs.data(), b.ref.signs.data(), b.ref.signs.size() * 4));
    EXPECT_EQ(0, std::memcmp(a.u.data(), b.u.data(), b.u.size() * 4));
    EXPECT_EQ(0, std::memcmp(a.v.data(), b.v.data(), b.v.size() * 4));
}

// y over the first p planes against the float64 reference. Error model:
// each term x_c v_c is rounded once (u = 2^-24), the k signed terms summed in
// fp32 in some order (u k sum |x v|), times u_r (u), and p planes added (u p):
// within u (k + p + 3) sum_j |u_j| sum_c |x_c v_jc|, plus 2^-11 / 2^-8 of |y|
// for a 16-bit y.
TEST(QmatmulBitstackIsa, ProductMatchesTheReference) {
    Ctx ctx;
    struct Shape {
        int64_t n, k, m;
    };
    const Shape shapes[] = {{1, 32, 1}, {5, 64, 3}, {7, 96, 17}, {33, 32, 2}, {4, 320, 5}, {17, 128, 1}};
    int variant = 0;
    for (const Shape& s : shapes)
        for (engram_dtype xd : {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16}) {
            const int planes = 1 + variant % 4;
            const Planes p = decompose(ctx.c, s.n, s.k, encode_floats(ENGRAM_DTYPE_F32, weights(s.n, s.k, 31 + uint64_t(variant))),
                                       ENGRAM_DTYPE_F32, planes);
            Rng rng(100 + uint64_t(variant));
            std::vector<float> xf(static_cast<size_t>(s.m * s.k));
            for (float& v : xf) v = float(rng.normal());
            const std::vector<uint8_t> x_raw = encode_floats(xd, xf);
            const std::vector<float> xs = decode_floats(xd, x_raw.data(), xf.size());
            const std::vector<double> x(xs.begin(), xs.end());
            const engram_dtype yd = variant % 2 ? xd : ENGRAM_DTYPE_F32;
            for (int q = 1; q <= planes; ++q) {
                std::vector<uint8_t> y(size_t(s.m * s.n) * engram_dtype_size(yd), 0xFF);
                const engram_bitstack b = p.desc();
                ASSERT_OK(engram_qmatmul_bitstack(ctx.c, &b, q, s.m, xd, x_raw.data(), yd, y.data()));
                const std::vector<float> got = decode_floats(yd, y.data(), size_t(s.m * s.n));
                std::vector<double> mag;
                const std::vector<double> ref = ref_bitstack_matmul(p.ref, q, s.m, x, &mag);
                const double u = std::ldexp(1.0, -24);
                for (size_t i = 0; i < ref.size(); ++i) {
                    double bound = u * double(s.k + q + 3) * mag[i] + 1e-38;
                    if (yd == ENGRAM_DTYPE_F16) bound += std::ldexp(1.0, -11) * (std::fabs(ref[i]) + bound) + std::ldexp(1.0, -25);
                    if (yd == ENGRAM_DTYPE_BF16) bound += std::ldexp(1.0, -8) * (std::fabs(ref[i]) + bound);
                    EXPECT_LE(std::fabs(got[i] - ref[i]), bound)
                        << "n " << s.n << " k " << s.k << " m " << s.m << " p " << q << " entry " << i;
                }
            }
            ++variant;
        }
}

// The documented fp32 evaluation order, bit for bit (so the AVX-512 row sum
// and the portable loop, run by the isa_* variants of this test, agree):
// xv = fl(x v); lane l sums the signed xv of columns 16 i + l in order; the
// 16 lanes are added 0..15; out += u * sum, planes in order.
TEST(QmatmulBitstackIsa, ProductFollowsTheDocumentedOrderBitForBit) {
    Ctx ctx;
    const int64_t n = 11, k = 224, m = 2;
    const int planes = 3;
    const Planes p = decompose(ctx.c, n, k, encode_floats(ENGRAM_DTYPE_F32, weights(n, k, 61)), ENGRAM_DTYPE_F32, planes);
    Rng rng(62);
    std::vector<float> x(static_cast<size_t>(m * k));
    for (float& v : x) v = float(rng.normal());
    std::vector<float> y(static_cast<size_t>(m * n));
    const engram_bitstack b = p.desc();
    ASSERT_OK(engram_qmatmul_bitstack(ctx.c, &b, planes, m, ENGRAM_DTYPE_F32, x.data(), ENGRAM_DTYPE_F32, y.data()));
    for (int64_t i = 0; i < m; ++i)
        for (int64_t r = 0; r < n; ++r) {
            float out = 0.0f;
            for (int j = 0; j < planes; ++j) {
                float lanes[16] = {};
                for (int64_t c = 0; c < k; ++c) {
                    const float xv = x[size_t(i * k + c)] * p.v[size_t(j * k + c)];
                    lanes[c % 16] += ref_bitstack_sign(p.ref, j, r, c) > 0 ? xv : -xv;
                }
                float sum = 0.0f;
                for (float l : lanes) sum += l;
                out += p.u[size_t(j * n + r)] * sum;
            }
            EXPECT_EQ(out, y[size_t(i * n + r)]) << "row " << i << " column " << r;
        }
}

TEST(QmatmulBitstack, ProductIsBitIdenticalForAnyThreadCount) {
    const int64_t n = 37, k = 160, m = 3;
    Ctx one(1), two(2), three(3);
    const Planes p = decompose(one.c, n, k, encode_floats(ENGRAM_DTYPE_F32, weights(n, k, 41)), ENGRAM_DTYPE_F32, 4);
    Rng rng(42);
    std::vector<float> x(static_cast<size_t>(m * k));
    for (float& v : x) v = float(rng.normal());
    std::vector<float> y1(static_cast<size_t>(m * n)), y2(y1.size()), y3(y1.size());
    const engram_bitstack b = p.desc();
    ASSERT_OK(engram_qmatmul_bitstack(one.c, &b, 4, m, ENGRAM_DTYPE_F32, x.data(), ENGRAM_DTYPE_F32, y1.data()));
    ASSERT_OK(engram_qmatmul_bitstack(two.c, &b, 4, m, ENGRAM_DTYPE_F32, x.data(), ENGRAM_DTYPE_F32, y2.data()));
    ASSERT_OK(engram_qmatmul_bitstack(three.c, &b, 4, m, ENGRAM_DTYPE_F32, x.data(), ENGRAM_DTYPE_F32, y3.data()));
    EXPECT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * 4));
    EXPECT_EQ(0, std::memcmp(y1.data(), y3.data(), y1.size() * 4));
}

TEST(QmatmulBitstack, BadInputIsRejectedWithNothingWritten) {
    Ctx ctx;
    const int64_t n = 3, k = 64;
    std::vector<float> w = weights(n, k, 51);
    std::vector<uint32_t> signs(size_t(2 * n * (k / 32)), 0xDEADBEEFu);
    std::vector<float> u(size_t(2 * n), 7.0f), v(size_t(2 * k), 7.0f);
    auto dec = [&](int64_t nn, int64_t kk, const void* wp, int planes, uint64_t words) {
        return engram_qmatmul_bitstack_decompose(ctx.c, nn, kk, ENGRAM_DTYPE_F32, wp, planes, signs.data(), words,
                                                 u.data(), v.data());
    };
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, dec(n, 48, w.data(), 2, signs.size()), "k = 48", "multiple of 32");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, dec(n, k, w.data(), 0, signs.size()), "planes");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, dec(n, k, w.data(), 33, signs.size()), "planes");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, dec(n, k, w.data(), 2, signs.size() - 1), "sign_words");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, dec(n, k, nullptr, 2, signs.size()), "w");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, dec(0, k, w.data(), 2, signs.size()), "n_out");
    w[5] = NAN;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, dec(n, k, w.data(), 2, signs.size()), "w[5]", "finite");
    w[5] = 1.0f;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_qmatmul_bitstack_decompose(ctx.c, n, k, ENGRAM_DTYPE_F32, w.data(), 2, signs.data(),
                                                    signs.size(), u.data(), u.data()),
                  "overlap");
    EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED,
                  engram_qmatmul_bitstack_decompose(ctx.c, n, k, ENGRAM_DTYPE_I32, w.data(), 2, signs.data(),
                                                    signs.size(), u.data(), v.data()),
                  "w_dtype");
    for (uint32_t s : signs) ASSERT_EQ(0xDEADBEEFu, s);
    for (float x : u) ASSERT_EQ(7.0f, x);
    for (float x : v) ASSERT_EQ(7.0f, x);

    const Planes p = decompose(ctx.c, n, k, encode_floats(ENGRAM_DTYPE_F32, w), ENGRAM_DTYPE_F32, 2);
    std::vector<float> x(size_t(2 * k), 1.0f), y(size_t(2 * n), 5.0f);
    struct Fault {
        const char* needle;
        engram_status st;
        void (*edit)(engram_bitstack&);
    };
    const Fault faults[] = {
        {"b->struct_size", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_bitstack& b) { b.struct_size = 8; }},
        {"b->planes", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_bitstack& b) { b.planes = 0; }},
        {"b->k", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_bitstack& b) { b.k = 48; }},
        {"b->sign_words", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_bitstack& b) { b.sign_words += 1; }},
        {"b->signs", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_bitstack& b) { b.signs = nullptr; }},
        {"b->row_scales", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_bitstack& b) { b.row_scales = nullptr; }},
        {"b->col_scales", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_bitstack& b) { b.col_scales = nullptr; }},
    };
    for (const Fault& f : faults) {
        engram_bitstack b = p.desc();
        f.edit(b);
        EXPECT_STATUS(f.st, engram_qmatmul_bitstack(ctx.c, &b, 1, 2, ENGRAM_DTYPE_F32, x.data(), ENGRAM_DTYPE_F32, y.data()),
                      f.needle);
    }
    const engram_bitstack b = p.desc();
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_qmatmul_bitstack(ctx.c, &b, 3, 2, ENGRAM_DTYPE_F32, x.data(), ENGRAM_DTYPE_F32, y.data()),
                  "p = 3");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_qmatmul_bitstack(ctx.c, &b, 0, 2, ENGRAM_DTYPE_F32, x.data(), ENGRAM_DTYPE_F32, y.data()), "p = 0");
    EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED,
                  engram_qmatmul_bitstack(ctx.c, &b, 1, 2, ENGRAM_DTYPE_F32, x.data(), ENGRAM_DTYPE_F16, y.data()), "y_dtype");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_qmatmul_bitstack(ctx.c, &b, 1, 2, ENGRAM_DTYPE_F32, x.data(), ENGRAM_DTYPE_F32,
                                          const_cast<float*>(p.u.data())),
                  "overlap");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_qmatmul_bitstack(ctx.c, &b, 1, 0, ENGRAM_DTYPE_F32, x.data(), ENGRAM_DTYPE_F32, y.data()), "m");
    for (float v2 : y) ASSERT_EQ(5.0f, v2);
    uint64_t size = 0;
    EXPECT_OK(engram_struct_layout("engram_bitstack", nullptr, &size));
    EXPECT_EQ(sizeof(engram_bitstack), size);
}

}  // namespace
}  // namespace engram_test
