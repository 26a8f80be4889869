// qmatmul_fuzz.cpp — see qmatmul_fuzz.hpp. The input picks the entry point,
// a small valid problem (shapes, dtypes, layout, values with optional NaN /
// Inf / zero scales), then at most one fault. Buffers are exact-size arena
// blocks, so ASan sees any overrun; after a failure every block must be
// unchanged, after a success every input must be.
#include "qmatmul_fuzz.hpp"
#include "qmatmul_formats_fuzz.hpp"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "ops/qmatmul/reference/qmatmul_reference.hpp"
#include "shared/half.h"

namespace fuzz {
namespace {

using engram::bf16_to_f32;
using engram::f16_to_f32;
using engram::f32_to_bf16;
using engram::f32_to_f16;

template <class T>
T pick(FuzzedDataProvider& in, std::initializer_list<T> values) {
    return *(values.begin() + in.ConsumeIntegralInRange<size_t>(0, values.size() - 1));
}

// dtype encoding of a float (f16/bf16 round to nearest even), and back.
void put(std::vector<uint8_t>& raw, int32_t dt, size_t i, float v) {
    if (dt == ENGRAM_DTYPE_F32) {
        std::memcpy(&raw[i * 4], &v, 4);
        return;
    }
    const uint16_t h = dt == ENGRAM_DTYPE_F16 ? f32_to_f16(v) : f32_to_bf16(v);
    std::memcpy(&raw[i * 2], &h, 2);
}
float get(const uint8_t* raw, int32_t dt, size_t i) {
    if (dt == ENGRAM_DTYPE_F32) {
        float v;
        std::memcpy(&v, raw + i * 4, 4);
        return v;
    }
    uint16_t h;
    std::memcpy(&h, raw + i * 2, 2);
    return dt == ENGRAM_DTYPE_F16 ? f16_to_f32(h) : bf16_to_f32(h);
}
size_t dsize(int32_t dt) { return dt == ENGRAM_DTYPE_F32 ? 4 : 2; }

struct Shape {
    int64_t n_out, k, group, m;
};

Shape draw_shape(FuzzedDataProvider& in) {
    Shape s;
    s.group = pick<int64_t>(in, {32, 64, 128});
    s.k = s.group * in.ConsumeIntegralInRange<int64_t>(1, 3);
    s.n_out = in.ConsumeIntegralInRange<int64_t>(1, 19);
    s.m = in.ConsumeIntegralInRange<int64_t>(1, 18);
    return s;
}

void expect_status(const char* what, engram_status got, engram_status want, const std::string& needle) {
    Expect e{want, {}};
    if (!needle.empty()) e.needles.push_back(needle);
    check_status(what, got, e);
}

// --- engram_qmatmul ------------------------------------------------------------

void fuzz_product(FuzzedDataProvider& in, engram_context* ctx) {
    const Shape sh = draw_shape(in);
    const int32_t xd = pick<int32_t>(in, {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16});
    const int32_t yd = in.ConsumeBool() ? ENGRAM_DTYPE_F32 : xd;
    const int32_t sd = pick<int32_t>(in, {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16});
    const engram_qlayout layout = in.ConsumeBool() ? ENGRAM_QLAYOUT_PLAIN : ENGRAM_QLAYOUT_CPU_PREPARED;
    const int specials = in.ConsumeIntegralInRange(0, 3);  // 0 none, 1 zero scales, 2 NaN x, 3 Inf x
    Rng rng(in.ConsumeIntegral<uint64_t>());
    g_trace = "qmatmul n_out=" + std::to_string(sh.n_out) + " k=" + std::to_string(sh.k) +
              " G=" + std::to_string(sh.group) + " m=" + std::to_string(sh.m) + " x=" + std::to_string(xd) +
              " y=" + std::to_string(yd) + " s=" + std::to_string(sd) + " layout=" + std::to_string(layout) +
              " specials=" + std::to_string(specials);

    engram_test::RefQWeight ref;
    ref.n_out = sh.n_out;
    ref.k = sh.k;
    ref.group = sh.group;
    ref.words.resize(size_t(sh.n_out * sh.k / 16));
    for (uint32_t& w : ref.words) w = uint32_t(rng.next());
    const size_t ns = size_t(sh.n_out * (sh.k / sh.group));
    std::vector<uint8_t> s_raw(ns * dsize(sd)), z_raw(ns * dsize(sd));
    for (size_t i = 0; i < ns; ++i) {
        put(s_raw, sd, i, specials == 1 && rng.chance(0.5) ? 0.0f : float(rng.sym(1.0)));
        put(z_raw, sd, i, float(rng.sym(2.0)));
        ref.scales.push_back(get(s_raw.data(), sd, i));
        ref.zeros.push_back(get(z_raw.data(), sd, i));
    }
    const size_t nx = size_t(sh.m * sh.k);
    std::vector<uint8_t> x_raw(nx * dsize(xd));
    std::vector<double> x(nx);
    for (size_t i = 0; i < nx; ++i) {
        float v = float(rng.sym(2.0));
        if (specials >= 2 && rng.chance(0.02)) v = specials == 2 ? NAN : (rng.chance(0.5) ? INFINITY : -INFINITY);
        put(x_raw, xd, i, v);
        x[i] = get(x_raw.data(), xd, i);
    }
    const std::vector<uint32_t> words =
        layout == ENGRAM_QLAYOUT_PLAIN ? ref.words : engram_test::ref_prepare(sh.n_out, sh.k, ref.words);

    Arena a;
    auto* codes = reinterpret_cast<uint32_t*>(a.input(words.data(), words.size() * 4, "w->codes"));
    uint8_t* scales = a.input(s_raw.data(), s_raw.size(), "w->scales");
    uint8_t* zeros = a.input(z_raw.data(), z_raw.size(), "w->zeros");
    uint8_t* xp = a.input(x_raw.data(), x_raw.size(), "x");
    const size_t ny = size_t(sh.m * sh.n_out);
    uint8_t* yp = a.output(ny * dsize(yd), "y");

    engram_qweight w;
    engram_qweight_init(&w);
    w.scale_dtype = sd;
    w.group_size = int32_t(sh.group);
    w.layout = layout;
    w.n_out = sh.n_out;
    w.k = sh.k;
    w.codes = codes;
    w.code_words = words.size();
    w.scales = scales;
    w.zeros = zeros;
    engram_context* c = ctx;
    const engram_qweight* wp = &w;
    int64_t m = sh.m;
    int32_t x_dtype = xd, y_dtype = yd;
    const void* xarg = xp;
    void* yarg = yp;
    engram_status want = ENGRAM_ERR_INVALID_ARGUMENT;
    std::string needle;
    // Faults 0..16, the rest valid; an exhausted input (0) makes a valid call.
    switch ((in.ConsumeIntegralInRange(0, 26) + 17) % 27) {
        case 0: c = nullptr; needle = "ctx"; break;
        case 1: wp = nullptr; needle = "w"; break;
        case 2: w.struct_size = pick<uint32_t>(in, {0u, w.struct_size - 8, w.struct_size + 8}); needle = "w->struct_size"; break;
        case 3: w.code_dtype = pick<int32_t>(in, {0, 1, 4, -1, 6}); want = ENGRAM_ERR_UNSUPPORTED; needle = "w->code_dtype"; break;
        case 4: w.scale_dtype = pick<int32_t>(in, {2, 3, 5, -1, 99}); want = ENGRAM_ERR_UNSUPPORTED; needle = "w->scale_dtype"; break;
        case 5:  // a group size not allowed, or one that does not divide k
            if (sh.k % 128 != 0 && in.ConsumeBool()) w.group_size = 128;
            else w.group_size = pick<int32_t>(in, {0, 16, 48, 256, -32});
            needle = "w->group_size";
            break;
        case 6: w.layout = pick<int32_t>(in, {2, -1, 1000}); needle = "w->layout"; break;
        case 7: w.n_out = pick<int64_t>(in, {0, -1, int64_t(1) << 31}); needle = "w->n_out"; break;
        case 8: {
            const int which = in.ConsumeIntegralInRange(0, 2);
            if (which == 0) { w.codes = nullptr; needle = "w->codes"; }
            else if (which == 1) { w.scales = nullptr; needle = "w->scales"; }
            else { w.zeros = nullptr; needle = "w->zeros"; }
            break;
        }
        case 9: w.code_words = words.size() + pick<uint64_t>(in, {1, uint64_t(-1), 16, uint64_t(-4)}); needle = "w->code_words"; break;
        case 10: m = pick<int64_t>(in, {0, -3, int64_t(1) << 40}); needle = "m"; break;
        case 11: x_dtype = pick<int32_t>(in, {3, 4, 5, -1, 77}); want = ENGRAM_ERR_UNSUPPORTED; needle = "x_dtype"; break;
        case 12: y_dtype = pick<int32_t>(in, {3, 5, xd == ENGRAM_DTYPE_F16 ? 2 : 1}); want = ENGRAM_ERR_UNSUPPORTED; needle = "y_dtype"; break;
        case 13: if (in.ConsumeBool()) { xarg = nullptr; needle = "x"; } else { yarg = nullptr; needle = "y"; } break;
        case 14: w.reserved = pick<int32_t>(in, {1, -1}); needle = "w->reserved"; break;
        case 15:  // y over an input: x, the codes, the scales
            yarg = pick<void*>(in, {(void*)xp, (void*)codes, (void*)scales});
            needle = "y";
            break;
        case 16: w.k = pick<int64_t>(in, {0, -32, int64_t(1) << 31}); needle = "w->k"; break;
        default: break;  // valid
    }
    const std::string fault = needle.empty() ? "valid" : "fault: " + needle;
    g_trace += " | " + fault;
    a.snapshot();
    const engram_status got = engram_qmatmul(c, wp, m, engram_dtype(x_dtype), xarg, engram_dtype(y_dtype), yarg);
    if (!needle.empty()) {
        expect_status("engram_qmatmul", got, want, needle);
        a.check_untouched("a failed engram_qmatmul", false);
        return;
    }
    expect_status("engram_qmatmul", got, ENGRAM_OK, "");
    a.check_untouched("a valid engram_qmatmul", true);
    std::vector<double> mag;
    const std::vector<double> yref = engram_test::ref_qmatmul(ref, sh.m, x, &mag);
    const double u = std::ldexp(1.0, -24), tiny = std::ldexp(1.0, -149);
    for (size_t i = 0; i < ny; ++i) {
        const double got_v = get(yp, yd, i), r = yref[i];
        if (!std::isfinite(r)) {
            // NaN stays NaN; an infinite sum is the same infinity in fp32.
            FUZZ_CHECK(std::isnan(r) ? std::isnan(got_v) : got_v == r, "y[%zu] = %g, reference %g", i, got_v, r);
            continue;
        }
        double b = u * double(sh.k + 2) * mag[i] + double(sh.k + 2) * tiny;
        if (yd == ENGRAM_DTYPE_F16) b += std::ldexp(1.0, -11) * (std::fabs(r) + b) + std::ldexp(1.0, -25);
        if (yd == ENGRAM_DTYPE_BF16) b += std::ldexp(1.0, -8) * (std::fabs(r) + b) + std::ldexp(1.0, -133);
        FUZZ_CHECK(std::fabs(got_v - r) <= b, "y[%zu] (row %zu, column %zu) = %.9g, reference %.9g, bound %.3g", i,
                   i / size_t(sh.n_out), i % size_t(sh.n_out), got_v, r, b);
    }
}

// --- RTN -----------------------------------------------------------------------

void fuzz_rtn(FuzzedDataProvider& in, engram_context* ctx) {
    const Shape sh = draw_shape(in);
    const int32_t wd = pick<int32_t>(in, {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16});
    const int32_t sd = pick<int32_t>(in, {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16});
    const bool constant_groups = in.ConsumeBool();
    Rng rng(in.ConsumeIntegral<uint64_t>());
    g_trace = "quantize_rtn n_out=" + std::to_string(sh.n_out) + " k=" + std::to_string(sh.k) + " G=" +
              std::to_string(sh.group) + " w=" + std::to_string(wd) + " s=" + std::to_string(sd);
    const size_t nw = size_t(sh.n_out * sh.k), ns = size_t(sh.n_out * (sh.k / sh.group));
    std::vector<uint8_t> w_raw(nw * dsize(wd));
    for (size_t i = 0; i < nw; ++i)
        put(w_raw, wd, i, constant_groups && (i / size_t(sh.group)) % 2 ? 0.5f : float(rng.sym(3.0)));
    Arena a;
    uint8_t* wp = a.input(w_raw.data(), w_raw.size(), "w");
    auto* codes = reinterpret_cast<uint32_t*>(a.output(nw / 4, "codes"));
    uint8_t* scales = a.output(ns * dsize(sd), "scales");
    uint8_t* zeros = a.output(ns * dsize(sd), "zeros");
    engram_context* c = ctx;
    int64_t n_out = sh.n_out, k = sh.k;
    int32_t group = int32_t(sh.group), w_dtype = wd, s_dtype = sd;
    const void* warg = wp;
    uint32_t* carg = codes;
    void* sarg = scales;
    void* zarg = zeros;
    uint64_t cw = nw / 16;
    engram_status want = ENGRAM_ERR_INVALID_ARGUMENT;
    std::string needle;
    switch ((in.ConsumeIntegralInRange(0, 14) + 9) % 15) {  // faults 0..8; 0 in: valid
        case 0: c = nullptr; needle = "ctx"; break;
        case 1: n_out = pick<int64_t>(in, {0, -1}); needle = "n_out"; break;
        case 2: group = pick<int32_t>(in, {16, 96, 0}); needle = "group_size"; break;
        case 3: w_dtype = pick<int32_t>(in, {3, 4, 5}); want = ENGRAM_ERR_UNSUPPORTED; needle = "w_dtype"; break;
        case 4: s_dtype = pick<int32_t>(in, {2, 3, 5}); want = ENGRAM_ERR_UNSUPPORTED; needle = "scale_dtype"; break;
        case 5: cw += pick<uint64_t>(in, {1, uint64_t(-1)}); needle = "code_words"; break;
        case 6: {
            const int which = in.ConsumeIntegralInRange(0, 3);
            if (which == 0) { warg = nullptr; needle = "w"; }
            else if (which == 1) { carg = nullptr; needle = "codes"; }
            else if (which == 2) { sarg = nullptr; needle = "scales"; }
            else { zarg = nullptr; needle = "zeros"; }
            break;
        }
        case 7: zarg = scales; needle = "zeros"; break;  // zeros overlaps scales
        case 8: k = sh.k + 16; needle = "group_size"; break;  // G no longer divides k
        default: break;
    }
    g_trace += needle.empty() ? " | valid" : " | fault: " + needle;
    a.snapshot();
    const engram_status got = engram_qmatmul_quantize_rtn(c, n_out, k, engram_dtype(w_dtype), warg, group,
                                                          engram_dtype(s_dtype), carg, cw, sarg, zarg);
    if (!needle.empty()) {
        expect_status("engram_qmatmul_quantize_rtn", got, want, needle);
        a.check_untouched("a failed quantize_rtn", false);
        return;
    }
    expect_status("engram_qmatmul_quantize_rtn", got, ENGRAM_OK, "");
    a.check_untouched("a valid quantize_rtn", true);
    // z = min as stored; each code the nearest level of the stored grid.
    engram_test::RefQWeight ref;
    ref.n_out = sh.n_out;
    ref.k = sh.k;
    ref.group = sh.group;
    ref.words.assign(codes, codes + nw / 16);
    for (int64_t r = 0; r < sh.n_out; ++r)
        for (int64_t g = 0; g < sh.k / sh.group; ++g) {
            const size_t gi = size_t(r * (sh.k / sh.group) + g);
            const double s = get(scales, sd, gi), z = get(zeros, sd, gi);
            double mn = INFINITY;
            for (int64_t cc = g * sh.group; cc < (g + 1) * sh.group; ++cc)
                mn = std::min(mn, double(get(wp, wd, size_t(r * sh.k + cc))));
            const double zs = sd == ENGRAM_DTYPE_F16 ? f16_to_f32(f32_to_f16(float(mn))) : mn;
            FUZZ_CHECK(z == zs, "row %lld group %lld: zero %g, min %g", (long long)r, (long long)g, z, mn);
            FUZZ_CHECK(s >= 0.0, "row %lld group %lld: negative scale %g", (long long)r, (long long)g, s);
            for (int64_t cc = g * sh.group; cc < (g + 1) * sh.group; ++cc) {
                const double v = get(wp, wd, size_t(r * sh.k + cc));
                const uint32_t q = engram_test::ref_code(ref, r, cc);
                FUZZ_CHECK(s != 0.0 || q == 0, "s = 0 with code %u", q);
                for (uint32_t o = 0; o < 4; ++o)
                    FUZZ_CHECK(std::fabs(v - (s * q + z)) <= std::fabs(v - (s * o + z)) * (1 + 1e-12),
                               "row %lld col %lld: code %u, but %u is nearer", (long long)r, (long long)cc, q, o);
            }
        }
}

// --- decoupleQ refinement -------------------------------------------------------

// e^T h e summed over rows, e = w - W_hat (float64).
double layer_error(const std::vector<float>& w, const std::vector<float>& h, const engram_test::RefQWeight& q) {
    const std::vector<double> wh = engram_test::ref_dequantise(q);
    double total = 0.0;
    std::vector<double> e(size_t(q.k));
    for (int64_t r = 0; r < q.n_out; ++r) {
        for (int64_t c = 0; c < q.k; ++c) e[size_t(c)] = w[size_t(r * q.k + c)] - wh[size_t(r * q.k + c)];
        for (int64_t i = 0; i < q.k; ++i)
            for (int64_t j = 0; j < q.k; ++j) total += e[size_t(i)] * double(h[size_t(i * q.k + j)]) * e[size_t(j)];
    }
    return total;
}

void fuzz_refine(FuzzedDataProvider& in, engram_context* ctx) {
    const int64_t group = pick<int64_t>(in, {32, 64}), k = group * in.ConsumeIntegralInRange<int64_t>(1, 2);
    const int64_t n_out = in.ConsumeIntegralInRange<int64_t>(1, 5), tokens = in.ConsumeIntegralInRange<int64_t>(1, 40);
    const int32_t sd = pick<int32_t>(in, {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16});
    const int iterations = in.ConsumeIntegralInRange(0, 3);
    Rng rng(in.ConsumeIntegral<uint64_t>());
    g_trace = "quantize_refine n_out=" + std::to_string(n_out) + " k=" + std::to_string(k) + " G=" +
              std::to_string(group) + " tokens=" + std::to_string(tokens) + " it=" + std::to_string(iterations);
    std::vector<float> w(size_t(n_out * k)), h(size_t(k * k), 0.0f);
    for (float& v : w) v = float(rng.sym(2.0));
    std::vector<double> x(size_t(tokens * k));
    for (double& v : x) v = rng.sym(1.0);
    for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < k; ++j) {
            double v = 0.0;
            for (int64_t t = 0; t < tokens; ++t) v += x[size_t(t * k + i)] * x[size_t(t * k + j)];
            h[size_t(i * k + j)] = float(v);
        }
    const size_t ns = size_t(n_out * (k / group)), nw = size_t(n_out * k / 16);
    Arena a;
    uint8_t* wp = a.input(w.data(), w.size() * 4, "w");
    uint8_t* hp = a.input(h.data(), h.size() * 4, "h");
    auto* codes = reinterpret_cast<uint32_t*>(a.output(nw * 4, "codes"));
    uint8_t* scales = a.output(ns * dsize(sd), "scales");
    uint8_t* zeros = a.output(ns * dsize(sd), "zeros");
    const float* harg = reinterpret_cast<const float*>(hp);
    int it = iterations;
    uint32_t* carg = codes;
    std::string needle;
    switch ((in.ConsumeIntegralInRange(0, 6) + 4) % 7) {  // faults 0..3; 0 in: valid
        case 0: harg = nullptr; needle = "h"; break;
        case 1: it = pick<int>(in, {-1, 101, INT32_MIN}); needle = "iterations"; break;
        case 2: reinterpret_cast<float*>(hp)[rng.below(k * k)] = pick<float>(in, {NAN, INFINITY, -INFINITY}); needle = "h"; break;
        case 3: carg = reinterpret_cast<uint32_t*>(hp); needle = "codes"; break;  // codes overlaps h
        default: break;
    }
    g_trace += needle.empty() ? " | valid" : " | fault: " + needle;
    a.snapshot();
    const engram_status got = engram_qmatmul_quantize_refine(ctx, n_out, k, ENGRAM_DTYPE_F32, wp, int32_t(group),
                                                             engram_dtype(sd), harg, it, carg, nw, scales, zeros);
    if (!needle.empty()) {
        expect_status("engram_qmatmul_quantize_refine", got, ENGRAM_ERR_INVALID_ARGUMENT, needle);
        a.check_untouched("a failed quantize_refine", false);
        return;
    }
    expect_status("engram_qmatmul_quantize_refine", got, ENGRAM_OK, "");
    a.check_untouched("a valid quantize_refine", true);
    // Never worse than RTN on the same h.
    std::vector<uint32_t> rc(nw);
    std::vector<uint8_t> rs(ns * dsize(sd)), rz(ns * dsize(sd));
    FUZZ_CHECK(engram_qmatmul_quantize_rtn(ctx, n_out, k, ENGRAM_DTYPE_F32, w.data(), int32_t(group), engram_dtype(sd),
                                           rc.data(), nw, rs.data(), rz.data()) == ENGRAM_OK,
               "quantize_rtn: %s", engram_last_error());
    auto weight = [&](const uint32_t* c, const uint8_t* s, const uint8_t* z) {
        engram_test::RefQWeight q;
        q.n_out = n_out;
        q.k = k;
        q.group = group;
        q.words.assign(c, c + nw);
        for (size_t i = 0; i < ns; ++i) {
            q.scales.push_back(get(s, sd, i));
            q.zeros.push_back(get(z, sd, i));
        }
        return q;
    };
    const double e_ref = layer_error(w, h, weight(codes, scales, zeros));
    const double e_rtn = layer_error(w, h, weight(rc.data(), rs.data(), rz.data()));
    FUZZ_CHECK(e_ref <= e_rtn * (1 + 1e-9) + 1e-12, "refined error %g above RTN's %g", e_ref, e_rtn);
    if (iterations == 0)
        FUZZ_CHECK(std::memcmp(codes, rc.data(), nw * 4) == 0 && std::memcmp(scales, rs.data(), rs.size()) == 0,
                   "0 iterations differs from RTN");
}

// --- layout conversions ---------------------------------------------------------

void fuzz_layout(FuzzedDataProvider& in, engram_context* ctx, int which) {
    const int64_t n_out = in.ConsumeIntegralInRange<int64_t>(1, 13), k = 16 * in.ConsumeIntegralInRange<int64_t>(1, 9);
    Rng rng(in.ConsumeIntegral<uint64_t>());
    static const char* const names[] = {"pack", "unpack", "prepare", "unprepare"};
    g_trace = std::string(names[which]) + " n_out=" + std::to_string(n_out) + " k=" + std::to_string(k);
    const size_t pw = size_t(n_out * k / 16), qw = size_t((n_out + 3) / 4 * 4 * k / 16);
    std::vector<uint8_t> codes(size_t(n_out * k));
    for (uint8_t& q : codes) q = uint8_t(rng.below(4));
    const std::vector<uint32_t> plain = engram_test::ref_pack(n_out, k, codes);
    std::vector<uint32_t> prepared = engram_test::ref_prepare(n_out, k, plain);
    const int fault = (in.ConsumeIntegralInRange(0, 9) + 6) % 10;  // faults 0..5; 0 in: valid
    std::string needle;
    int64_t kk = k, nn = n_out;
    uint64_t len_in = which == 0 ? 0 : which == 3 ? qw : pw, len_out = which == 0 || which == 3 ? pw : which == 2 ? qw : 0;
    bool null_in = false, null_out = false, alias = false;
    switch (fault) {
        case 0: kk = k + pick<int64_t>(in, {8, 1, -k}); needle = "k"; break;
        case 1: nn = pick<int64_t>(in, {0, -2}); needle = "n_out"; break;
        case 2: null_in = true; break;
        case 3: null_out = true; break;
        case 4: alias = true; break;
        case 5:  // a bad length, or bad data (a code above 3; nonzero padding)
            if (which == 0) { codes[size_t(rng.below(int64_t(codes.size())))] = uint8_t(4 + rng.below(252)); needle = "codes"; }
            else if (which == 3 && qw > pw) { prepared[qw - 1] = 1u; needle = "prepared"; }
            else if (which == 1) { len_in += 1; needle = "code_words"; }
            else if (which == 2) { len_out -= 1; needle = "prepared_words"; }
            break;
        default: break;
    }
    Arena a;
    const void* src = nullptr;
    size_t src_bytes = 0, dst_bytes = 0;
    const char* in_name = "";
    const char* out_name = "";
    switch (which) {
        case 0: src = codes.data(); src_bytes = codes.size(); dst_bytes = pw * 4; in_name = "codes"; out_name = "words"; break;
        case 1: src = plain.data(); src_bytes = pw * 4; dst_bytes = codes.size(); in_name = "words"; out_name = "codes"; break;
        case 2: src = plain.data(); src_bytes = pw * 4; dst_bytes = qw * 4; in_name = "plain"; out_name = "prepared"; break;
        default: src = prepared.data(); src_bytes = qw * 4; dst_bytes = pw * 4; in_name = "prepared"; out_name = "plain"; break;
    }
    uint8_t* ip = a.input(src, src_bytes, in_name);
    uint8_t* op = alias ? ip : a.output(dst_bytes, out_name);
    if (null_in) { ip = nullptr; needle = in_name; }
    if (null_out) { op = nullptr; needle = out_name; }
    if (alias) needle = out_name;
    g_trace += needle.empty() ? " | valid" : " | fault: " + needle;
    a.snapshot();
    engram_status got;
    switch (which) {
        case 0: got = engram_qmatmul_pack(ctx, nn, kk, ip, reinterpret_cast<uint32_t*>(op), pw); break;
        case 1: got = engram_qmatmul_unpack(ctx, nn, kk, reinterpret_cast<const uint32_t*>(ip), len_in, op); break;
        case 2: got = engram_qmatmul_prepare(ctx, nn, kk, reinterpret_cast<const uint32_t*>(ip), pw,
                                             reinterpret_cast<uint32_t*>(op), len_out); break;
        default: got = engram_qmatmul_unprepare(ctx, nn, kk, reinterpret_cast<const uint32_t*>(ip), qw,
                                                reinterpret_cast<uint32_t*>(op), pw); break;
    }
    if (!needle.empty()) {
        expect_status(names[which], got, ENGRAM_ERR_INVALID_ARGUMENT, needle);
        a.check_untouched("a failed layout conversion", false);
        return;
    }
    expect_status(names[which], got, ENGRAM_OK, "");
    a.check_untouched("a valid layout conversion", true);
    const void* expect_out = which == 0 ? (const void*)plain.data() : which == 1 ? (const void*)codes.data()
                             : which == 2 ? (const void*)prepared.data() : (const void*)plain.data();
    FUZZ_CHECK(std::memcmp(op, expect_out, dst_bytes) == 0, "%s: result differs from the reference", names[which]);
}

}  // namespace

void fuzz_qmatmul(FuzzedDataProvider& in, engram_context* ctx) {
    // 0 product, 1 RTN, 2-5 layouts, 6 refine, 7-9 file / ONNX / BitStack
    // (qmatmul_formats_fuzz.cpp).
    const int which = in.ConsumeIntegralInRange(0, 9);
    if (which <= 1 || which == 6) {
        if (engram_context_set_threads(ctx, in.ConsumeIntegralInRange(1, 3)) != ENGRAM_OK)
            FUZZ_CHECK(false, "set_threads: %s", engram_last_error());
    }
    if (which == 0) fuzz_product(in, ctx);
    else if (which == 1) fuzz_rtn(in, ctx);
    else if (which == 6) fuzz_refine(in, ctx);
    else if (which >= 7) fuzz_qmatmul_formats(in, ctx, which - 7);
    else fuzz_layout(in, ctx, which - 2);
    // ENGRAM_FUZZ_TRACE=1 prints every call (as for CCE).
    static const bool verbose = std::getenv("ENGRAM_FUZZ_TRACE") != nullptr;
    if (verbose) std::fprintf(stderr, "%s\n", g_trace.c_str());
    engram_memory_stats m;
    engram_memory_stats_init(&m);
    FUZZ_CHECK(engram_context_get_memory_stats(ctx, &m) == ENGRAM_OK && m.current_bytes == 0,
               "scratch left after a qmatmul call: %llu bytes", (unsigned long long)m.current_bytes);
}

}  // namespace fuzz
