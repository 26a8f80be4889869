// scan_backward_test.cpp — the backward of the linear-attention forward
// against central finite differences of the float64 recurrence (the loss is
// sum(do . o) + sum(dS_T . S_T)), on awkward shapes, every gate, grouped
// heads, 16-bit inputs and gradients; long sequences with strong decay stay
// finite; determinism; bad arguments.
#include <cmath>
#include <cstring>
#include <limits>

#include "scan_harness.hpp"

namespace engram_test {
namespace {

struct Upstream {
    std::vector<float> d_o, d_state;  // d_state empty: NULL
};

struct LibGrads {
    std::vector<float> dq, dk, dv, dg, ds0;
};

LibGrads run_backward(Context& ctx, const ScanData& d, const Upstream& u, engram_dtype grad_dtype) {
    const ScanSpec& s = d.spec;
    Buffer q = ctx.upload(d.q_raw), k = ctx.upload(d.k_raw), v = ctx.upload(d.v_raw);
    Buffer g = d.g.empty() ? Buffer() : ctx.upload(d.g);
    Buffer s0 = d.s0.empty() ? Buffer() : ctx.upload(d.s0);
    const engram_scan_inputs in = scan_inputs(d, q, k, v, g, s0);
    const engram_scan_options opts = scan_options(s);
    Buffer go = ctx.upload(encode_floats(out_dtype_of(s), u.d_o));
    Buffer gs = u.d_state.empty() ? Buffer() : ctx.upload(u.d_state);
    const size_t gsz = engram_dtype_size(grad_dtype);
    const size_t nqk = size_t(s.batch * s.t * s.hk() * s.k_dim), nv = size_t(s.batch * s.t * s.heads * s.v_dim);
    Buffer dq = ctx.output(nqk * gsz), dk = ctx.output(nqk * gsz), dv = ctx.output(nv * gsz);
    Buffer dg = d.g.empty() ? Buffer() : ctx.output(d.g.size() * 4);
    Buffer ds0 = ctx.output(size_t(s.batch * s.heads * s.k_dim * s.v_dim) * 4);
    engram_scan_grads gr;
    engram_scan_grads_init(&gr);
    gr.dtype = grad_dtype;
    gr.dq = dq.get();
    gr.dk = dk.get();
    gr.dv = dv.get();
    gr.dg = dg.as<float>();
    gr.d_initial_state = ds0.as<float>();
    EXPECT_OK(engram_scan_linear_backward(ctx.get(), &in, &opts, go.get(), gs.as<float>(), &gr));
    LibGrads r;
    r.dq = dq.floats(grad_dtype);
    r.dk = dk.floats(grad_dtype);
    r.dv = dv.floats(grad_dtype);
    if (dg) r.dg = dg.floats();
    r.ds0 = ds0.floats();
    return r;
}

Upstream make_upstream(const ScanSpec& s, bool with_state, uint64_t seed) {
    Rng rng(seed);
    Upstream u;
    u.d_o.resize(size_t(s.batch * s.t * s.heads * s.v_dim));
    for (float& x : u.d_o) x = round_to(out_dtype_of(s), float(rng.normal()));
    if (with_state) {
        u.d_state.resize(size_t(s.batch * s.heads * s.k_dim * s.v_dim));
        for (float& x : u.d_state) x = float(rng.normal());
    }
    return u;
}

// Library gradients against finite differences of the float64 recurrence,
// under the scan tolerance model's backward bound (scan_tolerance.hpp).
void check_backward(Context& ctx, const ScanSpec& s, bool with_state, engram_dtype grad_dtype = ENGRAM_DTYPE_F32) {
    SCOPED_TRACE(s.label());
    ScanData d = make_scan_data(s);
    if (d.s0.empty()) d.s0.assign(size_t(s.batch * s.heads * s.k_dim * s.v_dim), 0.0f);  // to differentiate
    const Upstream u = make_upstream(s, with_state, s.seed + 17);
    const LibGrads got = run_backward(ctx, d, u, grad_dtype);
    const ScanRefProblem ref = d.ref();
    engram_suite::ScanUpstream up;
    up.d_o.assign(u.d_o.begin(), u.d_o.end());
    up.d_state.assign(u.d_state.begin(), u.d_state.end());
    auto check = [&](const char* what, const std::vector<float>& lib, std::vector<double> ScanRefProblem::*field,
                     bool rounded) {
        const engram_suite::ScanGradExpect e = engram_suite::scan_gradient(ref, up, field, grad_dtype, rounded);
        EXPECT_TRUE(all_within(what, lib, e.want, e.bound));
    };
    check("dq", got.dq, &ScanRefProblem::q, true);
    check("dk", got.dk, &ScanRefProblem::k, true);
    check("dv", got.dv, &ScanRefProblem::v, true);
    if (s.gate != ENGRAM_SCAN_GATE_NONE) check("dg", got.dg, &ScanRefProblem::g, false);
    check("d_initial_state", got.ds0, &ScanRefProblem::s0, false);
}

ScanSpec spec(int64_t b, int64_t t, int64_t h, int64_t k, int64_t v, int gate, int32_t chunk) {
    ScanSpec s;
    s.batch = b;
    s.t = t;
    s.heads = h;
    s.k_dim = k;
    s.v_dim = v;
    s.gate = gate;
    s.chunk = chunk;
    s.initial_state = true;
    s.seed = uint64_t(b * 7919 + t * 131 + h * 17 + k * 5 + v * 3 + gate + chunk * 1000);
    return s;
}

class ScanBackwardTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_TRUE(ctx_.ok()) << ctx_.error(); }
    Context ctx_{ENGRAM_BACKEND_CPU};
};

const int kGates[] = {ENGRAM_SCAN_GATE_NONE, ENGRAM_SCAN_GATE_SCALAR, ENGRAM_SCAN_GATE_VECTOR};

TEST_F(ScanBackwardTest, MatchesFiniteDifferences) {
    for (int gate : kGates) {
        check_backward(ctx_, spec(1, 1, 1, 3, 2, gate, 0), true);           // T = 1
        check_backward(ctx_, spec(2, 7, 2, 3, 4, gate, 3), true);           // T not a multiple of the chunk
        check_backward(ctx_, spec(1, 9, 1, 5, 2, gate, 0), false);          // no final-state gradient
        ScanSpec s = spec(1, 6, 4, 2, 3, gate, 4);                          // grouped heads: 4 over 2
        s.qk_heads = 2;
        check_backward(ctx_, s, true);
        s.qk_heads = 1;
        check_backward(ctx_, s, false);
    }
}

TEST_F(ScanBackwardTest, SixteenBitInputsAndGradients) {
    for (engram_dtype dt : {ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16})
        for (int gate : kGates) {
            ScanSpec s = spec(1, 5, 2, 3, 3, gate, 2);
            s.dtype = dt;
            check_backward(ctx_, s, true, dt);
            s.out_dtype = ENGRAM_DTYPE_F32;
            check_backward(ctx_, s, true, ENGRAM_DTYPE_F32);
        }
}

TEST_F(ScanBackwardTest, StrongDecayLongSequenceStaysFinite) {
    for (int gate : {ENGRAM_SCAN_GATE_SCALAR, ENGRAM_SCAN_GATE_VECTOR}) {
        ScanSpec s = spec(1, 2048, 2, 8, 8, gate, 64);
        s.g_lo = -30.0;
        s.g_hi = -1.0;
        const ScanData d = make_scan_data(s);
        const LibGrads g = run_backward(ctx_, d, make_upstream(s, true, 5), ENGRAM_DTYPE_F32);
        for (const std::vector<float>* v : {&g.dq, &g.dk, &g.dv, &g.dg, &g.ds0})
            for (float x : *v) ASSERT_TRUE(std::isfinite(x));
    }
}

TEST_F(ScanBackwardTest, BitIdenticalForAnyThreadCount) {
    ScanSpec s = spec(2, 40, 4, 6, 5, ENGRAM_SCAN_GATE_VECTOR, 16);
    s.qk_heads = 2;
    const ScanData d = make_scan_data(s);
    const Upstream u = make_upstream(s, true, 9);
    ASSERT_OK(engram_context_set_threads(ctx_.get(), 1));
    const LibGrads a = run_backward(ctx_, d, u, ENGRAM_DTYPE_F32);
    for (int threads : {2, 3, 2}) {
        ASSERT_OK(engram_context_set_threads(ctx_.get(), threads));
        const LibGrads b = run_backward(ctx_, d, u, ENGRAM_DTYPE_F32);
        EXPECT_EQ(a.dq, b.dq);
        EXPECT_EQ(a.dk, b.dk);
        EXPECT_EQ(a.dv, b.dv);
        EXPECT_EQ(0, std::memcmp(a.dg.data(), b.dg.data(), a.dg.size() * 4));
        EXPECT_EQ(a.ds0, b.ds0);
    }
}

TEST_F(ScanBackwardTest, NanInGateReachesItsGradients) {
    ScanSpec s = spec(1, 12, 1, 3, 2, ENGRAM_SCAN_GATE_SCALAR, 4);
    ScanData d = make_scan_data(s);
    d.g[6] = std::numeric_limits<float>::quiet_NaN();
    const LibGrads g = run_backward(ctx_, d, make_upstream(s, true, 3), ENGRAM_DTYPE_F32);
    // The state from token 6 on is NaN: so are dq of those tokens, and every
    // gradient that flows back through token 6's decay (dg and dk, dv of
    // earlier tokens, d_initial_state).
    for (int64_t t = 0; t < s.t; ++t) {
        EXPECT_EQ(t >= 6, std::isnan(g.dq[size_t(t * s.k_dim)])) << "dq t " << t;
        EXPECT_EQ(t < 6, std::isnan(g.dk[size_t(t * s.k_dim)])) << "dk t " << t;
    }
    EXPECT_TRUE(std::isnan(g.ds0[0]));
}

TEST_F(ScanBackwardTest, RejectsBadArguments) {
    ScanSpec s = spec(1, 4, 2, 3, 2, ENGRAM_SCAN_GATE_SCALAR, 0);
    const ScanData d = make_scan_data(s);
    Buffer q = ctx_.upload(d.q_raw), k = ctx_.upload(d.k_raw), v = ctx_.upload(d.v_raw), g = ctx_.upload(d.g),
           s0 = ctx_.upload(d.s0);
    engram_scan_inputs in = scan_inputs(d, q, k, v, g, s0);
    Buffer go = ctx_.upload(std::vector<float>(size_t(s.t * s.heads * s.v_dim), 1.0f));
    Buffer dq = ctx_.output(q.bytes()), dk = ctx_.output(k.bytes()), dv = ctx_.output(v.bytes()),
           dg = ctx_.output(g.bytes()), ds0 = ctx_.output(s0.bytes());
    engram_scan_grads gr;
    const auto reset = [&] {
        engram_scan_grads_init(&gr);
        gr.dq = dq.get();
        gr.dk = dk.get();
        gr.dv = dv.get();
        gr.dg = dg.as<float>();
        gr.d_initial_state = ds0.as<float>();
        in = scan_inputs(d, q, k, v, g, s0);
    };
    const void* grad_o = go.get();
    auto call = [&] { return engram_scan_linear_backward(ctx_.get(), &in, nullptr, grad_o, nullptr, &gr); };
    auto rejected = [&](const char* what, engram_status st, std::vector<const char*> needles) {
        SCOPED_TRACE(what);
        for (Buffer* b : {&dq, &dk, &dv, &dg, &ds0}) b->fill(0xFF);
        const engram_status got = call();
        const std::string msg = engram_last_error();
        EXPECT_EQ(status_text(st), status_text(got)) << msg;
        for (const char* n : needles) EXPECT_NE(std::string::npos, msg.find(n)) << msg;
        for (Buffer* b : {&dq, &dk, &dv, &dg, &ds0})
            for (uint8_t byte : [&] {
                     std::vector<uint8_t> r(b->bytes());
                     b->download(r.data(), r.size());
                     return r;
                 }())
                ASSERT_EQ(0xFF, byte) << "an output was written";
        reset();
        grad_o = go.get();
    };
    reset();
    EXPECT_OK(call());
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_scan_linear_backward(ctx_.get(), &in, nullptr, grad_o, nullptr, nullptr), "grads");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_scan_grads_init(nullptr), "grads");
    gr.struct_size = 4;
    rejected("struct_size", ENGRAM_ERR_INVALID_ARGUMENT, {"grads->struct_size", "engram_scan_grads_init"});
    gr.dtype = ENGRAM_DTYPE_BF16;
    rejected("dtype", ENGRAM_ERR_UNSUPPORTED, {"grads->dtype"});
    gr.dq = gr.dk = gr.dv = nullptr;
    gr.dg = gr.d_initial_state = nullptr;
    rejected("no output", ENGRAM_ERR_INVALID_ARGUMENT, {"grads has no output"});
    in.gate = ENGRAM_SCAN_GATE_NONE;
    in.g = nullptr;
    rejected("dg without gate", ENGRAM_ERR_INVALID_ARGUMENT, {"grads->dg", "NONE"});
    grad_o = nullptr;
    rejected("grad_o NULL", ENGRAM_ERR_INVALID_ARGUMENT, {"grad_o"});
    grad_o = static_cast<const char*>(go.get()) + 2;
    rejected("grad_o misaligned", ENGRAM_ERR_INVALID_ARGUMENT, {"grad_o", "aligned"});
    gr.dk = static_cast<char*>(dk.get()) + 1;
    rejected("dk misaligned", ENGRAM_ERR_INVALID_ARGUMENT, {"grads->dk", "aligned"});
    gr.dq = const_cast<void*>(in.q);
    rejected("dq over q", ENGRAM_ERR_INVALID_ARGUMENT, {"grads->dq", "overlaps", "in->q"});
    gr.dk = gr.dq;
    rejected("dk over dq", ENGRAM_ERR_INVALID_ARGUMENT, {"overlaps", "grads->dq", "grads->dk"});
    gr.dv = const_cast<void*>(grad_o);
    rejected("dv over grad_o", ENGRAM_ERR_INVALID_ARGUMENT, {"grads->dv", "overlaps", "grad_o"});
    gr.d_initial_state = const_cast<float*>(in.initial_state);
    rejected("d_initial_state over initial_state", ENGRAM_ERR_INVALID_ARGUMENT,
             {"grads->d_initial_state", "overlaps", "in->initial_state"});
    in.k_dim = 300;
    rejected("K above maximum", ENGRAM_ERR_INVALID_ARGUMENT, {"in->k_dim"});
}

}  // namespace
}  // namespace engram_test
