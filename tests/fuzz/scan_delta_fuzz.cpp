// scan_delta_fuzz.cpp — the delta rule (ops 203-205) in the fuzz harness: one
// call of engram_scan_delta_forward, _decode or _backward built from the
// input (shapes, grouped heads, both rules, L2 normalisation, dtypes,
// options, optional states, variable-length batches with int32/int64
// offsets, sometimes -inf resets in the gate), then at most one fault. A
// faulty call must return the documented status naming the argument and
// write nothing; a valid call must not write its inputs and must match the
// float64 recurrence (forward, decode) or its gradient (backward, itself
// checked against finite differences in scan_delta_backward_test.cpp) within
// the error model of scan_delta_harness.hpp, with a wider factor. Values keep
// |k| <= 1 and beta in [0, 1] (k normalised when asked): each update is a
// contraction, the regime that error model covers.
#include <cmath>
#include <limits>

#include "ops/scan/reference/scan_delta_reference.hpp"
#include "scan_fuzz.hpp"

namespace fuzz {

namespace {

using namespace scan_detail;

struct DeltaCase {
    int kind = 0;  // 0 forward, 1 decode, 2 backward
    int32_t dtype = ENGRAM_DTYPE_F32, out_dtype = ENGRAM_SCAN_OUTPUT_DTYPE_INPUT, grad_dtype = ENGRAM_DTYPE_F32;
    bool gated = false, l2 = false, s0 = false, final_state = true, in_place = false, opts_null = false;
    bool varlen = false, cu64 = false, qk_heads_zero = false;
    int64_t b = 1, t = 1, h = 1, hk = 1, kd = 1, vd = 1;
    std::vector<int64_t> cu;
    int32_t chunk = 0;
    float scale = 0.0f;
    int64_t seqs() const { return varlen ? int64_t(cu.size()) - 1 : b; }
    int32_t od() const { return out_dtype == ENGRAM_SCAN_OUTPUT_DTYPE_INPUT ? dtype : out_dtype; }
    size_t es() const { return dtype == ENGRAM_DTYPE_F32 ? 4 : 2; }
    std::string describe() const {
        static const char* const kinds[] = {"forward", "decode", "backward"};
        char buf[320];
        std::snprintf(buf, sizeof buf,
                      "scan_delta_%s B%lld T%lld H%lld/%lld K%lld V%lld %s%s dtype %d out %d grads %d chunk %d "
                      "scale %g%s%s%s N%lld%s",
                      kinds[kind], (long long)b, (long long)t, (long long)h, (long long)hk, (long long)kd,
                      (long long)vd, gated ? "gated" : "plain", l2 ? " l2" : "", dtype, out_dtype, grad_dtype, chunk,
                      double(scale), s0 ? " S0" : "", in_place ? " in-place" : "", opts_null ? " opts=NULL" : "",
                      (long long)seqs(), varlen ? (cu64 ? " cu64" : " cu32") : "");
        return buf;
    }
};

double eps16(int32_t dt) {
    return dt == ENGRAM_DTYPE_BF16 ? std::ldexp(1.0, -7) : dt == ENGRAM_DTYPE_F16 ? std::ldexp(1.0, -10) : 0.0;
}
// Half of the smallest subnormal step of a 16-bit dtype (0 for f32).
double abs16(int32_t dt) {
    return dt == ENGRAM_DTYPE_F16 ? std::ldexp(1.0, -25) : dt == ENGRAM_DTYPE_BF16 ? std::ldexp(1.0, -134) : 0.0;
}

// |x^|_1 of the q/k row of token tau, value head h (normalised when asked).
double row_l1(const DeltaCase& c, const std::vector<double>& x, int64_t tau, int64_t h) {
    const int64_t hq = h / (c.h / c.hk);
    double sum = 0.0, sq = 0.0;
    for (int64_t j = 0; j < c.kd; ++j) {
        const double e = x[size_t((tau * c.hk + hq) * c.kd + j)];
        sum += std::fabs(e);
        sq += e * e;
    }
    return c.l2 ? sum / std::sqrt(sq + 1e-6) : sum;
}

void check_forward(const DeltaCase& c, const engram_test::DeltaRefProblem& ref, const uint8_t* o,
                   const float* state) {
    const engram_test::DeltaRefResult want = engram_test::ref_delta_recurrent(ref);
    const std::vector<int64_t> off = ref.sequences();
    const int64_t chunk = c.chunk ? c.chunk : ENGRAM_SCAN_DEFAULT_CHUNK;
    const double terms = double(2 * c.kd + 2 * std::min(chunk, c.t) + (c.t + chunk - 1) / chunk + 8);
    const double eps = 16.0 * terms * std::ldexp(1.0, -24);
    const double oe = eps16(c.od()), oa = abs16(c.od());
    for (size_t n = 0; n + 1 < off.size(); ++n)
        for (int64_t h = 0; h < c.h; ++h) {
            const double M = want.state_max[n * size_t(c.h) + size_t(h)];
            double kmax = 0.0;
            for (int64_t tau = off[n]; tau < off[n + 1]; ++tau) kmax = std::max(kmax, row_l1(c, ref.k, tau, h));
            const double err_s = eps * M * (1.0 + kmax);
            for (int64_t tau = off[n]; tau < off[n + 1]; ++tau) {
                const double qn = std::fabs(ref.scale) * row_l1(c, ref.q, tau, h);
                for (int64_t x = 0; x < c.vd; ++x) {
                    const size_t i = size_t((tau * c.h + h) * c.vd + x);
                    const float got = decode_at(c.od(), o, i);
                    const double w = want.o[i];
                    const double bound = qn * err_s * (1.0 + oe) + oe * std::fabs(w) + oa + 1e-30;
                    FUZZ_CHECK(std::fabs(double(got) - w) <= bound, "o[%zu] = %.9g, reference %.9g, bound %.3g", i,
                               double(got), w, bound);
                }
            }
            if (!state) continue;
            const size_t kv = size_t(c.kd * c.vd), base = (n * size_t(c.h) + size_t(h)) * kv;
            for (size_t i = base; i < base + kv; ++i)
                FUZZ_CHECK(std::fabs(double(state[i]) - want.state[i]) <= err_s + 1e-30,
                           "state[%zu] = %.9g, reference %.9g, bound %.3g", i, double(state[i]), want.state[i],
                           err_s);
        }
}

// Normwise per gradient tensor, as scan_delta_backward_test.cpp (wider
// factor); `row` (may be empty) adds a per-entry term for dq / dk under L2
// normalisation: the projection's rounding, relative to r |dx^| of the row.
void check_grad(const char* what, const uint8_t* got, int32_t dt, const std::vector<double>& want, double terms,
                const std::vector<double>& row = {}) {
    if (!got) return;
    double m = 0.0;
    for (double x : want) m = std::max(m, std::fabs(x));
    for (size_t i = 0; i < want.size(); ++i) {
        const double g = decode_at(dt, got, i);
        const double bound = 64.0 * terms * std::ldexp(1.0, -24) * (m + (row.empty() ? 0.0 : row[i])) +
                             eps16(dt) * std::fabs(want[i]) + abs16(dt) + 1e-12;
        FUZZ_CHECK(std::fabs(g - want[i]) <= bound, "%s[%zu] = %.9g, reference gradient %.9g, bound %.3g", what, i, g,
                   want[i], bound);
    }
}

}  // namespace

void fuzz_scan_delta(FuzzedDataProvider& in, engram_context* ctx) {
    FUZZ_CHECK(engram_context_set_threads(ctx, in.ConsumeIntegralInRange(1, 3)) == ENGRAM_OK, "set_threads");
    DeltaCase c;
    c.kind = in.ConsumeIntegralInRange(0, 2);
    c.dtype = pick<int32_t>(in, {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16});
    c.out_dtype = pick<int32_t>(in, {ENGRAM_SCAN_OUTPUT_DTYPE_INPUT, ENGRAM_DTYPE_F32, c.dtype});
    c.grad_dtype = pick<int32_t>(in, {ENGRAM_DTYPE_F32, c.dtype});
    c.gated = in.ConsumeBool();
    c.l2 = in.ConsumeBool();
    c.varlen = c.kind != 1 && in.ConsumeBool();
    c.cu64 = in.ConsumeBool();
    c.b = c.varlen ? 1 : in.ConsumeIntegralInRange<int64_t>(1, 3);
    c.t = c.kind == 1 ? 1 : in.ConsumeIntegralInRange<int64_t>(1, c.kind == 2 ? 16 : 40);
    c.hk = in.ConsumeIntegralInRange<int64_t>(1, 2);
    c.h = c.hk * in.ConsumeIntegralInRange<int64_t>(1, 2);
    c.qk_heads_zero = c.h == c.hk && in.ConsumeBool();
    c.kd = in.ConsumeIntegralInRange<int64_t>(1, c.kind == 2 ? 8 : 20);
    c.vd = in.ConsumeIntegralInRange<int64_t>(1, c.kind == 2 ? 8 : 20);
    c.chunk = pick<int32_t>(in, {0, 1, 2, 3, 7, 16, int32_t(in.ConsumeIntegralInRange(1, 64)), 256});
    c.scale = pick<float>(in, {0.0f, 1.0f, 0.25f, -0.5f});
    c.s0 = in.ConsumeBool();
    c.final_state = c.kind == 1 || in.ConsumeBool();
    c.in_place = c.kind == 1 && c.s0 && in.ConsumeBool();
    c.opts_null = c.chunk == 0 && c.scale == 0.0f && c.out_dtype == ENGRAM_SCAN_OUTPUT_DTYPE_INPUT && in.ConsumeBool();
    const double g_lo = pick<double>(in, {-0.3, -3.0, -30.0, 0.0});
    const bool reset = in.ConsumeIntegralInRange(0, 3) == 0;  // one g = -inf
    Rng rng(in.ConsumeIntegral<uint64_t>());
    if (c.varlen) {  // N sequences of random positive lengths summing to T
        c.cu.push_back(0);
        for (int64_t x = 1; x < c.t; ++x)
            if (rng.chance(0.3)) c.cu.push_back(x);
        c.cu.push_back(c.t);
    }
    g_trace = c.describe();

    const int64_t tokens = c.b * c.t, N = c.seqs();
    engram_test::DeltaRefProblem ref;
    ref.batch = c.b;
    ref.t = c.t;
    ref.heads = c.h;
    ref.qk_heads = c.hk;
    ref.k_dim = c.kd;
    ref.v_dim = c.vd;
    ref.gated = c.gated;
    ref.l2norm = c.l2;
    ref.scale = c.scale != 0.0f ? double(c.scale) : double(float(1.0 / std::sqrt(double(c.kd))));
    if (c.varlen) ref.offsets = c.cu;
    std::vector<float> q(size_t(tokens * c.hk * c.kd)), k(q.size()), v(size_t(tokens * c.h * c.vd));
    for (float& x : q) x = round16(c.dtype, float(rng.sym(2.0)));
    for (float& x : v) x = round16(c.dtype, float(rng.sym(2.0)));
    for (size_t r = 0; r < k.size(); r += size_t(c.kd)) {
        double sq = 0.0;
        std::vector<double> row(size_t(c.kd));
        for (double& x : row) {
            x = rng.sym(2.0);
            sq += x * x;
        }
        const double shrink = c.l2 || sq <= 1.0 ? 1.0 : 1.0 / std::sqrt(sq);  // |k| <= 1 unless normalised in the op
        for (int64_t j = 0; j < c.kd; ++j) k[r + size_t(j)] = round16(c.dtype, float(row[size_t(j)] * shrink));
    }
    std::vector<float> g, beta(size_t(tokens * c.h)), s0;
    for (float& x : beta) x = float(rng.uniform());
    if (c.gated) {
        g.resize(size_t(tokens * c.h));
        for (float& x : g) x = float(g_lo * rng.uniform());
        if (reset) g[size_t(rng.below(int64_t(g.size())))] = -std::numeric_limits<float>::infinity();
    }
    const size_t st_count = size_t(N * c.h * c.kd * c.vd), st_bytes = st_count * 4;
    if (c.s0) {
        s0.resize(st_count);
        for (float& x : s0) x = float(rng.sym(1.0));
    }
    ref.q.assign(q.begin(), q.end());
    ref.k.assign(k.begin(), k.end());
    ref.v.assign(v.begin(), v.end());
    ref.g.assign(g.begin(), g.end());
    ref.beta.assign(beta.begin(), beta.end());
    ref.s0.assign(s0.begin(), s0.end());

    Arena a;
    const std::vector<uint8_t> qr = encode(c.dtype, q), kr = encode(c.dtype, k), vr = encode(c.dtype, v);
    engram_scan_delta_inputs inp;
    engram_scan_delta_inputs_init(&inp);
    inp.dtype = c.dtype;
    inp.qk_l2norm = c.l2 ? 1 : 0;
    inp.batch = c.b;
    inp.t = c.t;
    inp.heads = c.h;
    inp.qk_heads = c.qk_heads_zero ? 0 : c.hk;
    inp.k_dim = c.kd;
    inp.v_dim = c.vd;
    inp.q = a.input(qr.data(), qr.size(), "in->q");
    inp.k = a.input(kr.data(), kr.size(), "in->k");
    inp.v = a.input(vr.data(), vr.size(), "in->v");
    if (c.gated) inp.g = reinterpret_cast<const float*>(a.input(g.data(), g.size() * 4, "in->g"));
    inp.beta = reinterpret_cast<const float*>(a.input(beta.data(), beta.size() * 4, "in->beta"));
    std::vector<int32_t> cu32(c.cu.begin(), c.cu.end());
    if (c.varlen) {
        inp.cu_seqlens = c.cu64 ? static_cast<const void*>(a.input(c.cu.data(), c.cu.size() * 8, "in->cu_seqlens"))
                                : static_cast<const void*>(a.input(cu32.data(), cu32.size() * 4, "in->cu_seqlens"));
        inp.cu_seqlens_dtype = c.cu64 ? ENGRAM_DTYPE_I64 : ENGRAM_DTYPE_I32;
        inp.num_seqs = N;
    }
    float* state_out = nullptr;
    if (c.in_place) {
        state_out = reinterpret_cast<float*>(a.output(st_bytes, "state_out"));
        std::memcpy(state_out, s0.data(), st_bytes);
        inp.initial_state = state_out;
    } else {
        if (c.s0) inp.initial_state = reinterpret_cast<const float*>(a.input(s0.data(), st_bytes, "in->initial_state"));
        if (c.final_state && c.kind != 2)
            state_out = reinterpret_cast<float*>(a.output(st_bytes, c.kind == 1 ? "state_out" : "final_state"));
    }
    const size_t o_count = size_t(tokens * c.h * c.vd);
    const size_t os = c.od() == ENGRAM_DTYPE_F32 ? 4 : 2;
    void* o = nullptr;
    // Backward: upstream gradients (grad_o in o's dtype) and a random subset of gradients.
    std::vector<float> d_o, d_st;
    const void* grad_o = nullptr;
    const float* grad_fs = nullptr;
    engram_scan_delta_grads grads;
    engram_scan_delta_grads_init(&grads);
    grads.dtype = c.grad_dtype;
    const size_t gs = c.grad_dtype == ENGRAM_DTYPE_F32 ? 4 : 2;
    if (c.kind == 2) {
        d_o.resize(o_count);
        for (float& x : d_o) x = round16(c.od(), float(rng.sym(1.0)));
        const std::vector<uint8_t> dor = encode(c.od(), d_o);
        grad_o = a.input(dor.data(), dor.size(), "grad_o");
        if (c.final_state) {
            d_st.resize(st_count);
            for (float& x : d_st) x = float(rng.sym(1.0));
            grad_fs = reinterpret_cast<const float*>(a.input(d_st.data(), st_bytes, "grad_final_state"));
        }
        const int mask = in.ConsumeIntegralInRange(1, 63);
        if (mask & 1) grads.dq = a.output(q.size() * gs, "grads->dq");
        if (mask & 2) grads.dk = a.output(k.size() * gs, "grads->dk");
        if (mask & 4) grads.dv = a.output(v.size() * gs, "grads->dv");
        if ((mask & 8) && c.gated) grads.dg = reinterpret_cast<float*>(a.output(g.size() * 4, "grads->dg"));
        if (mask & 16) grads.dbeta = reinterpret_cast<float*>(a.output(beta.size() * 4, "grads->dbeta"));
        if ((mask & 32) || !(grads.dq || grads.dk || grads.dv || grads.dg || grads.dbeta))
            grads.d_initial_state = reinterpret_cast<float*>(a.output(st_bytes, "grads->d_initial_state"));
    } else {
        o = a.output(o_count * os, "o");
    }
    engram_scan_options opts;
    engram_scan_options_init(&opts);
    opts.chunk_size = c.chunk;
    opts.scale = c.scale;
    opts.output_dtype = c.out_dtype;
    const engram_scan_delta_inputs* in_arg = &inp;
    const engram_scan_options* opts_arg = c.opts_null ? nullptr : &opts;
    const engram_scan_delta_grads* grads_arg = &grads;
    engram_context* ctx_arg = ctx;

    // At most one fault.
    Expect x;
    std::string fault;
    const auto INV = ENGRAM_ERR_INVALID_ARGUMENT;
    auto set = [&](const std::string& label, engram_status st, std::vector<std::string> needles) {
        fault = label;
        x = Expect{st, std::move(needles)};
    };
    const int64_t bad_dims[] = {0, -1, int64_t(1) << 31, std::numeric_limits<int64_t>::min()};
    std::vector<int64_t> bad_cu;
    std::vector<int32_t> bad_cu32;
    const int which = in.ConsumeIntegralInRange(0, 30);
    switch (which) {
        case 0: ctx_arg = nullptr; set("ctx NULL", INV, {"ctx"}); break;
        case 1: in_arg = nullptr; set("in NULL", INV, {"in"}); break;
        case 2: inp.struct_size = pick<uint32_t>(in, {0u, 16u, uint32_t(sizeof inp) + 8}); set("in->struct_size", INV, {"in->struct_size"}); break;
        case 3: opts.struct_size = pick<uint32_t>(in, {0u, 4u, uint32_t(sizeof opts) + 4}); opts_arg = &opts; set("opts->struct_size", INV, {"opts->struct_size"}); break;
        case 4: inp.dtype = pick<int32_t>(in, {3, 4, 5, -1, 99}); set("in->dtype", ENGRAM_ERR_UNSUPPORTED, {"in->dtype"}); break;
        case 5: inp.qk_l2norm = pick<int32_t>(in, {2, -1, 100}); set("in->qk_l2norm", INV, {"in->qk_l2norm"}); break;
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
        case 13: inp.beta = nullptr; set("beta NULL", INV, {"in->beta"}); break;
        case 14: {
            const int f = in.ConsumeIntegralInRange(0, 2);
            const char* names[] = {"in->q", "in->k", "in->v"};
            const void** ptrs[] = {&inp.q, &inp.k, &inp.v};
            const size_t off = c.es() / 2;
            *ptrs[f] = a.input(static_cast<const uint8_t*>(*ptrs[f]), f == 2 ? vr.size() : qr.size(), names[f], off);
            set(std::string(names[f]) + " misaligned", INV, {names[f]});
            break;
        }
        case 15: opts.chunk_size = pick<int32_t>(in, {-1, 257, INT32_MAX, INT32_MIN}); opts_arg = &opts; set("chunk", INV, {"opts->chunk_size"}); break;
        case 16: opts.scale = pick<float>(in, {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}); opts_arg = &opts; set("scale", INV, {"opts->scale"}); break;
        case 17: {
            const int32_t other = c.dtype == ENGRAM_DTYPE_BF16 ? ENGRAM_DTYPE_F16 : ENGRAM_DTYPE_BF16;
            opts.output_dtype = pick<int32_t>(in, {other, 3, -2, 50});
            opts_arg = &opts;
            set("output_dtype", ENGRAM_ERR_UNSUPPORTED, {"opts->output_dtype"});
            break;
        }
        case 18:
            if (c.kind != 2) {
                o = nullptr;
                set("o NULL", INV, {"o"});
            } else {
                grad_o = nullptr;
                set("grad_o NULL", INV, {"grad_o"});
            }
            break;
        case 19:  // offsets: not starting at 0 / not increasing / not ending at T
            if (c.varlen) {
                bad_cu = c.cu;
                const int kindc = in.ConsumeIntegralInRange(0, 2);
                if (kindc == 0) bad_cu[0] = pick<int64_t>(in, {1, -1});
                else if (kindc == 1) bad_cu[1] = bad_cu[0];
                else bad_cu.back() = c.t + pick<int64_t>(in, {1, -1});
                if (kindc == 2 && bad_cu.back() <= bad_cu[bad_cu.size() - 2]) bad_cu.back() = c.t + 1;
                bad_cu32.assign(bad_cu.begin(), bad_cu.end());
                inp.cu_seqlens = c.cu64 ? static_cast<const void*>(a.input(bad_cu.data(), bad_cu.size() * 8, "bad cu"))
                                        : static_cast<const void*>(a.input(bad_cu32.data(), bad_cu32.size() * 4, "bad cu"));
                set("bad cu_seqlens", INV, {kindc == 0 ? "in->cu_seqlens[0]" : "in->cu_seqlens"});
                if (kindc == 1) x.needles = {"strictly increasing"};
            }
            break;
        case 20:
            if (c.varlen) {
                inp.cu_seqlens_dtype = pick<int32_t>(in, {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, 99});
                set("cu_seqlens dtype", ENGRAM_ERR_UNSUPPORTED, {"in->cu_seqlens_dtype"});
            } else {
                inp.num_seqs = in.ConsumeIntegralInRange<int64_t>(1, 5);
                set("num_seqs without cu_seqlens", INV, {"in->num_seqs"});
            }
            break;
        case 21:
            if (c.varlen) {
                inp.batch = 2;
                set("cu_seqlens with batch 2", INV, {"in->batch"});
            }
            break;
        case 22:
            if (c.kind == 1) {
                inp.t = pick<int64_t>(in, {2, 3, 100});
                set("decode t != 1", INV, {"in->t"});
            } else if (c.kind == 2) {
                grads_arg = nullptr;
                set("grads NULL", INV, {"grads"});
            }
            break;
        case 23:
            if (c.kind == 1) {
                inp.cu_seqlens = inp.q;
                set("decode with cu_seqlens", INV, {"in->cu_seqlens"});
            } else if (c.kind == 2 && !c.gated) {
                grads.dg = reinterpret_cast<float*>(a.output(beta.size() * 4, "grads->dg"));
                set("dg without g", INV, {"grads->dg"});
            } else if (c.kind == 2) {
                grads.dq = grads.dk = grads.dv = nullptr;
                grads.dg = grads.dbeta = grads.d_initial_state = nullptr;
                set("no gradient", INV, {"grads"});
            }
            break;
        case 24:
            if (c.kind != 2) {
                // o over v: refused before anything is written (when o is
                // longer than v's block it also runs into another block,
                // which the library may name first).
                o = const_cast<void*>(inp.v);
                if (o_count * os <= vr.size()) set("o overlaps v", INV, {"o", "in->v"});
                else set("o overlaps v and beyond", INV, {"o"});
            } else {
                grads.dtype = c.dtype == ENGRAM_DTYPE_BF16 ? ENGRAM_DTYPE_F16 : ENGRAM_DTYPE_BF16;
                set("grads dtype", ENGRAM_ERR_UNSUPPORTED, {"grads->dtype"});
            }
            break;
        case 25:
            inp.beta = reinterpret_cast<const float*>(
                a.input(beta.data(), beta.size() * 4, "in->beta", 2));
            set("beta misaligned", INV, {"in->beta"});
            break;
        default: break;  // valid
    }
    g_trace += fault.empty() ? " | valid" : " | " + fault;
    if (std::getenv("ENGRAM_FUZZ_TRACE")) std::fprintf(stderr, "%s\n", g_trace.c_str());
    a.snapshot();
    const engram_status st =
        c.kind == 0   ? engram_scan_delta_forward(ctx_arg, in_arg, opts_arg, o, state_out)
        : c.kind == 1 ? engram_scan_delta_decode(ctx_arg, in_arg, opts_arg, o, state_out)
                      : engram_scan_delta_backward(ctx_arg, in_arg, opts_arg, grad_o, grad_fs, grads_arg);
    static const char* const fn[] = {"engram_scan_delta_forward", "engram_scan_delta_decode",
                                     "engram_scan_delta_backward"};
    check_status(fn[c.kind], st, x);
    if (x.status != ENGRAM_OK) {
        a.check_untouched("a failed call", false);
    } else {
        a.check_untouched("a valid call", true);
        if (c.kind != 2) {
            check_forward(c, ref, static_cast<const uint8_t*>(o), state_out);
        } else {
            const std::vector<double> dod(d_o.begin(), d_o.end()), dsd(d_st.begin(), d_st.end());
            const engram_test::DeltaRefGrads want = engram_test::ref_delta_backward(ref, dod, dsd);
            const double terms = double(2 * c.kd + 2 * c.vd + c.t + 8 + 2 * (c.h / c.hk));
            // Per row of q / k: r max|dx^| (r = 1 / |x|), for the normalisation.
            auto row_term = [&](const std::vector<double>& x, const std::vector<double>& dhat) {
                std::vector<double> t(x.size(), 0.0);
                if (!c.l2) return t;
                for (size_t r0 = 0; r0 < x.size(); r0 += size_t(c.kd)) {
                    double sq = 0.0, mx = 0.0;
                    for (int64_t j = 0; j < c.kd; ++j) {
                        sq += x[r0 + size_t(j)] * x[r0 + size_t(j)];
                        mx = std::max(mx, std::fabs(dhat[r0 + size_t(j)]));
                    }
                    for (int64_t j = 0; j < c.kd; ++j) t[r0 + size_t(j)] = mx / std::sqrt(sq + 1e-6);
                }
                return t;
            };
            check_grad("dq", static_cast<const uint8_t*>(grads.dq), c.grad_dtype, want.dq, terms,
                       row_term(ref.q, want.dq_hat));
            check_grad("dk", static_cast<const uint8_t*>(grads.dk), c.grad_dtype, want.dk, terms,
                       row_term(ref.k, want.dk_hat));
            check_grad("dv", static_cast<const uint8_t*>(grads.dv), c.grad_dtype, want.dv, terms);
            check_grad("dg", reinterpret_cast<const uint8_t*>(grads.dg), ENGRAM_DTYPE_F32, want.dg, terms);
            check_grad("dbeta", reinterpret_cast<const uint8_t*>(grads.dbeta), ENGRAM_DTYPE_F32, want.dbeta, terms);
            check_grad("d_initial_state", reinterpret_cast<const uint8_t*>(grads.d_initial_state), ENGRAM_DTYPE_F32,
                       want.ds0, terms);
        }
        engram_op_stats s;
        engram_op_stats_init(&s);
        FUZZ_CHECK(engram_context_get_op_stats(ctx, &s) == ENGRAM_OK, "op stats");
        const engram_op want_op = c.kind == 0   ? ENGRAM_OP_SCAN_DELTA_FORWARD
                                  : c.kind == 1 ? ENGRAM_OP_SCAN_DELTA_DECODE
                                                : ENGRAM_OP_SCAN_DELTA_BACKWARD;
        FUZZ_CHECK(s.op == want_op, "op stats op %d", s.op);
    }
    engram_memory_stats m;
    engram_memory_stats_init(&m);
    FUZZ_CHECK(engram_context_get_memory_stats(ctx, &m) == ENGRAM_OK && m.current_bytes == 0,
               "scratch left after the call: %llu bytes", (unsigned long long)m.current_bytes);
}

}  // namespace fuzz
