// scan_based_fuzz.cpp — BASED entry points under the fuzzer: the Taylor
// feature map and its backward, BASED linear attention and the sliding-window
// attention on small random problems (B <= 2, T <= 40, d <= 16, V <= 8,
// grouped heads, every dtype, chunk and window sizes), valid calls checked
// against the float64 references with the tests' error models, or one fault
// checked for its status, message and untouched buffers.
#include <cmath>
#include <limits>
#include <string>

#include "fuzz_support.hpp"
#include "ops/scan/reference/scan_based_reference.hpp"
#include "scan_fuzz.hpp"
#include "scan_mom_fuzz.hpp"

namespace fuzz {

using namespace scan_detail;

namespace {

constexpr double kEps = 0x1p-24;

void check_all(const char* what, const float* got, const std::vector<double>& want,
               const std::vector<double>& bound) {
    for (size_t i = 0; i < want.size(); ++i) {
        if (std::isnan(want[i])) {
            FUZZ_CHECK(std::isnan(got[i]), "%s[%zu] = %g, reference NaN", what, i, double(got[i]));
            continue;
        }
        FUZZ_CHECK(std::fabs(double(got[i]) - want[i]) <= bound[i], "%s[%zu] = %.9g, reference %.9g, bound %.3g",
                   what, i, double(got[i]), want[i], bound[i]);
    }
}

}  // namespace

void fuzz_scan_based(FuzzedDataProvider& in, engram_context* ctx) {
    const int op = in.ConsumeIntegralInRange(0, 3);  // feature map, its backward, BASED, window
    const int32_t dt = pick<int32_t>(in, {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16});
    const int64_t b = in.ConsumeIntegralInRange<int64_t>(1, 2), t = in.ConsumeIntegralInRange<int64_t>(1, 40);
    const int64_t hk = in.ConsumeIntegralInRange<int64_t>(1, 2), h = hk * in.ConsumeIntegralInRange<int64_t>(1, 2);
    const int64_t d = pick<int64_t>(in, {1, 2, 3, 5, 8, 16}), vd = in.ConsumeIntegralInRange<int64_t>(1, 8);
    const int32_t chunk = pick<int32_t>(in, {0, 1, 3, 16, 256}), window = pick<int32_t>(in, {0, 1, 4, 9, 100});
    const bool nan_k = in.ConsumeIntegralInRange(0, 7) == 0;
    Rng rng(in.ConsumeIntegral<uint64_t>());
    const size_t es = dt == ENGRAM_DTYPE_F32 ? 4 : 2;
    auto draw = [&](int64_t n, double a) {
        std::vector<float> x(static_cast<size_t>(n));
        for (float& e : x) e = round16(dt, float(rng.sym(a)));
        return x;
    };
    const bool win = op == 3;
    const int64_t rows = b * t * hk, f = 1 + d + d * d;
    std::vector<float> q = draw(b * t * (win ? h : hk) * d, 1.0), k = draw(rows * d, 1.0),
                       v = draw(b * t * (win ? hk : h) * vd, 2.0);
    if (nan_k) k[size_t(rng.below(int64_t(k.size())))] = std::numeric_limits<float>::quiet_NaN();
    const std::vector<uint8_t> qr = encode(dt, q), kr = encode(dt, k), vr = encode(dt, v);
    Arena a;
    const void* qp = a.input(qr.data(), qr.size(), "in->q");
    const void* kp = a.input(kr.data(), kr.size(), "in->k");
    const void* vp = a.input(vr.data(), vr.size(), "in->v");
    const int which = in.ConsumeIntegralInRange(0, 9);
    Expect ex;
    std::string fault;
    auto set = [&](const char* label, engram_status st, std::vector<std::string> needles) {
        fault = label;
        ex = Expect{st, std::move(needles)};
    };
    g_trace = "scan_based op " + std::to_string(op) + " B" + std::to_string(b) + " T" + std::to_string(t) + " H" +
              std::to_string(h) + "/" + std::to_string(hk) + " d" + std::to_string(d) + " V" + std::to_string(vd);
    if (op <= 1) {
        std::vector<float> g(size_t(rows * f));
        for (float& e : g) e = float(rng.sym(1.0));
        const float* gp = reinterpret_cast<const float*>(a.input(g.data(), g.size() * 4, "d_phi"));
        float* out = reinterpret_cast<float*>(a.output(size_t(rows * (op == 0 ? f : d)) * 4, op == 0 ? "phi" : "dx"));
        int32_t dtype = dt;
        int64_t r_arg = rows, d_arg = d;
        const void* x = kp;
        switch (which) {
            case 0: dtype = pick<int32_t>(in, {3, 4, -1}); set("dtype", ENGRAM_ERR_UNSUPPORTED, {"dtype"}); break;
            case 1: d_arg = pick<int64_t>(in, {0, -2, ENGRAM_SCAN_BASED_MAX_DIM + 1}); set("dim", ENGRAM_ERR_INVALID_ARGUMENT, {"dim"}); break;
            case 2: r_arg = pick<int64_t>(in, {0, -1, int64_t(1) << 31}); set("rows", ENGRAM_ERR_INVALID_ARGUMENT, {"rows"}); break;
            case 3: x = nullptr; set("x NULL", ENGRAM_ERR_INVALID_ARGUMENT, {"x"}); break;
            case 4: out = nullptr; set("out NULL", ENGRAM_ERR_INVALID_ARGUMENT, {op == 0 ? "phi" : "dx"}); break;
            default: break;
        }
        g_trace += fault.empty() ? " | valid" : " | " + fault;
        if (std::getenv("ENGRAM_FUZZ_TRACE")) std::fprintf(stderr, "%s\n", g_trace.c_str());
        a.snapshot();
        const engram_status st = op == 0 ? engram_scan_based_feature_map(ctx, dtype, r_arg, d_arg, x, out)
                                         : engram_scan_based_feature_map_backward(ctx, dtype, r_arg, d_arg, x, gp, out);
        check_status(op == 0 ? "engram_scan_based_feature_map" : "engram_scan_based_feature_map_backward", st, ex);
        if (st != ENGRAM_OK) {
            a.check_untouched("a failed call", false);
            return;
        }
        a.check_untouched("a valid call", true);
        const std::vector<double> kd(k.begin(), k.end());
        if (op == 0) {
            const std::vector<double> want = engram_test::ref_based_feature_map(kd, rows, d);
            std::vector<double> bound;
            for (double w : want) bound.push_back(4 * kEps * std::fabs(w) + 1e-30);
            check_all("phi", out, want, bound);
        } else {
            // Analytic derivative in float64 (the tests check it against finite differences).
            const double lin = 1.0 / std::pow(double(d), 0.25), quad = 1.0 / (std::sqrt(2.0) * std::sqrt(double(d)));
            std::vector<double> want, bound;
            for (int64_t r = 0; r < rows; ++r)
                for (int64_t i = 0; i < d; ++i) {
                    const float* gr = g.data() + r * f;
                    double acc = gr[1 + i] * lin, mag = std::fabs(gr[1 + i] * lin);
                    for (int64_t j = 0; j < d; ++j) {
                        const double term = (double(gr[1 + d + i * d + j]) + gr[1 + d + j * d + i]) * kd[size_t(r * d + j)] * quad;
                        acc += term;
                        mag += (std::fabs(gr[1 + d + i * d + j]) + std::fabs(gr[1 + d + j * d + i])) * std::fabs(kd[size_t(r * d + j)]) * quad;
                    }
                    want.push_back(acc);
                    bound.push_back(4.0 * double(2 * d + 4) * kEps * mag + 1e-30);
                }
            check_all("dx", out, want, bound);
        }
        return;
    }
    engram_scan_based_inputs bi;
    engram_scan_based_inputs_init(&bi);
    bi.dtype = dt;
    bi.output_dtype = pick<int32_t>(in, {ENGRAM_SCAN_OUTPUT_DTYPE_INPUT, ENGRAM_DTYPE_F32});
    bi.batch = b;
    bi.t = t;
    bi.heads = h;
    bi.qk_heads = hk;
    bi.k_dim = d;
    bi.v_dim = vd;
    bi.chunk_size = chunk;
    bi.window = window;
    bi.q = qp;
    bi.k = kp;
    bi.v = vp;
    const int32_t od = bi.output_dtype == ENGRAM_DTYPE_F32 ? ENGRAM_DTYPE_F32 : dt;
    const size_t o_bytes = size_t(b * t * h * vd) * (od == ENGRAM_DTYPE_F32 ? 4 : es);
    void* o = a.output(o_bytes, "o");
    switch (which) {
        case 0: bi.struct_size = 3; set("struct_size", ENGRAM_ERR_INVALID_ARGUMENT, {"in->struct_size"}); break;
        case 1: bi.qk_heads = h + 1; set("qk_heads", ENGRAM_ERR_INVALID_ARGUMENT, {"in->qk_heads"}); break;
        case 2: bi.window = -3; set("window", ENGRAM_ERR_INVALID_ARGUMENT, {"in->window"}); break;
        case 3: bi.chunk_size = 300; set("chunk", ENGRAM_ERR_INVALID_ARGUMENT, {"in->chunk_size"}); break;
        case 4: bi.scale = NAN; set("scale", ENGRAM_ERR_INVALID_ARGUMENT, {"in->scale"}); break;
        case 5: bi.k = nullptr; set("k NULL", ENGRAM_ERR_INVALID_ARGUMENT, {"in->k"}); break;
        case 6: o = static_cast<uint8_t*>(o) + 1; set("o misaligned", ENGRAM_ERR_INVALID_ARGUMENT, {"o"}); break;
        case 7: bi.k_dim = win ? ENGRAM_SCAN_MAX_HEAD_DIM + 1 : ENGRAM_SCAN_BASED_MAX_DIM + 1; set("k_dim", ENGRAM_ERR_INVALID_ARGUMENT, {"in->k_dim"}); break;
        default: break;
    }
    g_trace += std::string(win ? " window " : " based ") + (fault.empty() ? "| valid" : "| " + fault);
    if (std::getenv("ENGRAM_FUZZ_TRACE")) std::fprintf(stderr, "%s\n", g_trace.c_str());
    a.snapshot();
    const engram_status st = win ? engram_scan_sliding_window_forward(ctx, &bi, o) : engram_scan_based_forward(ctx, &bi, o);
    check_status(win ? "engram_scan_sliding_window_forward" : "engram_scan_based_forward", st, ex);
    if (st != ENGRAM_OK) {
        a.check_untouched("a failed call", false);
        return;
    }
    a.check_untouched("a valid call", true);
    std::vector<float> got(size_t(b * t * h * vd));
    for (size_t i = 0; i < got.size(); ++i) got[i] = decode_at(od, static_cast<const uint8_t*>(o), i);
    const double oe = od == ENGRAM_DTYPE_F32 ? 0.0 : od == ENGRAM_DTYPE_BF16 ? 0x1p-8 : 0x1p-11;
    const int w = window == 0 ? 64 : window;
    const double scale = double(float(1.0 / std::sqrt(double(d))));
    engram_test::BasedRefProblem p{b, t, h, hk, d, vd, w, scale, {q.begin(), q.end()}, {k.begin(), k.end()}, {v.begin(), v.end()}};
    const std::vector<double> want = win ? engram_test::ref_sliding_window(p) : engram_test::ref_based_forward(p);
    for (auto* x : {&p.q, &p.k, &p.v})
        for (double& e : *x) e = std::fabs(e);
    std::vector<double> mag;
    if (win) {  // sum p |v| needs the signed scores: only |v|
        p.q.assign(q.begin(), q.end());
        p.k.assign(k.begin(), k.end());
        mag = engram_test::ref_sliding_window(p);
    } else {
        mag = engram_test::ref_based_forward(p);
    }
    std::vector<double> bound;
    const int64_t c = std::min<int64_t>(chunk == 0 ? 64 : chunk, t);
    for (size_t i = 0; i < want.size(); ++i) {
        const double m = std::isnan(mag[i]) ? 0.0 : mag[i];
        const double err = win ? kEps * (4.0 * double(std::min<int64_t>(w, t) + 8) + 4.0 * double(d) * double(d) * scale) * m
                               : 4.0 * double(f + 2 * c + t / c + 8) * kEps * (3.0 + 2.0 * std::sqrt(2.0)) * (m + std::fabs(want[i]));
        bound.push_back(err * (1.0 + oe) + oe * std::fabs(want[i]) + 1e-30);
    }
    check_all("o", got.data(), want, bound);
}

}  // namespace fuzz
