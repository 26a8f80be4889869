// scan_fuzz.cpp — the scan family's part of the fuzz harness: one call of
// engram_scan_linear_forward or engram_scan_linear_decode built from the
// input (shapes, grouped heads, gate, dtypes, options, optional states,
// sometimes NaN or -inf in the gate), then at most one fault. A faulty call
// must return the documented status naming the argument and write nothing; a
// valid call must not write its inputs and must match the float64 recurrence
// (ops/scan/reference) within the error model of scan_harness.hpp (the same
// sum-of-|terms| bound, with a wider factor), NaN exactly where it has NaN.
#include "scan_fuzz.hpp"

#include <cmath>
#include <limits>

#include "ops/scan/reference/scan_reference.hpp"

namespace fuzz {

namespace {

using namespace scan_detail;

struct ScanCase {
    bool decode = false;
    int32_t dtype = ENGRAM_DTYPE_F32, out_dtype = ENGRAM_SCAN_OUTPUT_DTYPE_INPUT, gate = 0;
    int64_t b = 1, t = 1, h = 1, hk = 1, kd = 1, vd = 1;
    bool qk_heads_zero = false, s0 = false, final_state = true, in_place = false, opts_null = false;
    int32_t chunk = 0;
    float scale = 0.0f;
    int64_t gw() const { return gate == 0 ? 0 : gate == 1 ? 1 : kd; }
    size_t es() const { return dtype == ENGRAM_DTYPE_F32 ? 4 : 2; }
    size_t os() const {
        return (out_dtype == ENGRAM_SCAN_OUTPUT_DTYPE_INPUT ? dtype : out_dtype) == ENGRAM_DTYPE_F32 ? 4 : 2;
    }
    int32_t od() const { return out_dtype == ENGRAM_SCAN_OUTPUT_DTYPE_INPUT ? dtype : out_dtype; }
    std::string describe() const {
        char buf[256];
        std::snprintf(buf, sizeof buf,
                      "scan_%s B%lld T%lld H%lld/%lld K%lld V%lld gate %d dtype %d out %d chunk %d scale %g%s%s%s",
                      decode ? "decode" : "forward", (long long)b, (long long)t, (long long)h, (long long)hk,
                      (long long)kd, (long long)vd, gate, dtype, out_dtype, chunk, double(scale),
                      s0 ? " S0" : "", in_place ? " in-place" : "", opts_null ? " opts=NULL" : "");
        return buf;
    }
};

void check_results(const ScanCase& c, const engram_test::ScanRefProblem& ref, const uint8_t* o,
                   const float* state) {
    const engram_test::ScanRefResult want = engram_test::ref_scan_recurrent(ref);
    engram_test::ScanRefProblem a = ref;
    for (auto* v : {&a.q, &a.k, &a.v, &a.s0})
        for (double& x : *v) x = std::fabs(x);
    a.scale = std::fabs(a.scale);
    const engram_test::ScanRefResult mag = engram_test::ref_scan_recurrent(a);
    const int64_t chunk = c.chunk ? c.chunk : ENGRAM_SCAN_DEFAULT_CHUNK;
    const double terms = double(2 * c.kd + 2 * std::min(chunk, c.t) + (c.t + chunk - 1) / chunk + 8);
    const double eps = 16.0 * terms * std::ldexp(1.0, -24);
    const double out_eps = c.od() == ENGRAM_DTYPE_BF16 ? std::ldexp(1.0, -7) : c.od() == ENGRAM_DTYPE_F16 ? std::ldexp(1.0, -10) : 0.0;
    for (size_t i = 0; i < want.o.size(); ++i) {
        const float got = decode_at(c.od(), o, i);
        const double w = want.o[i];
        if (std::isnan(w) || std::isnan(mag.o[i])) {
            FUZZ_CHECK(std::isnan(got), "o[%zu] = %g, the recurrence gives NaN", i, double(got));
            continue;
        }
        // 16-bit outputs also round subnormals to a fixed step: half of f16's
        // smallest subnormal (2^-25), or of bf16's (2^-134).
        const double out_abs = c.od() == ENGRAM_DTYPE_F16 ? std::ldexp(1.0, -25) : c.od() == ENGRAM_DTYPE_BF16 ? std::ldexp(1.0, -134) : 0.0;
        const double bound = (eps + out_eps) * mag.o[i] * (1.0 + eps) + out_abs + 1e-30;
        FUZZ_CHECK(std::fabs(double(got) - w) <= bound, "o[%zu] = %.9g, reference %.9g, bound %.3g", i, double(got), w,
                   bound);
    }
    if (!state) return;
    for (size_t i = 0; i < want.state.size(); ++i) {
        const double w = want.state[i];
        if (std::isnan(w) || std::isnan(mag.state[i])) {
            FUZZ_CHECK(std::isnan(state[i]), "state[%zu] = %g, the recurrence gives NaN", i, double(state[i]));
            continue;
        }
        const double bound = eps * mag.state[i] + 1e-30;
        FUZZ_CHECK(std::fabs(double(state[i]) - w) <= bound, "state[%zu] = %.9g, reference %.9g, bound %.3g", i,
                   double(state[i]), w, bound);
    }
}

}  // namespace

void fuzz_scan(FuzzedDataProvider& in, engram_context* ctx) {
    FUZZ_CHECK(engram_context_set_threads(ctx, in.ConsumeIntegralInRange(1, 3)) == ENGRAM_OK, "set_threads");
    const int op = in.ConsumeIntegralInRange(0, 3);
    if (op == 3) {  // the *_init functions: NULL, and their defaults
        g_trace = "scan *_init";
        check_status("engram_scan_options_init(NULL)", engram_scan_options_init(nullptr), Expect{ENGRAM_ERR_INVALID_ARGUMENT, {"opts"}});
        check_status("engram_scan_inputs_init(NULL)", engram_scan_inputs_init(nullptr), Expect{ENGRAM_ERR_INVALID_ARGUMENT, {"inputs"}});
        check_status("engram_scan_grads_init(NULL)", engram_scan_grads_init(nullptr), Expect{ENGRAM_ERR_INVALID_ARGUMENT, {"grads"}});
        engram_scan_options o;
        engram_scan_inputs i;
        engram_scan_grads g;
        std::memset(&o, 0xAB, sizeof o);
        std::memset(&i, 0xAB, sizeof i);
        std::memset(&g, 0xAB, sizeof g);
        FUZZ_CHECK(engram_scan_options_init(&o) == ENGRAM_OK && engram_scan_inputs_init(&i) == ENGRAM_OK &&
                       engram_scan_grads_init(&g) == ENGRAM_OK,
                   "scan *_init failed");
        FUZZ_CHECK(o.struct_size == sizeof o && o.chunk_size == 0 && o.scale == 0.0f &&
                       o.output_dtype == ENGRAM_SCAN_OUTPUT_DTYPE_INPUT,
                   "engram_scan_options_init defaults");
        FUZZ_CHECK(i.struct_size == sizeof i && i.dtype == ENGRAM_DTYPE_F32 && i.gate == ENGRAM_SCAN_GATE_NONE &&
                       i.batch == 0 && i.qk_heads == 0 && !i.q && !i.g && !i.initial_state,
                   "engram_scan_inputs_init defaults");
        FUZZ_CHECK(g.struct_size == sizeof g && g.dtype == ENGRAM_DTYPE_F32 && !g.dq && !g.dk && !g.dv && !g.dg &&
                       !g.d_initial_state,
                   "engram_scan_grads_init defaults");
        return;
    }
    if (op == 2) {
        fuzz_scan_backward(in, ctx);  // scan_fuzz_backward.cpp
        return;
    }
    ScanCase c;
    c.decode = op == 1;
    c.dtype = pick<int32_t>(in, {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16});
    c.out_dtype = pick<int32_t>(in, {ENGRAM_SCAN_OUTPUT_DTYPE_INPUT, ENGRAM_DTYPE_F32, c.dtype});
    c.gate = in.ConsumeIntegralInRange(0, 2);
    c.b = in.ConsumeIntegralInRange<int64_t>(1, 3);
    c.t = c.decode ? 1 : in.ConsumeIntegralInRange<int64_t>(1, 48);
    c.hk = in.ConsumeIntegralInRange<int64_t>(1, 3);
    c.h = c.hk * in.ConsumeIntegralInRange<int64_t>(1, 2);
    c.qk_heads_zero = c.h == c.hk && in.ConsumeBool();
    c.kd = in.ConsumeIntegralInRange<int64_t>(1, 20);
    c.vd = in.ConsumeIntegralInRange<int64_t>(1, 20);
    c.chunk = pick<int32_t>(in, {0, 1, 2, 3, 7, 16, int32_t(in.ConsumeIntegralInRange(1, 64)), 256});
    c.scale = pick<float>(in, {0.0f, 1.0f, 0.25f, -0.5f});
    c.s0 = in.ConsumeBool();
    c.final_state = c.decode || in.ConsumeBool();
    c.in_place = c.decode && c.s0 && in.ConsumeBool();
    c.opts_null = c.chunk == 0 && c.scale == 0.0f && c.out_dtype == ENGRAM_SCAN_OUTPUT_DTYPE_INPUT && in.ConsumeBool();
    const double g_lo = pick<double>(in, {-0.3, -3.0, -30.0, 0.0});
    const int specials = in.ConsumeIntegralInRange(0, 5);  // 0: NaN in g, 1: -inf in g, else none
    Rng rng(in.ConsumeIntegral<uint64_t>());
    g_trace = c.describe();

    // Values as the library reads them, and the reference problem.
    engram_test::ScanRefProblem ref;
    ref.batch = c.b;
    ref.t = c.t;
    ref.heads = c.h;
    ref.qk_heads = c.hk;
    ref.k_dim = c.kd;
    ref.v_dim = c.vd;
    ref.gate = c.gate;
    ref.scale = c.scale != 0.0f ? double(c.scale) : double(float(1.0 / std::sqrt(double(c.kd))));
    auto fill = [&](std::vector<float>& v, int64_t n) {
        v.resize(size_t(n));
        for (float& x : v) x = round16(c.dtype, float(rng.sym(2.0)));
    };
    std::vector<float> q, k, v, g, s0;
    fill(q, c.b * c.t * c.hk * c.kd);
    fill(k, c.b * c.t * c.hk * c.kd);
    fill(v, c.b * c.t * c.h * c.vd);
    g.resize(size_t(c.b * c.t * c.h * c.gw()));
    for (float& x : g) x = float(g_lo * rng.uniform());
    if (!g.empty() && specials < 2)
        g[size_t(rng.below(int64_t(g.size())))] =
            specials == 0 ? std::numeric_limits<float>::quiet_NaN() : -std::numeric_limits<float>::infinity();
    if (c.s0) {
        s0.resize(size_t(c.b * c.h * c.kd * c.vd));
        for (float& x : s0) x = float(rng.sym(1.0));
    }
    ref.q.assign(q.begin(), q.end());
    ref.k.assign(k.begin(), k.end());
    ref.v.assign(v.begin(), v.end());
    ref.g.assign(g.begin(), g.end());
    ref.s0.assign(s0.begin(), s0.end());

    Arena a;
    const std::vector<uint8_t> qr = encode(c.dtype, q), kr = encode(c.dtype, k), vr = encode(c.dtype, v);
    engram_scan_inputs inp;
    engram_scan_inputs_init(&inp);
    inp.dtype = c.dtype;
    inp.gate = c.gate;
    inp.batch = c.b;
    inp.t = c.t;
    inp.heads = c.h;
    inp.qk_heads = c.qk_heads_zero ? 0 : c.hk;
    inp.k_dim = c.kd;
    inp.v_dim = c.vd;
    inp.q = a.input(qr.data(), qr.size(), "in->q");
    inp.k = a.input(kr.data(), kr.size(), "in->k");
    inp.v = a.input(vr.data(), vr.size(), "in->v");
    if (!g.empty()) inp.g = reinterpret_cast<const float*>(a.input(g.data(), g.size() * 4, "in->g"));
    const size_t st_bytes = size_t(c.b * c.h * c.kd * c.vd) * 4;
    float* state_out = nullptr;
    if (c.in_place) {
        // The state buffer is both input and output: not an "input" block.
        state_out = reinterpret_cast<float*>(a.output(st_bytes, "state_out"));
        std::memcpy(state_out, s0.data(), st_bytes);
        inp.initial_state = state_out;
    } else {
        if (c.s0) inp.initial_state = reinterpret_cast<const float*>(a.input(s0.data(), st_bytes, "in->initial_state"));
        if (c.final_state) state_out = reinterpret_cast<float*>(a.output(st_bytes, c.decode ? "state_out" : "final_state"));
    }
    const size_t o_bytes = size_t(c.b * c.t * c.h * c.vd) * c.os();
    void* o = a.output(o_bytes, "o");
    engram_scan_options opts;
    engram_scan_options_init(&opts);
    opts.chunk_size = c.chunk;
    opts.scale = c.scale;
    opts.output_dtype = c.out_dtype;
    const engram_scan_inputs* in_arg = &inp;
    const engram_scan_options* opts_arg = c.opts_null ? nullptr : &opts;
    engram_context* ctx_arg = ctx;
    const char* out_name = c.decode ? "state_out" : "final_state";

    // At most one fault.
    Expect x;
    std::string fault;
    const auto INV = ENGRAM_ERR_INVALID_ARGUMENT;
    auto set = [&](const std::string& label, engram_status st, std::vector<std::string> needles) {
        fault = label;
        x = Expect{st, std::move(needles)};
    };
    const int64_t bad_dims[] = {0, -1, int64_t(1) << 31, std::numeric_limits<int64_t>::min()};
    const int which = in.ConsumeIntegralInRange(0, 24);
    switch (which) {
        case 0: ctx_arg = nullptr; set("ctx NULL", INV, {"ctx"}); break;
        case 1: in_arg = nullptr; set("in NULL", INV, {"in"}); break;
        case 2: inp.struct_size = pick<uint32_t>(in, {0u, 16u, uint32_t(sizeof inp) + 8}); set("in->struct_size", INV, {"in->struct_size"}); break;
        case 3: opts.struct_size = pick<uint32_t>(in, {0u, 4u, uint32_t(sizeof opts) + 4}); opts_arg = &opts; set("opts->struct_size", INV, {"opts->struct_size"}); break;
        case 4: inp.dtype = pick<int32_t>(in, {3, 4, 5, -1, 99}); set("in->dtype", ENGRAM_ERR_UNSUPPORTED, {"in->dtype"}); break;
        case 5: inp.gate = pick<int32_t>(in, {3, -1, 1000}); set("in->gate", INV, {"in->gate"}); break;
        case 6: {
            static const char* const names[] = {"in->batch", "in->t", "in->heads", "in->k_dim", "in->v_dim"};
            int64_t* fields[] = {&inp.batch, &inp.t, &inp.heads, &inp.k_dim, &inp.v_dim};
            const int f = in.ConsumeIntegralInRange(0, 4);
            *fields[f] = bad_dims[in.ConsumeIntegralInRange(0, 3)];
            set(std::string(names[f]) + " bad", INV, {names[f]});
            break;
        }
        case 7: inp.k_dim = ENGRAM_SCAN_MAX_HEAD_DIM + in.ConsumeIntegralInRange(1, 100); set("K above max", INV, {"in->k_dim"}); break;
        case 8: inp.v_dim = ENGRAM_SCAN_MAX_HEAD_DIM + in.ConsumeIntegralInRange(1, 100); set("V above max", INV, {"in->v_dim"}); break;
        case 9: inp.qk_heads = c.h + 1; set("qk_heads not dividing", INV, {"in->qk_heads"}); break;
        case 10: inp.q = nullptr; set("q NULL", INV, {"in->q"}); break;
        case 11: inp.k = nullptr; set("k NULL", INV, {"in->k"}); break;
        case 12: inp.v = nullptr; set("v NULL", INV, {"in->v"}); break;
        case 13:
            if (c.gate != 0) {
                inp.g = nullptr;
                set("g NULL", INV, {"in->g"});
            } else {
                inp.g = reinterpret_cast<const float*>(inp.q);
                set("g without gate", INV, {"in->g"});
            }
            break;
        case 14: {
            // Misaligned by half an element.
            const int f = in.ConsumeIntegralInRange(0, 2);
            const char* names[] = {"in->q", "in->k", "in->v"};
            const void** ptrs[] = {&inp.q, &inp.k, &inp.v};
            const size_t off = c.es() / 2;
            const uint8_t* p = a.input(static_cast<const uint8_t*>(*ptrs[f]), f == 2 ? vr.size() : qr.size(), names[f], off);
            *ptrs[f] = p;
            set(std::string(names[f]) + " misaligned", INV, {names[f]});
            break;
        }
        case 15: opts.chunk_size = pick<int32_t>(in, {-1, 257, INT32_MAX, INT32_MIN}); opts_arg = &opts; set("chunk", INV, {"opts->chunk_size"}); break;
        case 16: opts.scale = pick<float>(in, {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()}); opts_arg = &opts; set("scale", INV, {"opts->scale"}); break;
        case 17: {
            const int32_t other = c.dtype == ENGRAM_DTYPE_BF16 ? ENGRAM_DTYPE_F16 : ENGRAM_DTYPE_BF16;
            opts.output_dtype = pick<int32_t>(in, {other, 3, -2, 50});
            opts_arg = &opts;
            set("output_dtype", ENGRAM_ERR_UNSUPPORTED, {"opts->output_dtype"});
            break;
        }
        case 18: o = nullptr; set("o NULL", INV, {"o"}); break;
        case 19: o = static_cast<uint8_t*>(o) + 1; set("o misaligned", INV, {"o"}); break;
        case 20:
            // o over an input: the call must refuse before writing anything. When o
            // (f32 output) is longer than v's block, its range also runs into
            // whatever heap block follows, which the library may name first.
            o = const_cast<void*>(inp.v);
            if (o_bytes <= vr.size()) set("o overlaps v", INV, {"o", "in->v"});
            else set("o overlaps v and beyond", INV, {"o"});
            break;
        case 21:
            if (c.decode && !c.in_place) {
                state_out = nullptr;
                set("state_out NULL", INV, {"state_out"});
            } else if (!c.decode && c.final_state && c.s0) {
                inp.initial_state = state_out;
                set("final_state is initial_state", INV, {"final_state", "in->initial_state"});
            }
            break;
        case 22:
            if (c.decode) {
                inp.t = pick<int64_t>(in, {2, 3, 100});
                set("decode t != 1", INV, {"in->t"});
            }
            break;
        default: break;  // valid
    }
    g_trace += fault.empty() ? " | valid" : " | " + fault;
    if (std::getenv("ENGRAM_FUZZ_TRACE")) std::fprintf(stderr, "%s\n", g_trace.c_str());
    a.snapshot();
    const engram_status st = c.decode ? engram_scan_linear_decode(ctx_arg, in_arg, opts_arg, o, state_out)
                                      : engram_scan_linear_forward(ctx_arg, in_arg, opts_arg, o, state_out);
    check_status(c.decode ? "engram_scan_linear_decode" : "engram_scan_linear_forward", st, x);
    if (x.status != ENGRAM_OK) {
        a.check_untouched("a failed call", false);
    } else {
        a.check_untouched("a valid call", true);
        check_results(c, ref, static_cast<const uint8_t*>(o), state_out);
        engram_op_stats s;
        engram_op_stats_init(&s);
        FUZZ_CHECK(engram_context_get_op_stats(ctx, &s) == ENGRAM_OK, "op stats");
        FUZZ_CHECK(s.op == (c.decode ? ENGRAM_OP_SCAN_LINEAR_DECODE : ENGRAM_OP_SCAN_LINEAR_FORWARD), "op stats op %d", s.op);
        uint64_t chunks = 0;
        FUZZ_CHECK(engram_op_stats_counter(&s, "chunks", &chunks) == ENGRAM_OK && chunks > 0, "op stats chunks");
    }
    engram_memory_stats m;
    engram_memory_stats_init(&m);
    FUZZ_CHECK(engram_context_get_memory_stats(ctx, &m) == ENGRAM_OK && m.current_bytes == 0,
               "scratch left after the call: %llu bytes", (unsigned long long)m.current_bytes);
    (void)out_name;
}

}  // namespace fuzz
