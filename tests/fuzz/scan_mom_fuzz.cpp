// scan_mom_fuzz.cpp — Mixture-of-Memories entry points under the fuzzer. Each
// input builds a small routing problem (B <= 3, T <= 24, M <= 9, any k <= M,
// capacity or not, f32/f16/bf16 logits, sometimes NaN or -inf logits), routes
// it through the library (checked exactly against ref_mom_route: selection,
// slots, offsets, gather index; weights within fp32 rounding, NaN exactly
// where the reference has NaN), then makes one more call — gather, combine,
// their backward, the route's backward or a decode step — valid and checked
// against the float64 reference, or with one fault checked for its status,
// message and untouched buffers.
#include "scan_mom_fuzz.hpp"

#include <cmath>
#include <limits>
#include <string>

#include "fuzz_support.hpp"
#include "ops/scan/reference/scan_mom_reference.hpp"
#include "scan_fuzz.hpp"

namespace fuzz {

namespace {

using namespace scan_detail;
constexpr auto INV = ENGRAM_ERR_INVALID_ARGUMENT;

// |got - ref| <= bound, NaN exactly where the reference is NaN.
void check_close(const char* what, float got, double ref, double bound, size_t i) {
    if (std::isnan(ref)) {
        FUZZ_CHECK(std::isnan(got), "%s[%zu] = %g, reference NaN", what, i, double(got));
        return;
    }
    FUZZ_CHECK(std::fabs(double(got) - ref) <= bound, "%s[%zu] = %.9g, reference %.9g, bound %.3g", what,
               i, double(got), ref, bound);
}

struct Routed {
    engram_test::MomRefRouting r;
    engram_test::MomRefRoute ref;
    int32_t dt = ENGRAM_DTYPE_F32;
    std::vector<uint8_t> logits_raw;
};

Routed make_routing(FuzzedDataProvider& in, Rng& rng) {
    Routed x;
    x.dt = pick<int32_t>(in, {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16});
    x.r.batch = in.ConsumeIntegralInRange<int64_t>(1, 3);
    x.r.t = in.ConsumeIntegralInRange<int64_t>(1, 24);
    x.r.memories = in.ConsumeIntegralInRange<int64_t>(1, 9);
    x.r.top_k = in.ConsumeIntegralInRange<int64_t>(1, x.r.memories);
    x.r.capacity_factor = double(pick<float>(in, {0.0f, 0.0f, 0.3f, 1.0f, 1.5f}));
    const int specials = in.ConsumeIntegralInRange(0, 5);  // 0: a NaN logit, 1: a row of -inf
    std::vector<float> z(size_t(x.r.tokens() * x.r.memories));
    for (float& e : z) e = round16(x.dt, float(rng.sym(3.0)));
    if (specials == 0) z[size_t(rng.below(int64_t(z.size())))] = std::numeric_limits<float>::quiet_NaN();
    if (specials == 1) {
        const int64_t n = rng.below(x.r.tokens());
        for (int64_t m = 0; m < x.r.memories; ++m) z[size_t(n * x.r.memories + m)] = -INFINITY;
    }
    x.r.logits.assign(z.begin(), z.end());
    x.logits_raw = encode(x.dt, z);
    x.ref = engram_test::ref_mom_route(x.r);
    return x;
}

engram_scan_mom_routing routing_of(const Routed& x, const void* logits) {
    engram_scan_mom_routing r;
    engram_scan_mom_routing_init(&r);
    r.dtype = x.dt;
    r.batch = x.r.batch;
    r.t = x.r.t;
    r.memories = x.r.memories;
    r.top_k = x.r.top_k;
    r.capacity_factor = float(x.r.capacity_factor);
    r.logits = logits;
    return r;
}

void check_route(const Routed& x, const int32_t* idx, const float* w, const int32_t* sl, const int32_t* off,
                 const int32_t* gi) {
    const size_t nk = size_t(x.r.tokens() * x.r.top_k);
    for (size_t i = 0; i < nk; ++i) {
        FUZZ_CHECK(idx[i] == x.ref.indices[i], "indices[%zu] = %d, reference %d", i, idx[i], x.ref.indices[i]);
        FUZZ_CHECK(sl[i] == x.ref.slots[i], "slots[%zu] = %d, reference %d", i, sl[i], x.ref.slots[i]);
        FUZZ_CHECK(gi[i] == x.ref.gather_index[i], "gather_index[%zu] = %d, reference %d", i, gi[i],
                   x.ref.gather_index[i]);
        check_close("weights", w[i], x.ref.weights[i], 0x1p-22 * std::fabs(x.ref.weights[i]), i);
    }
    for (size_t s = 0; s < x.ref.offsets.size(); ++s)
        FUZZ_CHECK(off[s] == x.ref.offsets[s], "offsets[%zu] = %d, reference %d", s, off[s], x.ref.offsets[s]);
}

// One of the row ops (gather, combine, their backward) after a valid route.
void fuzz_rows(FuzzedDataProvider& in, engram_context* ctx, const Routed& x, Rng& rng) {
    const int op = in.ConsumeIntegralInRange(0, 3);  // gather, gather_backward, combine, combine_backward
    const int32_t dt = pick<int32_t>(in, {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16});
    const int64_t n = x.r.tokens(), k = x.r.top_k, d = in.ConsumeIntegralInRange<int64_t>(1, 9);
    const bool shared = in.ConsumeBool();
    const size_t es = dt == ENGRAM_DTYPE_F32 ? 4 : 2;
    auto draw = [&](int64_t count) {
        std::vector<float> v(static_cast<size_t>(count));
        for (float& e : v) e = round16(dt, float(rng.sym(2.0)));
        return v;
    };
    const std::vector<float> tok = draw(n * d), tok2 = draw(n * d), packed = draw(n * k * d);
    std::vector<float> weights(x.ref.weights.begin(), x.ref.weights.end());
    for (float& w : weights)
        if (std::isnan(w)) w = 0.5f;  // keep the row checks finite
    Arena a;
    const std::vector<uint8_t> tok_raw = encode(dt, tok), tok2_raw = encode(dt, tok2), pk_raw = encode(dt, packed);
    const void* tok_p = a.input(tok_raw.data(), tok_raw.size(), "tokens");
    const void* tok2_p = a.input(tok2_raw.data(), tok2_raw.size(), "shared_out");
    const void* pk_p = a.input(pk_raw.data(), pk_raw.size(), "packed_in");
    const int32_t* gi = reinterpret_cast<const int32_t*>(a.input(x.ref.gather_index.data(), size_t(n * k) * 4, "gather_index"));
    const int32_t* sl = reinterpret_cast<const int32_t*>(a.input(x.ref.slots.data(), size_t(n * k) * 4, "slots"));
    const float* wt = reinterpret_cast<const float*>(a.input(weights.data(), size_t(n * k) * 4, "weights"));
    uint8_t* out_tok = a.output(size_t(n * d) * es, "out_tokens");
    uint8_t* out_pk = a.output(size_t(n * k * d) * es, "out_packed");
    float* out_w = reinterpret_cast<float*>(a.output(size_t(n * k) * 4, "out_weights"));
    engram_scan_mom_rows rows;
    engram_scan_mom_rows_init(&rows);
    rows.dtype = dt;
    rows.tokens = n;
    rows.top_k = k;
    rows.width = d;
    std::vector<int32_t> bad_idx;
    Expect ex;
    std::string fault;
    const int which = in.ConsumeIntegralInRange(0, 10);
    switch (which) {
        case 0: rows.struct_size = 4; fault = "rows->struct_size"; ex = {INV, {"rows->struct_size"}}; break;
        case 1: rows.dtype = pick<int32_t>(in, {3, 9, -1}); fault = "rows->dtype"; ex = {ENGRAM_ERR_UNSUPPORTED, {"rows->dtype"}}; break;
        case 2: rows.width = pick<int64_t>(in, {0, -3, int64_t(1) << 40}); fault = "rows->width"; ex = {INV, {"rows->width"}}; break;
        case 3: {
            bad_idx = op == 0 ? x.ref.gather_index : x.ref.slots;
            const int64_t hi = op == 0 ? n : n * k;
            bad_idx[size_t(rng.below(int64_t(bad_idx.size())))] = pick<int32_t>(in, {-2, int32_t(hi), INT32_MAX, INT32_MIN});
            const void* p = a.input(bad_idx.data(), bad_idx.size() * 4, "bad_index");
            if (op == 0) gi = static_cast<const int32_t*>(p);
            else sl = static_cast<const int32_t*>(p);
            fault = "index out of range";
            ex = {INV, {op == 0 ? "gather_index" : "slots"}};
            break;
        }
        default: break;
    }
    g_trace = "scan_mom rows op " + std::to_string(op) + " d" + std::to_string(d) + " " + (fault.empty() ? "valid" : fault);
    if (std::getenv("ENGRAM_FUZZ_TRACE")) std::fprintf(stderr, "%s\n", g_trace.c_str());
    a.snapshot();
    engram_status st = ENGRAM_OK;
    const void* sh = shared ? tok2_p : nullptr;
    switch (op) {
        case 0: st = engram_scan_mom_gather(ctx, &rows, tok_p, gi, out_pk); break;
        case 1: st = engram_scan_mom_gather_backward(ctx, &rows, pk_p, sl, out_tok); break;
        case 2: st = engram_scan_mom_combine(ctx, &rows, pk_p, sl, wt, sh, out_tok); break;
        default: st = engram_scan_mom_combine_backward(ctx, &rows, tok_p, pk_p, sl, wt, out_pk, out_w); break;
    }
    check_status("scan_mom row op", st, ex);
    if (st != ENGRAM_OK) {
        a.check_untouched("a failed call", false);
        return;
    }
    a.check_untouched("a valid call", true);
    const double u = 0x1p-24, oe = dt == ENGRAM_DTYPE_F32 ? 0.0 : dt == ENGRAM_DTYPE_BF16 ? 0x1p-8 : 0x1p-11;
    auto ref_row = [&](int64_t p, int64_t c) { return double(packed[size_t(p * d + c)]); };
    for (int64_t t = 0; t < n; ++t)
        for (int64_t c = 0; c < d; ++c) {
            double r = 0.0, mag = 0.0;
            if (op == 1 || op == 2) {
                for (int64_t j = 0; j < k; ++j) {
                    const int32_t s = x.ref.slots[size_t(t * k + j)];
                    if (s < 0) continue;
                    const double w = op == 2 ? double(weights[size_t(t * k + j)]) : 1.0;
                    r += w * ref_row(s, c);
                    mag += std::fabs(w * ref_row(s, c));
                }
                if (op == 2 && shared) {
                    r += tok2[size_t(t * d + c)];
                    mag += std::fabs(double(tok2[size_t(t * d + c)]));
                }
                const size_t i = size_t(t * d + c);
                check_close(op == 1 ? "d_x" : "y", decode_at(dt, out_tok, i), r,
                            double(k + 2) * u * mag + oe * std::fabs(r) * 1.01 + oe * double(k + 2) * u * mag, i);
            }
        }
    for (int64_t p = 0; p < n * k; ++p) {
        const int32_t src = x.ref.gather_index[size_t(p)];
        for (int64_t c = 0; c < d && op == 0; ++c) {
            const float want = src < 0 ? 0.0f : tok[size_t(src * d + c)];
            FUZZ_CHECK(decode_at(dt, out_pk, size_t(p * d + c)) == want, "packed[%lld, %lld]", (long long)p, (long long)c);
        }
    }
    if (op == 3)
        for (int64_t t = 0; t < n; ++t)
            for (int64_t j = 0; j < k; ++j) {
                const int32_t s = x.ref.slots[size_t(t * k + j)];
                double dot = 0.0, mag = 0.0;
                for (int64_t c = 0; c < d && s >= 0; ++c) {
                    const double g = tok[size_t(t * d + c)];
                    dot += g * ref_row(s, c);
                    mag += std::fabs(g * ref_row(s, c));
                    const double want = double(weights[size_t(t * k + j)]) * g;
                    check_close("d_mem_out", decode_at(dt, out_pk, size_t(s * d + c)), want,
                                (oe + u) * std::fabs(want) * 1.01, size_t(s * d + c));
                }
                check_close("d_weights", out_w[size_t(t * k + j)], dot, double(d + 2) * u * mag, size_t(t * k + j));
            }
}

}  // namespace

void fuzz_scan_mom(FuzzedDataProvider& in, engram_context* ctx) {
    FUZZ_CHECK(engram_context_set_threads(ctx, in.ConsumeIntegralInRange(1, 3)) == ENGRAM_OK, "set_threads");
    const int family = in.ConsumeIntegralInRange(0, 3);
    if (family == 2) {
        fuzz_scan_based(in, ctx);  // scan_based_fuzz.cpp
        return;
    }
    if (family == 3) {
        fuzz_scan_titans(in, ctx);  // scan_titans_fuzz.cpp
        return;
    }
    Rng rng(in.ConsumeIntegral<uint64_t>());
    const Routed x = make_routing(in, rng);
    const int64_t n = x.r.tokens(), k = x.r.top_k, m = x.r.memories;
    const size_t nk = size_t(n * k);
    Arena a;
    const void* logits = a.input(x.logits_raw.data(), x.logits_raw.size(), "routing->logits");
    engram_scan_mom_routing r = routing_of(x, logits);
    engram_scan_mom_route_out out;
    engram_scan_mom_route_out_init(&out);
    out.indices = reinterpret_cast<int32_t*>(a.output(nk * 4, "out->indices"));
    out.weights = reinterpret_cast<float*>(a.output(nk * 4, "out->weights"));
    out.slots = reinterpret_cast<int32_t*>(a.output(nk * 4, "out->slots"));
    out.offsets = reinterpret_cast<int32_t*>(a.output(size_t(x.r.batch * m + 1) * 4, "out->offsets"));
    out.gather_index = reinterpret_cast<int32_t*>(a.output(nk * 4, "out->gather_index"));
    const engram_scan_mom_routing* r_arg = &r;
    Expect ex;
    std::string fault;
    const int which = in.ConsumeIntegralInRange(0, 14);
    switch (which) {
        case 0: r_arg = nullptr; fault = "routing NULL"; ex = {INV, {"routing"}}; break;
        case 1: r.top_k = m + in.ConsumeIntegralInRange<int64_t>(1, 5); fault = "top_k > M"; ex = {INV, {"routing->top_k", "routing->memories"}}; break;
        case 2: r.memories = pick<int64_t>(in, {0, -1, ENGRAM_SCAN_MOM_MAX_MEMORIES + 1}); fault = "memories"; ex = {INV, {"routing->memories"}}; break;
        case 3: r.capacity_factor = pick<float>(in, {-0.5f, NAN, INFINITY}); fault = "capacity_factor"; ex = {INV, {"routing->capacity_factor"}}; break;
        case 4: r.dtype = pick<int32_t>(in, {3, 4, 77}); fault = "dtype"; ex = {ENGRAM_ERR_UNSUPPORTED, {"routing->dtype"}}; break;
        case 5: out.slots = out.indices; fault = "slots is indices"; ex = {INV, {"out->slots", "out->indices"}}; break;
        case 6: out.offsets = nullptr; fault = "offsets NULL"; ex = {INV, {"out->offsets"}}; break;
        case 7: r.logits = static_cast<const uint8_t*>(logits) + 1; fault = "logits misaligned"; ex = {INV, {"routing->logits"}}; break;
        default: break;
    }
    g_trace = "scan_mom route B" + std::to_string(x.r.batch) + " T" + std::to_string(x.r.t) + " M" + std::to_string(m) +
              " k" + std::to_string(k) + " cf" + std::to_string(x.r.capacity_factor) + " " + (fault.empty() ? "valid" : fault);
    if (std::getenv("ENGRAM_FUZZ_TRACE")) std::fprintf(stderr, "%s\n", g_trace.c_str());
    a.snapshot();
    const engram_status st = engram_scan_mom_route(ctx, r_arg, &out);
    check_status("engram_scan_mom_route", st, ex);
    if (st != ENGRAM_OK) {
        a.check_untouched("a failed call", false);
        return;
    }
    a.check_untouched("a valid call", true);
    check_route(x, out.indices, out.weights, out.slots, out.offsets, out.gather_index);

    const int next = in.ConsumeIntegralInRange(0, 2);
    if (next == 0) {
        fuzz_rows(in, ctx, x, rng);
    } else if (next == 1) {  // the route's backward, against the analytic float64 form
        std::vector<float> dw(nk);
        for (float& e : dw) e = float(rng.sym(2.0));
        Arena b;
        const float* dwp = reinterpret_cast<const float*>(b.input(dw.data(), nk * 4, "d_weights"));
        float* dz = reinterpret_cast<float*>(b.output(size_t(n * m) * 4, "d_logits"));
        std::vector<int32_t> idx(x.ref.indices);
        Expect e2;
        if (k >= 2 && in.ConsumeBool()) {
            idx[1] = idx[0];
            e2 = {INV, {"indices[1]"}};
        }
        const int32_t* ip = reinterpret_cast<const int32_t*>(b.input(idx.data(), nk * 4, "indices"));
        const int32_t* sp = reinterpret_cast<const int32_t*>(b.input(x.ref.slots.data(), nk * 4, "slots"));
        g_trace = "scan_mom route_backward" + std::string(e2.status ? " repeated index" : " valid");
        b.snapshot();
        const engram_status s2 = engram_scan_mom_route_backward(ctx, &r, ip, sp, dwp, dz);
        check_status("engram_scan_mom_route_backward", s2, e2);
        if (s2 != ENGRAM_OK) {
            b.check_untouched("a failed call", false);
            return;
        }
        for (int64_t t = 0; t < n; ++t) {
            // w~ = softmax over the chosen (before drops); dz_i = w~_i (d_i - sum w~ d).
            double mx = -INFINITY, sum = 0.0, dot = 0.0, mag = 0.0;
            bool nan = false;
            for (int64_t j = 0; j < k; ++j) {
                const double zj = x.r.logits[size_t(t * m + idx[size_t(t * k + j)])];
                nan |= std::isnan(zj);
                mx = std::max(mx, zj);
            }
            if (nan) mx = NAN;
            for (int64_t j = 0; j < k; ++j) sum += std::exp(x.r.logits[size_t(t * m + idx[size_t(t * k + j)])] - mx);
            std::vector<double> want(static_cast<size_t>(m), 0.0);
            for (int64_t j = 0; j < k; ++j) {
                const size_t e = size_t(t * k + j);
                const double w = std::exp(x.r.logits[size_t(t * m + idx[e])] - mx) / sum;
                const double d = x.ref.slots[e] >= 0 ? double(dw[e]) : 0.0;
                dot += w * d;
                mag += std::fabs(d);
            }
            for (int64_t j = 0; j < k; ++j) {
                const size_t e = size_t(t * k + j);
                const double w = std::exp(x.r.logits[size_t(t * m + idx[e])] - mx) / sum;
                want[size_t(idx[e])] = w * ((x.ref.slots[e] >= 0 ? double(dw[e]) : 0.0) - dot);
            }
            for (int64_t i = 0; i < m; ++i)
                check_close("d_logits", dz[t * m + i], want[size_t(i)], 0x1p-22 * mag + 1e-30, size_t(t * m + i));
        }
    } else {  // a decode step on the same logits' first token per sequence: routing and untouched memories
        const int64_t B = x.r.batch, H = in.ConsumeIntegralInRange<int64_t>(1, 2), K = in.ConsumeIntegralInRange<int64_t>(1, 5),
                      V = in.ConsumeIntegralInRange<int64_t>(1, 5);
        const int shared = in.ConsumeBool() ? 1 : 0;
        const int64_t S = m + shared;
        std::vector<float> lg(size_t(B * m));
        for (int64_t b = 0; b < B; ++b)
            for (int64_t i = 0; i < m; ++i) lg[size_t(b * m + i)] = float(x.r.logits[size_t(b * x.r.t * m + i)]);
        auto draw = [&](int64_t count) {
            std::vector<float> v(static_cast<size_t>(count));
            for (float& e : v) e = round16(x.dt, float(rng.sym(1.0)));
            return v;
        };
        const std::vector<uint8_t> lr = encode(x.dt, lg), qr = encode(x.dt, draw(B * H * K)),
                                   kr = encode(x.dt, draw(B * S * H * K)), vr = encode(x.dt, draw(B * S * H * V));
        std::vector<float> st0(size_t(B * S * H * K * V));
        for (float& e : st0) e = float(rng.sym(1.0));
        Arena b;
        engram_scan_mom_decode_inputs di;
        engram_scan_mom_decode_inputs_init(&di);
        di.dtype = x.dt; di.shared_memory = shared; di.batch = B; di.memories = m; di.top_k = k;
        di.heads = H; di.k_dim = K; di.v_dim = V;
        di.logits = b.input(lr.data(), lr.size(), "in->logits");
        di.q = b.input(qr.data(), qr.size(), "in->q");
        di.k = b.input(kr.data(), kr.size(), "in->k");
        di.v = b.input(vr.data(), vr.size(), "in->v");
        float* states = reinterpret_cast<float*>(b.output(st0.size() * 4, "states"));
        std::memcpy(states, st0.data(), st0.size() * 4);
        void* o = b.output(size_t(B * H * V) * (x.dt == ENGRAM_DTYPE_F32 ? 4 : 2), "o");
        int32_t* idx = reinterpret_cast<int32_t*>(b.output(size_t(B * k) * 4, "indices"));
        Expect e2;
        if (in.ConsumeBool()) {
            di.top_k = m + 1;
            e2 = {INV, {"in->top_k"}};
        }
        g_trace = "scan_mom decode" + std::string(e2.status ? " top_k > M" : " valid");
        b.snapshot();
        const engram_status s2 = engram_scan_mom_decode(ctx, &di, nullptr, states, o, idx, nullptr);
        check_status("engram_scan_mom_decode", s2, e2);
        if (s2 != ENGRAM_OK) {
            b.check_untouched("a failed call", false);
            return;
        }
        engram_test::MomRefRouting rr;
        rr.batch = B; rr.t = 1; rr.memories = m; rr.top_k = k;
        rr.logits.assign(lg.begin(), lg.end());
        const engram_test::MomRefRoute want = engram_test::ref_mom_route(rr);
        for (int64_t bb = 0; bb < B; ++bb)
            for (int64_t mem = 0; mem < m; ++mem) {
                bool chosen = false;
                for (int64_t j = 0; j < k; ++j) {
                    FUZZ_CHECK(idx[bb * k + j] == want.indices[size_t(bb * k + j)], "decode indices");
                    chosen |= idx[bb * k + j] == mem;
                }
                const size_t base = size_t((bb * S + mem) * H * K * V);
                if (!chosen)
                    FUZZ_CHECK(std::memcmp(states + base, st0.data() + base, size_t(H * K * V) * 4) == 0,
                               "decode changed memory %lld of sequence %lld, not chosen", (long long)mem, (long long)bb);
            }
    }
}

}  // namespace fuzz
