// scan_titans_fuzz.cpp — the Titans neural memory under the fuzzer: forward
// or decode (in place) on small random problems (B <= 2, T <= 24, K, V <= 8,
// grouped heads, every dtype, initial memory and surprise or not, sometimes a
// NaN gate), checked against the float64 recurrence with the tests' error
// model (NaN exactly where it has NaN), or one fault checked for its status,
// message and untouched buffers.
#include <cmath>
#include <limits>
#include <string>

#include "fuzz_support.hpp"
#include "ops/scan/reference/scan_titans_reference.hpp"
#include "scan_fuzz.hpp"
#include "scan_mom_fuzz.hpp"

namespace fuzz {

using namespace scan_detail;

void fuzz_scan_titans(FuzzedDataProvider& in, engram_context* ctx) {
    const bool decode = in.ConsumeBool();
    const int32_t dt = pick<int32_t>(in, {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16});
    const int64_t b = in.ConsumeIntegralInRange<int64_t>(1, 2), t = decode ? 1 : in.ConsumeIntegralInRange<int64_t>(1, 24);
    const int64_t hk = in.ConsumeIntegralInRange<int64_t>(1, 2), h = hk * in.ConsumeIntegralInRange<int64_t>(1, 2);
    const int64_t kd = in.ConsumeIntegralInRange<int64_t>(1, 8), vd = in.ConsumeIntegralInRange<int64_t>(1, 8);
    const bool init = decode || in.ConsumeBool(), nan_gate = in.ConsumeIntegralInRange(0, 7) == 0;
    Rng rng(in.ConsumeIntegral<uint64_t>());
    auto draw = [&](int64_t n, double a, bool round) {
        std::vector<float> x(static_cast<size_t>(n));
        for (float& e : x) e = round ? round16(dt, float(rng.sym(a))) : float(rng.sym(a));
        return x;
    };
    auto gate = [&](double lo, double hi) {
        std::vector<float> x(static_cast<size_t>(b * t * h));
        for (float& e : x) e = float(lo + (hi - lo) * rng.uniform());
        return x;
    };
    const std::vector<float> q = draw(b * t * hk * kd, 1.0, true), k = draw(b * t * hk * kd, 1.0 / std::sqrt(double(kd)), true),
                             v = draw(b * t * h * vd, 1.0, true);
    std::vector<float> eta = gate(0.5, 0.95), theta = gate(0.0, 0.3), alpha = gate(0.0, 0.1);
    if (nan_gate) alpha[size_t(rng.below(int64_t(alpha.size())))] = std::numeric_limits<float>::quiet_NaN();
    const size_t st = size_t(b * h * kd * vd);
    const std::vector<float> m0 = init ? draw(int64_t(st), 0.5, false) : std::vector<float>(),
                             s0 = init ? draw(int64_t(st), 0.1, false) : std::vector<float>();
    const std::vector<uint8_t> qr = encode(dt, q), kr = encode(dt, k), vr = encode(dt, v);
    Arena a;
    engram_scan_titans_inputs ti;
    engram_scan_titans_inputs_init(&ti);
    ti.dtype = dt;
    ti.output_dtype = ENGRAM_DTYPE_F32;
    ti.batch = b; ti.t = t; ti.heads = h; ti.qk_heads = hk; ti.k_dim = kd; ti.v_dim = vd;
    ti.q = a.input(qr.data(), qr.size(), "in->q");
    ti.k = a.input(kr.data(), kr.size(), "in->k");
    ti.v = a.input(vr.data(), vr.size(), "in->v");
    ti.eta = reinterpret_cast<const float*>(a.input(eta.data(), eta.size() * 4, "in->eta"));
    ti.theta = reinterpret_cast<const float*>(a.input(theta.data(), theta.size() * 4, "in->theta"));
    ti.alpha = reinterpret_cast<const float*>(a.input(alpha.data(), alpha.size() * 4, "in->alpha"));
    float* mo = reinterpret_cast<float*>(a.output(st * 4, decode ? "memory_out" : "final_memory"));
    float* so = reinterpret_cast<float*>(a.output(st * 4, decode ? "surprise_out" : "final_surprise"));
    if (decode) {  // in place: the state buffers are both input and output
        std::memcpy(mo, m0.data(), st * 4);
        std::memcpy(so, s0.data(), st * 4);
        ti.initial_memory = mo;
        ti.initial_surprise = so;
    } else if (init) {
        ti.initial_memory = reinterpret_cast<const float*>(a.input(m0.data(), st * 4, "in->initial_memory"));
        ti.initial_surprise = reinterpret_cast<const float*>(a.input(s0.data(), st * 4, "in->initial_surprise"));
    }
    float* o = reinterpret_cast<float*>(a.output(size_t(b * t * h * vd) * 4, "o"));
    Expect ex;
    std::string fault;
    auto set = [&](const char* label, engram_status s, std::vector<std::string> needles) {
        fault = label;
        ex = Expect{s, std::move(needles)};
    };
    switch (in.ConsumeIntegralInRange(0, 9)) {
        case 0: ti.struct_size = 5; set("struct_size", ENGRAM_ERR_INVALID_ARGUMENT, {"in->struct_size"}); break;
        case 1: ti.theta = nullptr; set("theta NULL", ENGRAM_ERR_INVALID_ARGUMENT, {"in->theta"}); break;
        case 2: ti.qk_heads = h + 1; set("qk_heads", ENGRAM_ERR_INVALID_ARGUMENT, {"in->qk_heads"}); break;
        case 3: ti.v_dim = ENGRAM_SCAN_MAX_HEAD_DIM + 1; set("v_dim", ENGRAM_ERR_INVALID_ARGUMENT, {"in->v_dim"}); break;
        case 4: ti.output_dtype = 7; set("output_dtype", ENGRAM_ERR_UNSUPPORTED, {"in->output_dtype"}); break;
        case 5:
            if (decode) { ti.t = 2; set("decode t", ENGRAM_ERR_INVALID_ARGUMENT, {"in->t"}); }
            else { so = mo; set("surprise over memory", ENGRAM_ERR_INVALID_ARGUMENT, {"final_memory", "final_surprise"}); }
            break;
        default: break;
    }
    g_trace = std::string("scan_titans ") + (decode ? "decode" : "forward") + " B" + std::to_string(b) + " T" +
              std::to_string(t) + " H" + std::to_string(h) + "/" + std::to_string(hk) + " K" + std::to_string(kd) + " V" +
              std::to_string(vd) + (fault.empty() ? " | valid" : " | " + fault);
    if (std::getenv("ENGRAM_FUZZ_TRACE")) std::fprintf(stderr, "%s\n", g_trace.c_str());
    a.snapshot();
    const engram_status s = decode ? engram_scan_titans_decode(ctx, &ti, o, mo, so)
                                   : engram_scan_titans_forward(ctx, &ti, o, mo, so);
    check_status(decode ? "engram_scan_titans_decode" : "engram_scan_titans_forward", s, ex);
    if (s != ENGRAM_OK) {
        a.check_untouched("a failed call", false);
        return;
    }
    a.check_untouched("a valid call", true);
    engram_test::TitansRefProblem p;
    p.batch = b; p.t = t; p.heads = h; p.qk_heads = hk; p.k_dim = kd; p.v_dim = vd;
    p.q.assign(q.begin(), q.end()); p.k.assign(k.begin(), k.end()); p.v.assign(v.begin(), v.end());
    p.eta.assign(eta.begin(), eta.end()); p.theta.assign(theta.begin(), theta.end()); p.alpha.assign(alpha.begin(), alpha.end());
    p.m0.assign(m0.begin(), m0.end()); p.s0.assign(s0.begin(), s0.end());
    const engram_test::TitansRefResult want = engram_test::ref_titans(p);
    p.magnitude = true;
    const engram_test::TitansRefResult mag = engram_test::ref_titans(p);
    const double unit = 4.0 * double(kd + t + 8) * 0x1p-24;
    auto check = [&](const char* what, const float* got, const std::vector<double>& w, const std::vector<double>& m) {
        for (size_t i = 0; i < w.size(); ++i) {
            if (std::isnan(w[i])) {
                FUZZ_CHECK(std::isnan(got[i]), "%s[%zu] = %g, reference NaN", what, i, double(got[i]));
                continue;
            }
            FUZZ_CHECK(std::fabs(double(got[i]) - w[i]) <= unit * m[i] + 1e-30, "%s[%zu] = %.9g, reference %.9g", what,
                       i, double(got[i]), w[i]);
        }
    };
    check("o", o, want.o, mag.o);
    check("memory", mo, want.memory, mag.memory);
    check("surprise", so, want.surprise, mag.surprise);
}

}  // namespace fuzz
