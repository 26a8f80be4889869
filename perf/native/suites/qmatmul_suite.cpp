// qmatmul_suite.cpp — see qmatmul_suite.hpp. Inputs: codes uniform over
// {0..3}; s ~ ±U(0.01, 1), z ~ N(0, 1) (or the extreme kinds below); x ~ N(0, 1);
// every value rounded to its dtype first, so the float64 reference sees
// exactly what the library reads.
#include "qmatmul_suite.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <random>
#include <stdexcept>

#include "ops/qmatmul/reference/qmatmul_bitstack_reference.hpp"
#include "ops/qmatmul/reference/qmatmul_reference.hpp"
#include "qmatmul_tolerance.hpp"
#include "shared/half.h"
#include "suite_memory.hpp"

namespace engram_suite {

using engram_test::RefQWeight;

namespace {

// Awkward product shapes {m, n, k, g}: m = 1..17 each at least once, n = 1
// and n not a multiple of the 4-row blocks, k = G, 2G, 3G and long rows,
// m > 16 (the dequantise-tile path), and k not a multiple of G (rejected).
constexpr int64_t kProduct[][4] = {
    {1, 1, 32, 32},    {2, 5, 64, 32},    {3, 7, 96, 32},    {4, 1, 128, 128},  {5, 13, 192, 64},
    {6, 4, 256, 128},  {7, 3, 384, 128},  {8, 17, 128, 32},  {9, 6, 320, 64},   {10, 9, 64, 64},
    {11, 2, 224, 32},  {12, 5, 512, 128}, {13, 8, 256, 64},  {14, 11, 160, 32}, {15, 1, 2048, 128},
    {16, 10, 96, 32},  {17, 6, 192, 64},  {1, 3, 96, 64},    {40, 37, 256, 64}, {33, 1, 128, 32},
    {1, 259, 1024, 128}, {2, 4, 80, 32},
};

// Quantizer shapes {n, k, g}.
constexpr int64_t kQuantize[][3] = {
    {1, 32, 32}, {3, 64, 32}, {5, 128, 64}, {2, 384, 128}, {7, 96, 32}, {4, 256, 128}, {9, 192, 64},
};

// Layout-conversion shapes {n, k} (k a multiple of 16).
constexpr int64_t kLayout[][2] = {{1, 16}, {3, 48}, {5, 16}, {7, 112}, {4, 64}, {9, 160}, {13, 32}, {2, 1024}};

// BitStack shapes {m, n, k, planes, p}.
constexpr int64_t kBitstack[][5] = {{1, 1, 32, 1, 1}, {3, 5, 64, 3, 2}, {1, 7, 96, 4, 4},
                                    {17, 4, 32, 2, 1}, {2, 33, 160, 5, 3}, {5, 2, 256, 8, 8}};

float round_to(engram_dtype dt, float x) {
    if (dt == ENGRAM_DTYPE_BF16) return engram::bf16_to_f32(engram::f32_to_bf16(x));
    if (dt == ENGRAM_DTYPE_F16) return engram::f16_to_f32(engram::f32_to_f16(x));
    return x;
}

// Rounds values to the dtype in place and returns their bytes.
std::vector<uint8_t> encode(engram_dtype dt, std::vector<double>& values) {
    const size_t size = engram_dtype_size(dt);
    std::vector<uint8_t> raw(values.size() * size);
    for (size_t i = 0; i < values.size(); ++i) {
        const float x = round_to(dt, float(values[i]));
        values[i] = x;
        if (dt == ENGRAM_DTYPE_F32) {
            std::memcpy(&raw[4 * i], &x, 4);
        } else {
            const uint16_t h = dt == ENGRAM_DTYPE_BF16 ? engram::f32_to_bf16(x) : engram::f32_to_f16(x);
            std::memcpy(&raw[2 * i], &h, 2);
        }
    }
    return raw;
}

int64_t dim(const Case& c, const char* name) {
    const auto it = c.dims.find(name);
    if (it == c.dims.end() || it->second < 1)
        throw std::runtime_error(std::string("dimension ") + name + " missing or < 1");
    return it->second;
}

engram_dtype scale_dtype_of(const Case& c) {
    return c.option("scale_f16", 0) != 0 ? ENGRAM_DTYPE_F16 : ENGRAM_DTYPE_F32;
}

// A random quantized matrix; ref holds the plain words and decoded s, z.
struct QMatrix {
    RefQWeight ref;
    engram_dtype scale_dtype = ENGRAM_DTYPE_F32;
    std::vector<uint8_t> scales_raw, zeros_raw;
    double x_scale = 1.0;  // activations' magnitude that keeps y finite
};

QMatrix make_matrix(std::mt19937_64& rng, int64_t n, int64_t k, int64_t g, engram_dtype sd,
                    int values) {
    QMatrix q;
    q.scale_dtype = sd;
    q.ref.n_out = n;
    q.ref.k = k;
    q.ref.group = g;
    q.ref.words.resize(static_cast<size_t>(n * (k / 16)));
    for (uint32_t& w : q.ref.words) w = uint32_t(rng());
    const size_t ns = size_t(n * (k / g));
    std::normal_distribution<double> normal(0.0, 1.0);
    std::uniform_real_distribution<double> uni(0.0, 1.0);
    const bool f16 = sd == ENGRAM_DTYPE_F16;
    q.ref.scales.resize(ns);
    q.ref.zeros.resize(ns);
    for (size_t i = 0; i < ns; ++i) {
        const double sign = uni(rng) < 0.5 ? -1.0 : 1.0;
        double& s = q.ref.scales[i];
        double& z = q.ref.zeros[i];
        switch (values) {
            case 1: s = 0.0; z = normal(rng); break;  // all groups equal
            case 2:  // extreme: near the dtype's largest values
                s = sign * (0.5 + 0.5 * uni(rng)) * (f16 ? 6.0e4 : 1e30);
                z = normal(rng) * (f16 ? 2.0e4 : 1e30);
                q.x_scale = 1e-6;
                break;
            case 3:  // extreme: tiny (f16 subnormals)
                s = sign * (0.5 + 0.5 * uni(rng)) * (f16 ? 1e-7 : 1e-35);
                z = normal(rng) * (f16 ? 1e-7 : 1e-35);
                break;
            default: s = sign * (0.01 + 0.99 * uni(rng)); z = normal(rng); break;
        }
    }
    q.scales_raw = encode(sd, q.ref.scales);
    q.zeros_raw = encode(sd, q.ref.zeros);
    return q;
}

// y [m, n] from engram_qmatmul, or the rejection of a k that G does not divide.
void run_product(Comparison& cmp, engram_context* ctx, const Case& c) {
    const int64_t m = dim(c, "m"), n = dim(c, "n"), k = dim(c, "k"), g = dim(c, "g");
    const engram_dtype sd = scale_dtype_of(c);
    const int values = int(c.option("values", 0));
    const engram_qlayout layout = c.option("layout", 0) != 0 ? ENGRAM_QLAYOUT_CPU_PREPARED
                                                             : ENGRAM_QLAYOUT_PLAIN;
    const engram_dtype ydt = c.option("y_x", 0) != 0 ? c.dtype : ENGRAM_DTYPE_F32;
    std::mt19937_64 rng(c.seed);
    const bool reject = k % g != 0;
    // A rejected shape still gets arrays of the lengths it would have with k
    // rounded up to a multiple of G (the library must not read them).
    const int64_t k_data = reject ? (k + g - 1) / g * g : k;
    QMatrix q = make_matrix(rng, n, k_data, g, sd, values);
    std::normal_distribution<double> normal(0.0, 1.0);
    std::vector<double> x(static_cast<size_t>(m * k));
    for (double& v : x) v = normal(rng) * q.x_scale;
    const std::vector<uint8_t> x_raw = encode(c.dtype, x);
    const std::vector<uint32_t> words =
        layout == ENGRAM_QLAYOUT_PLAIN ? q.ref.words : engram_test::ref_prepare(n, k_data, q.ref.words);
    SuiteBuffer codes_b = upload(ctx, words), s_b = upload(ctx, q.scales_raw),
                z_b = upload(ctx, q.zeros_raw), x_b = upload(ctx, x_raw);
    const size_t y_bytes = size_t(m * n) * engram_dtype_size(ydt);
    SuiteBuffer y_b = output(ctx, y_bytes);
    engram_qweight w;
    engram_qweight_init(&w);
    w.scale_dtype = sd;
    w.group_size = int32_t(g);
    w.layout = layout;
    w.n_out = n;
    w.k = k;
    w.codes = static_cast<const uint32_t*>(codes_b.get());
    w.code_words = words.size();
    w.scales = s_b.get();
    w.zeros = z_b.get();
    const engram_status st = engram_qmatmul(ctx, &w, m, c.dtype, x_b.get(), ydt, y_b.get());
    if (reject) {
        const std::string msg = engram_last_error();
        if (st != ENGRAM_ERR_INVALID_ARGUMENT || msg.find("w->k") == std::string::npos)
            cmp.fail("k = " + std::to_string(k) + " with G = " + std::to_string(g) +
                     ": expected ENGRAM_ERR_INVALID_ARGUMENT naming w->k, got status " +
                     std::to_string(int(st)) + ": " + msg);
        // y untouched: still every byte 0xFF, i.e. NaN in every dtype.
        const std::vector<float> y = y_b.floats(ydt);
        std::vector<float> got(y.size());
        for (size_t i = 0; i < y.size(); ++i) got[i] = std::isnan(y[i]) ? 0.0f : 1.0f;
        cmp.check("y untouched", got, std::vector<double>(y.size(), 0.0),
                  std::vector<double>(y.size(), 0.0), n);
        return;
    }
    check_status(st, "engram_qmatmul");
    const QmatmulExpected e = expect_qmatmul(q.ref, m, x, ydt);
    cmp.check("y", y_b.floats(ydt), e.y, e.bound, n);
}

// Random weights [n, k] rounded to the case's dtype: values 0 ~ N(0, 1),
// 1 every group one constant, 2 ~ N(0, 1e30) (F32 scales only).
std::vector<double> make_weights(std::mt19937_64& rng, int64_t n, int64_t k, int64_t g, int values) {
    std::normal_distribution<double> normal(0.0, 1.0);
    std::vector<double> w(static_cast<size_t>(n * k));
    for (int64_t r = 0; r < n; ++r)
        for (int64_t c0 = 0; c0 < k; c0 += g) {
            const double constant = normal(rng);
            for (int64_t c = c0; c < c0 + g; ++c)
                w[size_t(r * k + c)] = values == 1 ? constant : normal(rng) * (values == 2 ? 1e30 : 1.0);
        }
    return w;
}

// The code the RTN contract prescribes for x given the stored s, z:
// round((x - z) / s) (ties to even) clamped to [0, 3], 0 where s = 0.
uint32_t rtn_code(double x, double s, double z) {
    if (s == 0.0) return 0;
    const double t = std::nearbyint((x - z) / s);
    if (!(t > 0.0)) return 0;
    return t >= 3.0 ? 3u : uint32_t(t);
}

struct Quantized {
    std::vector<uint32_t> words;
    std::vector<double> s, z;
};

Quantized read_quantized(const SuiteBuffer& codes, const SuiteBuffer& s, const SuiteBuffer& z,
                         size_t words, engram_dtype sd) {
    Quantized q;
    q.words.resize(words);
    std::memcpy(q.words.data(), codes.get(), words * 4);
    for (float v : s.floats(sd)) q.s.push_back(v);
    for (float v : z.floats(sd)) q.z.push_back(v);
    return q;
}

// Codes as floats, [n, k], one per entry (exact).
std::vector<float> codes_of(const std::vector<uint32_t>& plain, int64_t n, int64_t k) {
    std::vector<float> out(static_cast<size_t>(n * k));
    for (int64_t r = 0; r < n; ++r)
        for (int64_t c = 0; c < k; ++c)
            out[size_t(r * k + c)] = float((plain[size_t(r * (k / 16) + c / 16)] >> (2 * (c % 16))) & 3u);
    return out;
}

void run_quantize_rtn(Comparison& cmp, engram_context* ctx, const Case& c) {
    const int64_t n = dim(c, "n"), k = dim(c, "k"), g = dim(c, "g");
    const engram_dtype sd = scale_dtype_of(c);
    // Huge weights (1e30) only where every dtype holds them.
    const bool f16 = sd == ENGRAM_DTYPE_F16 || c.dtype == ENGRAM_DTYPE_F16;
    const int values = f16 && c.option("values", 0) == 2 ? 0 : int(c.option("values", 0));
    std::mt19937_64 rng(c.seed);
    std::vector<double> w = make_weights(rng, n, k, g, values);
    const std::vector<uint8_t> w_raw = encode(c.dtype, w);
    const size_t words = size_t(n * (k / 16)), ns = size_t(n * (k / g));
    const size_t ss = engram_dtype_size(sd);
    SuiteBuffer w_b = upload(ctx, w_raw), codes_b = output(ctx, words * 4),
                s_b = output(ctx, ns * ss), z_b = output(ctx, ns * ss);
    check_status(engram_qmatmul_quantize_rtn(ctx, n, k, c.dtype, w_b.get(), int32_t(g), sd,
                                             static_cast<uint32_t*>(codes_b.get()), words,
                                             s_b.get(), z_b.get()),
                 "engram_qmatmul_quantize_rtn");
    const Quantized q = read_quantized(codes_b, s_b, z_b, words, sd);
    // s = (max - min) / 3 (two fp32 roundings, then the scale dtype's),
    // z = min (exact in F32, one rounding in F16); codes exactly the nearest
    // level of the stored s, z.
    std::vector<double> s_ref(ns), s_bound(ns), z_ref(ns), z_bound(ns), code_ref(static_cast<size_t>(n * k));
    for (int64_t r = 0; r < n; ++r)
        for (int64_t gi = 0; gi < k / g; ++gi) {
            double mn = INFINITY, mx = -INFINITY;
            for (int64_t cc = gi * g; cc < (gi + 1) * g; ++cc) {
                mn = std::min(mn, w[size_t(r * k + cc)]);
                mx = std::max(mx, w[size_t(r * k + cc)]);
            }
            const size_t i = size_t(r * (k / g) + gi);
            s_ref[i] = (mx - mn) / 3.0;
            s_bound[i] = stored_value_bound(s_ref[i], 2, sd);
            z_ref[i] = mn;
            z_bound[i] = stored_value_bound(mn, 0, sd);
            for (int64_t cc = gi * g; cc < (gi + 1) * g; ++cc)
                code_ref[size_t(r * k + cc)] = rtn_code(w[size_t(r * k + cc)], q.s[i], q.z[i]);
        }
    cmp.check("scales", std::vector<float>(q.s.begin(), q.s.end()), s_ref, s_bound, k / g);
    cmp.check("zeros", std::vector<float>(q.z.begin(), q.z.end()), z_ref, z_bound, k / g);
    cmp.check("codes", codes_of(q.words, n, k), code_ref, std::vector<double>(code_ref.size(), 0.0), k);
}

// Per-row layer-output error e^T h e of W_hat against w.
std::vector<double> row_errors(const std::vector<double>& w, const Quantized& q, int64_t n, int64_t k,
                               int64_t g, const std::vector<double>& h) {
    std::vector<double> out(static_cast<size_t>(n));
    std::vector<double> e(static_cast<size_t>(k));
    for (int64_t r = 0; r < n; ++r) {
        for (int64_t c = 0; c < k; ++c) {
            const size_t gi = size_t(r * (k / g) + c / g);
            const uint32_t code = (q.words[size_t(r * (k / 16) + c / 16)] >> (2 * (c % 16))) & 3u;
            e[size_t(c)] = w[size_t(r * k + c)] - (q.s[gi] * code + q.z[gi]);
        }
        double sum = 0.0;
        for (int64_t i = 0; i < k; ++i)
            for (int64_t j = 0; j < k; ++j) sum += e[size_t(i)] * h[size_t(i * k + j)] * e[size_t(j)];
        out[size_t(r)] = sum;
    }
    return out;
}

// The refinement never ends above RTN on its h (per row), and 0 iterations
// is exactly RTN.
void run_quantize_refine(Comparison& cmp, engram_context* ctx, const Case& c) {
    const int64_t n = dim(c, "n"), k = dim(c, "k"), g = dim(c, "g");
    const int64_t tokens = dim(c, "m");
    const engram_dtype sd = scale_dtype_of(c);
    std::mt19937_64 rng(c.seed);
    std::vector<double> w = make_weights(rng, n, k, g, 0);
    const std::vector<uint8_t> w_raw = encode(c.dtype, w);
    // Calibration tokens with AR(0.8)-correlated channels of varied scale.
    std::normal_distribution<double> normal(0.0, 1.0);
    std::vector<double> x(static_cast<size_t>(tokens * k));
    for (int64_t t = 0; t < tokens; ++t) {
        double prev = 0.0;
        for (int64_t j = 0; j < k; ++j) {
            prev = 0.8 * prev + 0.6 * normal(rng);
            x[size_t(t * k + j)] = prev * (1.0 + double(j % 7));
        }
    }
    std::vector<float> h(static_cast<size_t>(k * k));
    std::vector<double> hd(h.size());
    for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < k; ++j) {
            double sum = 0.0;
            for (int64_t t = 0; t < tokens; ++t) sum += x[size_t(t * k + i)] * x[size_t(t * k + j)];
            h[size_t(i * k + j)] = float(sum);
            hd[size_t(i * k + j)] = double(float(sum));
        }
    const size_t words = size_t(n * (k / 16)), ns = size_t(n * (k / g)), ss = engram_dtype_size(sd);
    SuiteBuffer w_b = upload(ctx, w_raw), h_b = upload(ctx, h);
    auto quantize = [&](int iterations) {
        SuiteBuffer codes_b = output(ctx, words * 4), s_b = output(ctx, ns * ss), z_b = output(ctx, ns * ss);
        engram_status st = iterations < 0
            ? engram_qmatmul_quantize_rtn(ctx, n, k, c.dtype, w_b.get(), int32_t(g), sd,
                                          static_cast<uint32_t*>(codes_b.get()), words, s_b.get(), z_b.get())
            : engram_qmatmul_quantize_refine(ctx, n, k, c.dtype, w_b.get(), int32_t(g), sd, h_b.f32(),
                                             iterations, static_cast<uint32_t*>(codes_b.get()), words,
                                             s_b.get(), z_b.get());
        check_status(st, iterations < 0 ? "engram_qmatmul_quantize_rtn" : "engram_qmatmul_quantize_refine");
        return read_quantized(codes_b, s_b, z_b, words, sd);
    };
    const Quantized rtn = quantize(-1), zero = quantize(0);
    const Quantized refined = quantize(int(c.option("iterations", 3)));
    const std::vector<double> e_rtn = row_errors(w, rtn, n, k, g, hd);
    const std::vector<double> e_ref = row_errors(w, refined, n, k, g, hd);
    // excess = max(0, refined - RTN) must be 0 up to the double evaluation's
    // rounding of a k^2-term quadratic form.
    std::vector<float> excess(static_cast<size_t>(n));
    std::vector<double> zero_ref(size_t(n), 0.0), bound(static_cast<size_t>(n));
    for (int64_t r = 0; r < n; ++r) {
        excess[size_t(r)] = float(std::max(0.0, e_ref[size_t(r)] - e_rtn[size_t(r)]));
        bound[size_t(r)] = 1e-9 * (e_rtn[size_t(r)] + 1e-30);
    }
    cmp.check("refined error above RTN", excess, zero_ref, bound);
    std::vector<double> rtn_codes;
    for (float v : codes_of(rtn.words, n, k)) rtn_codes.push_back(v);
    cmp.check("codes (0 iterations vs RTN)", codes_of(zero.words, n, k), rtn_codes,
              std::vector<double>(rtn_codes.size(), 0.0), k);
    cmp.check("scales (0 iterations vs RTN)", std::vector<float>(zero.s.begin(), zero.s.end()), rtn.s,
              std::vector<double>(ns, 0.0), k / g);
}

// BitStack: decompose random weights into `planes` planes, then the
// product over the first p against the float64 reference. Error model: each
// x v rounded once, k signed terms summed in fp32, times u, p planes added:
// u (k + p + 3) sum_j |u_j| sum_c |x_c v_jc|, plus a 16-bit y's rounding.
void run_bitstack(Comparison& cmp, engram_context* ctx, const Case& c) {
    const int64_t m = dim(c, "m"), n = dim(c, "n"), k = dim(c, "k");
    const int planes = int(c.option("planes", 4)), p = int(c.option("p", planes));
    const engram_dtype ydt = c.option("y_x", 0) != 0 ? c.dtype : ENGRAM_DTYPE_F32;
    std::mt19937_64 rng(c.seed);
    std::normal_distribution<double> normal(0.0, 1.0);
    std::vector<double> w(static_cast<size_t>(n * k)), x(static_cast<size_t>(m * k));
    for (double& v : w) v = normal(rng);
    for (double& v : x) v = normal(rng);
    const std::vector<uint8_t> w_raw = encode(ENGRAM_DTYPE_F32, w), x_raw = encode(c.dtype, x);
    const size_t words = size_t(planes) * size_t(n) * size_t(k / 32);
    SuiteBuffer w_b = upload(ctx, w_raw), x_b = upload(ctx, x_raw), signs = output(ctx, words * 4),
                u = output(ctx, size_t(planes) * size_t(n) * 4), v = output(ctx, size_t(planes) * size_t(k) * 4);
    check_status(engram_qmatmul_bitstack_decompose(ctx, n, k, ENGRAM_DTYPE_F32, w_b.get(), planes,
                                                   static_cast<uint32_t*>(signs.get()), words, u.f32(), v.f32()),
                 "engram_qmatmul_bitstack_decompose");
    engram_bitstack b;
    engram_bitstack_init(&b);
    b.planes = planes;
    b.n_out = n;
    b.k = k;
    b.signs = static_cast<const uint32_t*>(signs.get());
    b.sign_words = words;
    b.row_scales = u.f32();
    b.col_scales = v.f32();
    SuiteBuffer y = output(ctx, size_t(m * n) * engram_dtype_size(ydt));
    check_status(engram_qmatmul_bitstack(ctx, &b, p, m, c.dtype, x_b.get(), ydt, y.get()), "engram_qmatmul_bitstack");
    engram_test::RefBitstack ref;
    ref.n_out = n;
    ref.k = k;
    ref.planes = planes;
    ref.signs.assign(b.signs, b.signs + words);
    for (float f : u.floats()) ref.u.push_back(f);
    for (float f : v.floats()) ref.v.push_back(f);
    std::vector<double> mag;
    const std::vector<double> yref = engram_test::ref_bitstack_matmul(ref, p, m, x, &mag);
    std::vector<double> bound(yref.size());
    const double unit = std::ldexp(1.0, -24);
    for (size_t i = 0; i < yref.size(); ++i) {
        double bd = unit * double(k + p + 3) * mag[i] + std::ldexp(1.0, -149);
        if (ydt == ENGRAM_DTYPE_F16) bd += std::ldexp(1.0, -11) * (std::fabs(yref[i]) + bd) + std::ldexp(1.0, -25);
        else if (ydt == ENGRAM_DTYPE_BF16) bd += std::ldexp(1.0, -8) * (std::fabs(yref[i]) + bd) + std::ldexp(1.0, -133);
        bound[i] = bd;
    }
    cmp.check("y", y.floats(ydt), yref, bound, n);
}

// 16-bit halves of words, as exact floats (so Comparison can check words).
std::vector<float> halves(const uint32_t* words, size_t count) {
    std::vector<float> out(2 * count);
    for (size_t i = 0; i < count; ++i) {
        out[2 * i] = float(words[i] & 0xFFFFu);
        out[2 * i + 1] = float(words[i] >> 16);
    }
    return out;
}

std::vector<double> halves_ref(const std::vector<uint32_t>& words) {
    std::vector<double> out;
    for (float v : halves(words.data(), words.size())) out.push_back(v);
    return out;
}

void run_layout(Comparison& cmp, engram_context* ctx, const Case& c) {
    const int64_t n = dim(c, "n"), k = dim(c, "k");
    if (k % 16 != 0) throw std::runtime_error("k = " + std::to_string(k) + " is not a multiple of 16");
    std::mt19937_64 rng(c.seed);
    const size_t pw = size_t(n * (k / 16)), qw = size_t((n + 3) / 4 * 4 * (k / 16));
    std::vector<uint8_t> codes(static_cast<size_t>(n * k));
    for (uint8_t& v : codes) v = uint8_t(rng() & 3u);
    const std::vector<uint32_t> plain = engram_test::ref_pack(n, k, codes);
    const std::vector<uint32_t> prepared = engram_test::ref_prepare(n, k, plain);
    auto exact = [](size_t count) { return std::vector<double>(count, 0.0); };
    if (c.op == "qmatmul_pack") {
        SuiteBuffer in = upload(ctx, codes), out = output(ctx, pw * 4);
        check_status(engram_qmatmul_pack(ctx, n, k, static_cast<const uint8_t*>(in.get()),
                                         static_cast<uint32_t*>(out.get()), pw), "engram_qmatmul_pack");
        cmp.check("words", halves(static_cast<const uint32_t*>(out.get()), pw), halves_ref(plain), exact(2 * pw));
    } else if (c.op == "qmatmul_unpack") {
        SuiteBuffer in = upload(ctx, plain), out = output(ctx, codes.size());
        check_status(engram_qmatmul_unpack(ctx, n, k, static_cast<const uint32_t*>(in.get()), pw,
                                           static_cast<uint8_t*>(out.get())), "engram_qmatmul_unpack");
        const uint8_t* got = static_cast<const uint8_t*>(out.get());
        std::vector<float> g(got, got + codes.size());
        cmp.check("codes", g, std::vector<double>(codes.begin(), codes.end()), exact(codes.size()), k);
    } else if (c.op == "qmatmul_prepare") {
        SuiteBuffer in = upload(ctx, plain), out = output(ctx, qw * 4);
        check_status(engram_qmatmul_prepare(ctx, n, k, static_cast<const uint32_t*>(in.get()), pw,
                                            static_cast<uint32_t*>(out.get()), qw), "engram_qmatmul_prepare");
        cmp.check("prepared", halves(static_cast<const uint32_t*>(out.get()), qw), halves_ref(prepared), exact(2 * qw));
    } else {
        SuiteBuffer in = upload(ctx, prepared), out = output(ctx, pw * 4);
        check_status(engram_qmatmul_unprepare(ctx, n, k, static_cast<const uint32_t*>(in.get()), qw,
                                              static_cast<uint32_t*>(out.get()), pw), "engram_qmatmul_unprepare");
        cmp.check("plain", halves(static_cast<const uint32_t*>(out.get()), pw), halves_ref(plain), exact(2 * pw));
    }
}

const engram_dtype kDtypes[] = {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_BF16, ENGRAM_DTYPE_F16};

}  // namespace

std::string QmatmulSuite::summary() const {
    return "packed 2-bit weights: y = x W_hat^T with W_hat = s q + z per group, quantizers, layouts";
}

std::vector<OpInfo> QmatmulSuite::ops() const {
    return {{"qmatmul", "y [m, n] = x [m, k] . W_hat^T (codes unpacked in registers, or dequantised tiles for m > 16)"},
            {"qmatmul_quantize_rtn", "round-to-nearest 2-bit codes with per-group min/max s, z"},
            {"qmatmul_quantize_refine", "decoupleQ-style refinement of RTN for h = X^T X (never worse, per row)"},
            {"qmatmul_pack", "one code per byte -> plain words"},
            {"qmatmul_unpack", "plain words -> one code per byte"},
            {"qmatmul_prepare", "plain words -> CPU-prepared (4-row interleaved) words"},
            {"qmatmul_unprepare", "CPU-prepared words -> plain words"},
            {"qmatmul_bitstack", "BitStack: decompose into sign planes, then y over the first p planes"}};
}

std::vector<DimInfo> QmatmulSuite::dims() const {
    return {{"m", "activation rows (refine: calibration tokens)"},
            {"n", "output channels (weight rows, n_out)"},
            {"k", "input channels (weight columns)"},
            {"g", "group size G (32, 64, 128)"}};
}

std::vector<Case> QmatmulSuite::verify_cases(const std::string& op, uint64_t seed, int max_per_op) const {
    std::vector<Case> cases;
    auto keep = [&](const char* name) { return op.empty() || op == family() || op == name; };
    auto room = [&](size_t k) { return max_per_op <= 0 || int(k) < max_per_op; };
    if (keep("qmatmul")) {
        const size_t count = sizeof kProduct / sizeof kProduct[0];
        for (size_t k = 0; k < count && room(k); ++k) {
            Case c;
            c.op = "qmatmul";
            c.dims = {{"m", kProduct[k][0]}, {"n", kProduct[k][1]}, {"k", kProduct[k][2]}, {"g", kProduct[k][3]}};
            c.dtype = kDtypes[k % 3];
            c.seed = seed * 1000 + k;
            const int values = k % 5 == 2 ? 2 : k % 5 == 3 ? 3 : k % 5 == 4 ? 1 : 0;
            // Every (layout, scale dtype) pair over the dtypes; 16-bit y only
            // where it cannot overflow (not with huge scales).
            c.options = {{"layout", double(k % 2)}, {"scale_f16", double((k / 2) % 2)},
                         {"values", double(values)}, {"y_x", double(values != 2 && k % 3 != 0 && k % 4 < 2)}};
            cases.push_back(std::move(c));
        }
    }
    const size_t nq = sizeof kQuantize / sizeof kQuantize[0];
    for (const char* name : {"qmatmul_quantize_rtn", "qmatmul_quantize_refine"}) {
        if (!keep(name)) continue;
        const bool refine = std::string(name) == "qmatmul_quantize_refine";
        for (size_t k = 0; k < nq && room(k); ++k) {
            Case c;
            c.op = name;
            c.dims = {{"n", kQuantize[k][0]}, {"k", kQuantize[k][1]}, {"g", kQuantize[k][2]}};
            if (refine) c.dims["m"] = 48 + int64_t(k) * 17;
            c.dtype = kDtypes[(k + 1) % 3];
            c.seed = seed * 1000 + 100 + k;
            c.options = {{"scale_f16", double(k % 2)}};
            if (!refine) c.options["values"] = double(k % 3);
            else c.options["iterations"] = double(1 + k % 3);
            cases.push_back(std::move(c));
        }
    }
    const size_t nl = sizeof kLayout / sizeof kLayout[0];
    for (const char* name : {"qmatmul_pack", "qmatmul_unpack", "qmatmul_prepare", "qmatmul_unprepare"}) {
        if (!keep(name)) continue;
        for (size_t k = 0; k < nl && room(k); ++k) {
            Case c;
            c.op = name;
            c.dims = {{"n", kLayout[k][0]}, {"k", kLayout[k][1]}};
            c.dtype = ENGRAM_DTYPE_F32;  // codes: U2; the dtype is not used
            c.seed = seed * 1000 + 200 + k;
            cases.push_back(std::move(c));
        }
    }
    if (keep("qmatmul_bitstack")) {
        const size_t nb = sizeof kBitstack / sizeof kBitstack[0];
        for (size_t k = 0; k < nb && room(k); ++k) {
            Case c;
            c.op = "qmatmul_bitstack";
            c.dims = {{"m", kBitstack[k][0]}, {"n", kBitstack[k][1]}, {"k", kBitstack[k][2]}};
            c.dtype = kDtypes[k % 3];
            c.seed = seed * 1000 + 300 + k;
            c.options = {{"planes", double(kBitstack[k][3])}, {"p", double(kBitstack[k][4])},
                         {"y_x", double(k % 2)}};
            cases.push_back(std::move(c));
        }
    }
    return cases;
}

std::vector<Dims> QmatmulSuite::bench_shapes() const {
    return {{{"m", 1}, {"n", 4096}, {"k", 4096}, {"g", 128}},
            {{"m", 1}, {"n", 11008}, {"k", 4096}, {"g", 128}},
            {{"m", 1}, {"n", 4096}, {"k", 14336}, {"g", 128}}};
}

Dims QmatmulSuite::reduced(const Dims& bench) const {
    // Several 4-row blocks and dequantise tiles with a partial last one, all
    // workers busy, the same path as the benchmark's m (<= 16: registers;
    // > 16: dequantised tiles, with a partial activation chunk), at about 10^7
    // reference multiply-adds.
    const int64_t g = bench.count("g") ? bench.at("g") : 128;
    const int64_t m = bench.count("m") ? bench.at("m") : 1;
    const int64_t k = bench.count("k") ? bench.at("k") : 4096;
    const int64_t n = bench.count("n") ? bench.at("n") : 4096;
    return {{"m", m <= 16 ? m : std::min<int64_t>(m, 37)},
            {"n", std::min<int64_t>(n, 263)},
            {"k", std::max(g, std::min<int64_t>(k, 1024) / g * g)},
            {"g", g}};
}

Outcome QmatmulSuite::run(engram_context* ctx, const Case& c) const {
    Comparison cmp;
    try {
        if (c.op == "qmatmul") run_product(cmp, ctx, c);
        else if (c.op == "qmatmul_quantize_rtn") run_quantize_rtn(cmp, ctx, c);
        else if (c.op == "qmatmul_quantize_refine") run_quantize_refine(cmp, ctx, c);
        else if (c.op == "qmatmul_bitstack") run_bitstack(cmp, ctx, c);
        else if (c.op == "qmatmul_pack" || c.op == "qmatmul_unpack" || c.op == "qmatmul_prepare" ||
                 c.op == "qmatmul_unprepare")
            run_layout(cmp, ctx, c);
        else throw std::runtime_error("unknown op " + c.op);
    } catch (const std::exception& e) {
        cmp.fail(e.what());
    }
    return cmp.outcome();
}

}  // namespace engram_suite
