// scan_delta_backward_test.cpp — the delta rule's backward (op 205): the
// float64 reference gradient against central finite differences of the
// float64 recurrence, then the library against the reference gradient (every
// gradient, both rules, L2 normalisation, grouped heads, variable-length
// batches, 16-bit inputs and gradients) and directly against finite
// differences; long sequences stay finite; bit-identical for any thread count.
#include <cmath>
#include <cstring>
#include <limits>

#include "scan_delta_harness.hpp"

namespace engram_test {
namespace {

struct Upstream {
    std::vector<double> d_o, d_state;  // d_state empty: NULL
};

Upstream make_upstream(const DeltaData& d, bool with_state, uint64_t seed) {
    const DeltaSpec& s = d.spec;
    Rng rng(seed);
    Upstream u;
    u.d_o.resize(size_t(delta_tokens(d) * s.heads * s.v_dim));
    for (double& x : u.d_o) x = round_to(delta_out_dtype(s), float(rng.normal()));
    if (with_state) {
        u.d_state.resize(size_t(s.seqs() * s.heads * s.k_dim * s.v_dim));
        for (double& x : u.d_state) x = float(rng.normal());
    }
    return u;
}

double loss(const DeltaRefProblem& p, const Upstream& u) {
    const DeltaRefResult r = ref_delta_recurrent(p);
    double l = 0.0;
    for (size_t i = 0; i < r.o.size(); ++i) l += u.d_o[i] * r.o[i];
    for (size_t i = 0; i < u.d_state.size(); ++i) l += u.d_state[i] * r.state[i];
    return l;
}

std::vector<double> numeric_grad(DeltaRefProblem p, const Upstream& u,
                                 std::vector<double> DeltaRefProblem::*field) {
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

struct LibGrads {
    std::vector<float> dq, dk, dv, dg, dbeta, ds0;
};

LibGrads run_backward(Context& ctx, const DeltaData& d, const Upstream& u, engram_dtype gdt,
                      bool want_all = true) {
    const DeltaSpec& s = d.spec;
    DeltaBuffers b(ctx, d);
    const engram_scan_delta_inputs in = b.inputs(d);
    const engram_scan_options opts = delta_options(s);
    std::vector<float> d_o(u.d_o.begin(), u.d_o.end()), d_st(u.d_state.begin(), u.d_state.end());
    Buffer go = ctx.upload(encode_floats(delta_out_dtype(s), d_o));
    Buffer gs = d_st.empty() ? Buffer() : ctx.upload(d_st);
    const size_t es = engram_dtype_size(gdt);
    Buffer dq = ctx.output(d.q.size() * es), dk = ctx.output(d.k.size() * es), dv = ctx.output(d.v.size() * es);
    Buffer dg = d.g.empty() ? Buffer() : ctx.output(d.g.size() * 4);
    Buffer db = ctx.output(d.beta.size() * 4);
    Buffer ds0 = ctx.output(size_t(s.seqs() * s.heads * s.k_dim * s.v_dim) * 4);
    engram_scan_delta_grads gr;
    engram_scan_delta_grads_init(&gr);
    gr.dtype = gdt;
    gr.dq = dq.get();
    gr.dk = want_all ? dk.get() : nullptr;
    gr.dv = dv.get();
    gr.dg = dg.as<float>();
    gr.dbeta = want_all ? db.as<float>() : nullptr;
    gr.d_initial_state = ds0.as<float>();
    EXPECT_OK(engram_scan_delta_backward(ctx.get(), &in, &opts, go.get(), gs.as<float>(), &gr));
    LibGrads r;
    r.dq = dq.floats(gdt);
    if (want_all) r.dk = dk.floats(gdt);
    r.dv = dv.floats(gdt);
    if (dg) r.dg = dg.floats();
    if (want_all) r.dbeta = db.floats();
    r.ds0 = ds0.floats();
    return r;
}

// Normwise error model per gradient tensor: the backward runs the contraction
// of the forward backwards, so rounding errors stay within a few eps times
// the number of accumulated terms times the tensor's largest entry, plus the
// gradient dtype's rounding of each entry.
// Under L2 normalisation dq, dk come from the projection
// dx = r (dx^ - x^ (x^ . dx^)), which cancels where x^ has one dominant
// entry (K = 1: dx is O(eps_norm)); its rounding is relative to r |dx^|, so
// `row` (per entry: r max|dx^| of its row) joins the magnitude.
std::vector<double> bound_for(const std::vector<double>& want, double terms, double geps,
                              const std::vector<double>& row = {}) {
    double m = 0.0;
    for (double x : want) m = std::max(m, std::fabs(x));
    std::vector<double> b(want.size());
    for (size_t i = 0; i < b.size(); ++i)
        b[i] = 16.0 * terms * std::ldexp(1.0, -24) * (m + (row.empty() ? 0.0 : row[i])) +
               geps * std::fabs(want[i]) + 1e-12;
    return b;
}

// r max|dx^| per row of x [rows, K] (zeros without normalisation).
std::vector<double> projection_term(const DeltaSpec& s, const std::vector<double>& x,
                                    const std::vector<double>& dhat) {
    std::vector<double> t(x.size(), 0.0);
    if (!s.l2norm) return t;
    const size_t K = size_t(s.k_dim);
    for (size_t r0 = 0; r0 < x.size(); r0 += K) {
        double sq = 0.0, mx = 0.0;
        for (size_t j = 0; j < K; ++j) {
            sq += x[r0 + j] * x[r0 + j];
            mx = std::max(mx, std::fabs(dhat[r0 + j]));
        }
        for (size_t j = 0; j < K; ++j) t[r0 + j] = mx / std::sqrt(sq + 1e-6);
    }
    return t;
}

DeltaSpec spec(int64_t b, int64_t t, int64_t h, int64_t k, int64_t v, bool gated, int32_t chunk) {
    DeltaSpec s;
    s.batch = b;
    s.t = t;
    s.heads = h;
    s.k_dim = k;
    s.v_dim = v;
    s.gated = gated;
    s.chunk = chunk;
    s.initial_state = true;
    return s;
}

class ScanDeltaBackwardTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_TRUE(ctx_.ok()) << ctx_.error(); }

    // Library gradients against the reference gradient (and, when fd, the
    // reference gradient against finite differences first).
    void check(const DeltaSpec& s, bool with_state, bool fd, engram_dtype gdt = ENGRAM_DTYPE_F32) {
        SCOPED_TRACE(s.label());
        const DeltaData d = make_delta_data(s);
        const Upstream u = make_upstream(d, with_state, s.seed + 5);
        const DeltaRefProblem ref = d.ref();
        const DeltaRefGrads want = ref_delta_backward(ref, u.d_o, u.d_state);
        if (fd) {
            auto fd_check = [&](const char* what, const std::vector<double>& g,
                                std::vector<double> DeltaRefProblem::*field) {
                const std::vector<double> num = numeric_grad(ref, u, field);
                std::vector<float> gf(g.begin(), g.end());
                std::vector<double> bound(num.size());
                for (size_t i = 0; i < num.size(); ++i) bound[i] = 1e-6 * (1.0 + std::fabs(num[i]));
                // The float copy of g costs 2^-24 relative: inside the bound.
                EXPECT_TRUE(all_within(what, gf, num, bound)) << "reference gradient vs differences";
            };
            fd_check("ref dq", want.dq, &DeltaRefProblem::q);
            fd_check("ref dk", want.dk, &DeltaRefProblem::k);
            fd_check("ref dv", want.dv, &DeltaRefProblem::v);
            fd_check("ref dbeta", want.dbeta, &DeltaRefProblem::beta);
            fd_check("ref ds0", want.ds0, &DeltaRefProblem::s0);
            if (s.gated) fd_check("ref dg", want.dg, &DeltaRefProblem::g);
        }
        const LibGrads got = run_backward(ctx_, d, u, gdt);
        const int64_t chunk = s.chunk ? s.chunk : ENGRAM_SCAN_DEFAULT_CHUNK;
        const int64_t longest = d.spec.cu.empty() ? d.spec.t : [&] {
            int64_t m = 0;
            for (size_t n = 0; n + 1 < d.spec.cu.size(); ++n) m = std::max(m, d.spec.cu[n + 1] - d.spec.cu[n]);
            return m;
        }();
        const double terms = double(2 * s.k_dim + 2 * s.v_dim + std::min(chunk, longest) + 8 +
                                    2 * (s.heads / s.hk()));
        const double geps = gdt == ENGRAM_DTYPE_BF16 ? std::ldexp(1.0, -8)
                            : gdt == ENGRAM_DTYPE_F16 ? std::ldexp(1.0, -11) : 0.0;
        EXPECT_TRUE(all_within("dq", got.dq, want.dq,
                               bound_for(want.dq, terms, geps, projection_term(s, ref.q, want.dq_hat)), s.k_dim));
        EXPECT_TRUE(all_within("dk", got.dk, want.dk,
                               bound_for(want.dk, terms, geps, projection_term(s, ref.k, want.dk_hat)), s.k_dim));
        EXPECT_TRUE(all_within("dv", got.dv, want.dv, bound_for(want.dv, terms, geps), s.v_dim));
        EXPECT_TRUE(all_within("dbeta", got.dbeta, want.dbeta, bound_for(want.dbeta, terms, 0.0)));
        EXPECT_TRUE(all_within("ds0", got.ds0, want.ds0, bound_for(want.ds0, terms, 0.0), s.v_dim));
        if (s.gated) {
            EXPECT_TRUE(all_within("dg", got.dg, want.dg, bound_for(want.dg, terms, 0.0)));
        }
    }

    Context ctx_{ENGRAM_BACKEND_CPU};
};

TEST_F(ScanDeltaBackwardTest, ReferenceMatchesFiniteDifferencesAndLibraryMatchesReference) {
    for (bool gated : {false, true})
        for (bool l2 : {false, true}) {
            DeltaSpec a = spec(1, 1, 1, 3, 2, gated, 0);  // T = 1
            DeltaSpec b = spec(2, 7, 2, 3, 4, gated, 3);  // T not a multiple of the chunk
            b.qk_heads = 1;                               // grouped heads
            DeltaSpec c = spec(1, 0, 2, 4, 3, gated, 2);  // varlen with length-1 sequences
            c.cu = {0, 1, 5, 6, 9};
            for (DeltaSpec s : {a, b, c}) {
                s.l2norm = l2;
                s.seed = uint64_t(11 + s.t + (gated ? 3 : 0) + (l2 ? 5 : 0));
                check(s, true, true);
                check(s, false, false);
            }
        }
}

TEST_F(ScanDeltaBackwardTest, LargerShapesAgainstReferenceGradient) {
    DeltaSpec a = spec(2, 45, 4, 16, 12, true, 16);
    a.qk_heads = 2;
    a.l2norm = true;
    DeltaSpec b = spec(1, 0, 2, 8, 20, false, 8);
    b.cu = {0, 1, 2, 19, 50};
    b.cu64 = true;
    DeltaSpec c = spec(1, 9, 1, 128, 16, true, 4);
    c.l2norm = true;
    DeltaSpec e = spec(1, 13, 2, 1, 4, false, 0);  // K = 1 under normalisation: dq, dk cancel
    e.qk_heads = 1;
    e.l2norm = true;
    for (const DeltaSpec& s : {a, b, c, e}) check(s, true, false);
}

TEST_F(ScanDeltaBackwardTest, SixteenBitInputsAndGradients) {
    for (engram_dtype dt : {ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16})
        for (engram_dtype gdt : {dt, ENGRAM_DTYPE_F32}) {
            DeltaSpec s = spec(1, 19, 2, 8, 8, true, 8);
            s.dtype = dt;
            s.l2norm = true;
            check(s, true, false, gdt);
        }
}

TEST_F(ScanDeltaBackwardTest, LongStrongDecayStaysFinite) {
    DeltaSpec s = spec(1, 2048, 1, 16, 16, true, 64);
    s.g_lo = -30.0;
    s.g_hi = -1.0;
    s.l2norm = true;
    const DeltaData d = make_delta_data(s);
    const Upstream u = make_upstream(d, true, 3);
    const LibGrads g = run_backward(ctx_, d, u, ENGRAM_DTYPE_F32);
    for (const auto* v : {&g.dq, &g.dk, &g.dv, &g.dg, &g.dbeta, &g.ds0})
        for (float x : *v) ASSERT_TRUE(std::isfinite(x));
}

TEST_F(ScanDeltaBackwardTest, BitIdenticalForAnyThreadCountAndSubsetsAgree) {
    DeltaSpec s = spec(2, 33, 4, 8, 6, true, 8);
    s.qk_heads = 2;
    s.l2norm = true;
    const DeltaData d = make_delta_data(s);
    const Upstream u = make_upstream(d, true, 9);
    ASSERT_OK(engram_context_set_threads(ctx_.get(), 2));
    const LibGrads a = run_backward(ctx_, d, u, ENGRAM_DTYPE_F32);
    ASSERT_OK(engram_context_set_threads(ctx_.get(), 1));
    const LibGrads b = run_backward(ctx_, d, u, ENGRAM_DTYPE_F32);
    ASSERT_OK(engram_context_set_threads(ctx_.get(), 3));
    const LibGrads c = run_backward(ctx_, d, u, ENGRAM_DTYPE_F32);
    const LibGrads sub = run_backward(ctx_, d, u, ENGRAM_DTYPE_F32, false);  // no dk, dbeta
    for (const LibGrads* x : {&b, &c}) {
        EXPECT_EQ(a.dq, x->dq);
        EXPECT_EQ(a.dk, x->dk);
        EXPECT_EQ(a.dv, x->dv);
        EXPECT_EQ(a.dg, x->dg);
        EXPECT_EQ(a.dbeta, x->dbeta);
        EXPECT_EQ(a.ds0, x->ds0);
    }
    EXPECT_EQ(0, std::memcmp(a.dq.data(), sub.dq.data(), a.dq.size() * 4));
    EXPECT_EQ(0, std::memcmp(a.dg.data(), sub.dg.data(), a.dg.size() * 4));
}

TEST_F(ScanDeltaBackwardTest, NanInGReachesTheGradientsThroughIt) {
    DeltaSpec s = spec(1, 12, 1, 4, 4, true, 4);
    DeltaData d = make_delta_data(s);
    d.g[7] = std::numeric_limits<float>::quiet_NaN();
    const Upstream u = make_upstream(d, false, 4);
    const LibGrads g = run_backward(ctx_, d, u, ENGRAM_DTYPE_F32);
    // o_t for t >= 7 is NaN, so every input before 7 gets a NaN gradient
    // (it reaches those outputs through the state), and ds0 too.
    for (int64_t c = 0; c < s.k_dim; ++c) EXPECT_TRUE(std::isnan(g.dk[size_t(c)]));
    for (float x : g.ds0) EXPECT_TRUE(std::isnan(x));
    EXPECT_TRUE(std::isnan(g.dbeta[0]));
}

}  // namespace
}  // namespace engram_test
