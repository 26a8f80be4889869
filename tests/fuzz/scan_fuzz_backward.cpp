// scan_fuzz_backward.cpp — engram_scan_linear_backward in the fuzz harness:
// a small problem (central finite differences of the float64 recurrence are
// the reference, so B, H <= 4, T <= 8, K, V <= 4), a random subset of the
// gradients, optional final-state gradient, then at most one fault. A faulty
// call must return the documented status naming the argument and write
// nothing; a valid one must not write its inputs and, for finite gates, must
// match the finite differences within the error model of
// scan_backward_test.cpp (a wider factor here).
#include <cmath>
#include <limits>

#include "ops/scan/reference/scan_reference.hpp"
#include "scan_fuzz.hpp"

namespace fuzz {

namespace {

using namespace scan_detail;
using engram_test::ScanRefProblem;

struct Upstream {
    std::vector<float> d_o, d_state;  // d_state empty: NULL
};

double loss(const ScanRefProblem& p, const Upstream& u) {
    const engram_test::ScanRefResult r = engram_test::ref_scan_recurrent(p);
    double l = 0.0;
    for (size_t i = 0; i < r.o.size(); ++i) l += double(u.d_o[i]) * r.o[i];
    for (size_t i = 0; i < u.d_state.size(); ++i) l += double(u.d_state[i]) * r.state[i];
    return l;
}

std::vector<double> numeric_grad(ScanRefProblem p, const Upstream& u, std::vector<double> ScanRefProblem::*field) {
    std::vector<double>& x = p.*field;
    std::vector<double> g(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
        const double keep = x[i], h = 1e-5 * std::max(1.0, std::fabs(keep));
        x[i] = keep + h;
        const double up = loss(p, u);
        x[i] = keep - h;
        const double down = loss(p, u);
        x[i] = keep;
        g[i] = (up - down) / (2 * h);
    }
    return g;
}

}  // namespace

void fuzz_scan_backward(FuzzedDataProvider& in, engram_context* ctx) {
    const int32_t dtype = pick<int32_t>(in, {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16});
    const int32_t out_dtype = pick<int32_t>(in, {ENGRAM_SCAN_OUTPUT_DTYPE_INPUT, ENGRAM_DTYPE_F32});
    const int32_t od = out_dtype == ENGRAM_SCAN_OUTPUT_DTYPE_INPUT ? dtype : out_dtype;
    const int32_t gdt = pick<int32_t>(in, {ENGRAM_DTYPE_F32, dtype});
    const int gate = in.ConsumeIntegralInRange(0, 2);
    const int64_t b = in.ConsumeIntegralInRange<int64_t>(1, 2), t = in.ConsumeIntegralInRange<int64_t>(1, 8);
    const int64_t hk = in.ConsumeIntegralInRange<int64_t>(1, 2), h = hk * in.ConsumeIntegralInRange<int64_t>(1, 2);
    const int64_t kd = in.ConsumeIntegralInRange<int64_t>(1, 4), vd = in.ConsumeIntegralInRange<int64_t>(1, 4);
    const int32_t chunk = pick<int32_t>(in, {0, 1, 2, 3, 5});
    const float scale = pick<float>(in, {0.0f, 1.0f, -0.5f});
    const bool with_s0 = in.ConsumeBool(), with_gfs = in.ConsumeBool();
    const uint8_t want = in.ConsumeIntegral<uint8_t>();  // which gradients
    const int specials = in.ConsumeIntegralInRange(0, 5);  // 0: NaN in g, 1: -inf in g
    const double g_lo = pick<double>(in, {-0.3, -3.0, 0.0});
    Rng rng(in.ConsumeIntegral<uint64_t>());
    const int64_t gw = gate == 0 ? 0 : gate == 1 ? 1 : kd;
    char label[200];
    std::snprintf(label, sizeof label, "scan_backward B%lld T%lld H%lld/%lld K%lld V%lld gate %d dtype %d out %d grads %d chunk %d scale %g%s%s",
                  (long long)b, (long long)t, (long long)h, (long long)hk, (long long)kd, (long long)vd, gate, dtype,
                  out_dtype, gdt, chunk, double(scale), with_s0 ? " S0" : "", with_gfs ? " dS_T" : "");
    g_trace = label;

    ScanRefProblem ref;
    ref.batch = b;
    ref.t = t;
    ref.heads = h;
    ref.qk_heads = hk;
    ref.k_dim = kd;
    ref.v_dim = vd;
    ref.gate = gate;
    ref.scale = scale != 0.0f ? double(scale) : double(float(1.0 / std::sqrt(double(kd))));
    auto fill = [&](int64_t n, int32_t dt) {
        std::vector<float> v(static_cast<size_t>(n));
        for (float& x : v) x = round16(dt, float(rng.sym(1.5)));
        return v;
    };
    const std::vector<float> q = fill(b * t * hk * kd, dtype), k = fill(b * t * hk * kd, dtype),
                             v = fill(b * t * h * vd, dtype);
    std::vector<float> g(size_t(b * t * h * gw));
    for (float& x : g) x = float(g_lo * rng.uniform());
    if (!g.empty() && specials < 2)
        g[size_t(rng.below(int64_t(g.size())))] =
            specials == 0 ? std::numeric_limits<float>::quiet_NaN() : -std::numeric_limits<float>::infinity();
    const int64_t st = b * h * kd * vd;
    std::vector<float> s0 = with_s0 ? fill(st, ENGRAM_DTYPE_F32) : std::vector<float>(size_t(st), 0.0f);
    Upstream u;
    u.d_o = fill(b * t * h * vd, od);
    if (with_gfs) u.d_state = fill(st, ENGRAM_DTYPE_F32);
    ref.q.assign(q.begin(), q.end());
    ref.k.assign(k.begin(), k.end());
    ref.v.assign(v.begin(), v.end());
    ref.g.assign(g.begin(), g.end());
    ref.s0.assign(s0.begin(), s0.end());

    Arena a;
    const std::vector<uint8_t> qr = encode(dtype, q), kr = encode(dtype, k), vr = encode(dtype, v),
                               gor = encode(od, u.d_o);
    engram_scan_inputs inp;
    engram_scan_inputs_init(&inp);
    inp.dtype = dtype;
    inp.gate = gate;
    inp.batch = b;
    inp.t = t;
    inp.heads = h;
    inp.qk_heads = hk;
    inp.k_dim = kd;
    inp.v_dim = vd;
    inp.q = a.input(qr.data(), qr.size(), "in->q");
    inp.k = a.input(kr.data(), kr.size(), "in->k");
    inp.v = a.input(vr.data(), vr.size(), "in->v");
    if (gate) inp.g = reinterpret_cast<const float*>(a.input(g.data(), g.size() * 4, "in->g"));
    if (with_s0) inp.initial_state = reinterpret_cast<const float*>(a.input(s0.data(), size_t(st) * 4, "in->initial_state"));
    const void* grad_o = a.input(gor.data(), gor.size(), "grad_o");
    const float* gfs = with_gfs ? reinterpret_cast<const float*>(a.input(u.d_state.data(), size_t(st) * 4, "grad_final_state")) : nullptr;
    engram_scan_options opts;
    engram_scan_options_init(&opts);
    opts.chunk_size = chunk;
    opts.scale = scale;
    opts.output_dtype = out_dtype;
    const size_t gs = gdt == ENGRAM_DTYPE_F32 ? 4 : 2;
    engram_scan_grads gr;
    engram_scan_grads_init(&gr);
    gr.dtype = gdt;
    const bool w_dq = want & 1, w_dk = want & 2, w_dv = want & 4, w_dg = (want & 8) && gate, w_ds0 = (want & 16) || !(want & 7);
    if (w_dq) gr.dq = a.output(qr.size() / (dtype == ENGRAM_DTYPE_F32 ? 4 : 2) * gs, "grads->dq");
    if (w_dk) gr.dk = a.output(kr.size() / (dtype == ENGRAM_DTYPE_F32 ? 4 : 2) * gs, "grads->dk");
    if (w_dv) gr.dv = a.output(vr.size() / (dtype == ENGRAM_DTYPE_F32 ? 4 : 2) * gs, "grads->dv");
    if (w_dg) gr.dg = reinterpret_cast<float*>(a.output(g.size() * 4, "grads->dg"));
    if (w_ds0) gr.d_initial_state = reinterpret_cast<float*>(a.output(size_t(st) * 4, "grads->d_initial_state"));

    Expect x;
    std::string fault;
    const auto INV = ENGRAM_ERR_INVALID_ARGUMENT;
    auto set = [&](const std::string& l, engram_status s, std::vector<std::string> needles) {
        fault = l;
        x = Expect{s, std::move(needles)};
    };
    engram_context* ctx_arg = ctx;
    const engram_scan_grads* gr_arg = &gr;
    switch (in.ConsumeIntegralInRange(0, 15)) {
        case 0: ctx_arg = nullptr; set("ctx NULL", INV, {"ctx"}); break;
        case 1: gr_arg = nullptr; set("grads NULL", INV, {"grads"}); break;
        case 2: gr.struct_size = pick<uint32_t>(in, {0u, 8u, uint32_t(sizeof gr) + 8}); set("grads->struct_size", INV, {"grads->struct_size"}); break;
        case 3: gr.dtype = pick<int32_t>(in, {3, 4, -1, dtype == ENGRAM_DTYPE_BF16 ? ENGRAM_DTYPE_F16 : ENGRAM_DTYPE_BF16}); set("grads->dtype", ENGRAM_ERR_UNSUPPORTED, {"grads->dtype"}); break;
        case 4:
            gr.dq = gr.dk = gr.dv = nullptr;
            gr.dg = gr.d_initial_state = nullptr;
            set("no gradient", INV, {"grads"});
            break;
        case 5:
            if (gate == 0) {
                gr.dg = reinterpret_cast<float*>(a.output(size_t(b * t * h) * 4, "grads->dg"));
                set("dg without gate", INV, {"grads->dg"});
            }
            break;
        case 6: grad_o = nullptr; set("grad_o NULL", INV, {"grad_o"}); break;
        case 7: grad_o = a.input(gor.data(), gor.size(), "grad_o", 1); set("grad_o misaligned", INV, {"grad_o"}); break;
        case 8:
            if (w_dq) {
                gr.dq = const_cast<void*>(inp.q);
                set("dq over q", INV, {"grads->dq", "in->q"});
            }
            break;
        case 9:
            if (w_dk && w_dv) {
                gr.dv = gr.dk;
                // dv longer than dk's block (more v heads, larger V) also runs into
                // the heap block after it, which the library may name first.
                if (vr.size() <= kr.size()) set("dv over dk", INV, {"grads->dk", "grads->dv"});
                else set("dv over dk and beyond", INV, {"grads->dv"});
            }
            break;
        case 10:
            if (w_ds0 && with_gfs) {
                gr.d_initial_state = const_cast<float*>(gfs);
                set("d_initial_state over grad_final_state", INV, {"grads->d_initial_state", "grad_final_state"});
            }
            break;
        case 11:
            if (with_gfs) {
                gfs = reinterpret_cast<const float*>(a.input(u.d_state.data(), size_t(st) * 4, "grad_final_state", 2));
                set("grad_final_state misaligned", INV, {"grad_final_state"});
            }
            break;
        case 12: inp.k_dim = ENGRAM_SCAN_MAX_HEAD_DIM + 1; set("K above max", INV, {"in->k_dim"}); break;
        case 13: opts.chunk_size = -3; set("chunk", INV, {"opts->chunk_size"}); break;
        default: break;
    }
    g_trace += fault.empty() ? " | valid" : " | " + fault;
    if (std::getenv("ENGRAM_FUZZ_TRACE")) std::fprintf(stderr, "%s\n", g_trace.c_str());
    a.snapshot();
    check_status("engram_scan_linear_backward", engram_scan_linear_backward(ctx_arg, &inp, &opts, grad_o, gfs, gr_arg), x);
    if (x.status != ENGRAM_OK) {
        a.check_untouched("a failed call", false);
    } else {
        a.check_untouched("a valid call", true);
        if (specials >= 2 || gate == 0) {
            // Finite differences of the float64 recurrence; the bound from the
            // gradient of the same loss on absolute values (sum of |terms|).
            ScanRefProblem abs_ref = ref;
            for (auto* vec : {&abs_ref.q, &abs_ref.k, &abs_ref.v, &abs_ref.s0})
                for (double& e : *vec) e = std::fabs(e);
            abs_ref.scale = std::fabs(abs_ref.scale);
            Upstream abs_u = u;
            for (float& e : abs_u.d_o) e = std::fabs(e);
            for (float& e : abs_u.d_state) e = std::fabs(e);
            const double eps = 32.0 * double(2 * t + 2 * kd + 2 * vd + 8) * std::ldexp(1.0, -24);
            const double geps = gdt == ENGRAM_DTYPE_BF16 ? std::ldexp(1.0, -7) : gdt == ENGRAM_DTYPE_F16 ? std::ldexp(1.0, -10) : 0.0;
            auto check = [&](const char* what, const void* got, int32_t dt, std::vector<double> ScanRefProblem::*field) {
                if (!got) return;
                const std::vector<double> want_g = numeric_grad(ref, u, field), mag = numeric_grad(abs_ref, abs_u, field);
                for (size_t i = 0; i < want_g.size(); ++i) {
                    const float v1 = decode_at(dt, static_cast<const uint8_t*>(got), i);
                    const double bound = (eps + geps) * std::fabs(mag[i]) + 1e-6 * (1.0 + std::fabs(mag[i]));
                    FUZZ_CHECK(std::fabs(double(v1) - want_g[i]) <= bound, "%s[%zu] = %.9g, finite differences %.9g, bound %.3g",
                               what, i, double(v1), want_g[i], bound);
                }
            };
            check("dq", gr.dq, gdt, &ScanRefProblem::q);
            check("dk", gr.dk, gdt, &ScanRefProblem::k);
            check("dv", gr.dv, gdt, &ScanRefProblem::v);
            check("dg", gr.dg, ENGRAM_DTYPE_F32, &ScanRefProblem::g);
            check("d_initial_state", gr.d_initial_state, ENGRAM_DTYPE_F32, &ScanRefProblem::s0);
        }
    }
    engram_memory_stats m;
    engram_memory_stats_init(&m);
    FUZZ_CHECK(engram_context_get_memory_stats(ctx, &m) == ENGRAM_OK && m.current_bytes == 0,
               "scratch left after the call: %llu bytes", (unsigned long long)m.current_bytes);
}

}  // namespace fuzz
