// scan_delta_test.cpp — the delta rule's chunked forward and decode step
// (ops 203, 204) against the float64 token-by-token recurrence, on awkward
// shapes (T = 1, T not a multiple of the chunk, H = 1, K != V, K = 16, 128,
// 256, grouped heads), both rules, in-op L2 normalisation, 16-bit inputs,
// variable-length batches with sequences of length 1; split with state;
// long sequences with strong decay; resets; NaN; determinism.
#include <cmath>
#include <cstring>
#include <limits>

#include "scan_delta_harness.hpp"

namespace engram_test {
namespace {

class ScanDeltaTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_TRUE(ctx_.ok()) << ctx_.error(); }

    // The library's forward against the recurrence, o and the final state.
    void check(const DeltaSpec& s) {
        SCOPED_TRACE(s.label());
        const DeltaData d = make_delta_data(s);
        check_data(d);
    }
    void check_data(const DeltaData& d) {
        const DeltaOut got = run_delta_forward(ctx_, d);
        const DeltaRefResult ref = ref_delta_recurrent(d.ref());
        const DeltaBounds b = delta_bounds(d, ref);
        EXPECT_TRUE(all_within("o", got.o, ref.o, b.o, d.spec.v_dim));
        EXPECT_TRUE(all_within("final state", got.state, ref.state, b.state, d.spec.v_dim));
    }

    Context ctx_{ENGRAM_BACKEND_CPU};
};

DeltaSpec spec(int64_t b, int64_t t, int64_t h, int64_t k, int64_t v, bool gated, int32_t chunk) {
    DeltaSpec s;
    s.batch = b;
    s.t = t;
    s.heads = h;
    s.k_dim = k;
    s.v_dim = v;
    s.gated = gated;
    s.chunk = chunk;
    return s;
}

TEST_F(ScanDeltaTest, ChunkedMatchesRecurrenceOnAwkwardShapes) {
    for (bool gated : {false, true})
        for (bool l2 : {false, true}) {
            for (DeltaSpec s : {spec(1, 1, 1, 4, 4, gated, 0),      // T = 1
                                spec(2, 37, 2, 8, 5, gated, 16),    // T not a multiple, K != V
                                spec(1, 65, 1, 16, 16, gated, 0),   // default chunk 64, H = 1
                                spec(1, 9, 3, 5, 7, gated, 1),      // chunk 1
                                spec(2, 11, 2, 6, 3, gated, 32)}) { // chunk > T
                s.l2norm = l2;
                s.initial_state = s.t > 1;
                s.seed = uint64_t(s.t * 7 + (gated ? 1 : 0) + (l2 ? 2 : 0));
                check(s);
            }
        }
}

TEST_F(ScanDeltaTest, WideHeadsK16K128K256) {
    for (bool l2 : {false, true}) {
        DeltaSpec a = spec(1, 40, 2, 16, 24, true, 16);
        DeltaSpec b = spec(1, 20, 1, 128, 128, true, 8);
        DeltaSpec c = spec(1, 13, 1, 256, 32, false, 8);
        DeltaSpec e = spec(1, 6, 1, 32, 256, true, 4);
        for (DeltaSpec s : {a, b, c, e}) {
            s.l2norm = l2;
            s.initial_state = true;
            check(s);
        }
    }
}

TEST_F(ScanDeltaTest, GroupedHeadsScaleAndInitialState) {
    for (int64_t hk : {2, 1}) {
        DeltaSpec s = spec(2, 23, 4, 6, 5, true, 8);
        s.qk_heads = hk;
        s.initial_state = true;
        s.scale = 0.7f;
        s.l2norm = hk == 1;
        check(s);
    }
}

TEST_F(ScanDeltaTest, SixteenBitInputsAndOutputs) {
    for (engram_dtype dt : {ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16})
        for (int32_t od : {ENGRAM_SCAN_OUTPUT_DTYPE_INPUT, int32_t(ENGRAM_DTYPE_F32)}) {
            DeltaSpec s = spec(2, 29, 2, 8, 8, true, 8);
            s.dtype = dt;
            s.out_dtype = od;
            s.l2norm = true;
            s.initial_state = true;
            check(s);
        }
}

TEST_F(ScanDeltaTest, VarlenWithLengthOneSequences) {
    for (bool wide : {false, true})
        for (bool gated : {false, true}) {
            DeltaSpec s = spec(1, 0, 2, 6, 4, gated, 4);
            s.cu = {0, 1, 6, 7, 20, 21};
            s.cu64 = wide;
            s.initial_state = true;
            s.l2norm = !gated;
            check(s);
            // Each sequence alone (B = 1, its own initial state) gives the same bits.
            const DeltaData d = make_delta_data(s);
            const DeltaOut all = run_delta_forward(ctx_, d);
            for (size_t n = 0; n + 1 < s.cu.size(); ++n) {
                const int64_t t0 = s.cu[n], len = s.cu[n + 1] - t0;
                DeltaData one = d;
                one.spec.cu.clear();
                one.spec.batch = 1;
                one.spec.t = len;
                auto cut = [](const std::vector<float>& x, int64_t from, int64_t count) {
                    return std::vector<float>(x.begin() + from, x.begin() + from + count);
                };
                const int64_t kk = s.k_dim * s.hk(), vv = s.v_dim * s.heads;
                one.q = cut(d.q, t0 * kk, len * kk);
                one.k = cut(d.k, t0 * kk, len * kk);
                one.v = cut(d.v, t0 * vv, len * vv);
                if (gated) one.g = cut(d.g, t0 * s.heads, len * s.heads);
                one.beta = cut(d.beta, t0 * s.heads, len * s.heads);
                const int64_t st = s.heads * s.k_dim * s.v_dim;
                one.s0 = cut(d.s0, int64_t(n) * st, st);
                one.encode();
                const DeltaOut r = run_delta_forward(ctx_, one);
                EXPECT_EQ(0, std::memcmp(r.o.data(), all.o.data() + t0 * vv, r.o.size() * 4)) << "seq " << n;
                EXPECT_EQ(0, std::memcmp(r.state.data(), all.state.data() + int64_t(n) * st, r.state.size() * 4))
                    << "seq " << n;
            }
        }
}

TEST_F(ScanDeltaTest, SplitWithStateEqualsOnePass) {
    for (int64_t cut : {16, 21}) {  // on a chunk boundary (bit-identical) and not
        DeltaSpec s = spec(2, 48, 2, 8, 6, true, 8);
        s.initial_state = true;
        s.l2norm = true;
        const DeltaData d = make_delta_data(s);
        const DeltaOut whole = run_delta_forward(ctx_, d);
        auto piece = [&](int64_t t0, int64_t len, const std::vector<float>& s0) {
            DeltaData p = d;
            p.spec.t = len;
            p.q.clear(), p.k.clear(), p.v.clear(), p.g.clear(), p.beta.clear();
            const int64_t kk = s.k_dim * s.hk(), vv = s.v_dim * s.heads;
            for (int64_t b = 0; b < s.batch; ++b) {
                const int64_t r0 = b * s.t + t0;
                p.q.insert(p.q.end(), d.q.begin() + r0 * kk, d.q.begin() + (r0 + len) * kk);
                p.k.insert(p.k.end(), d.k.begin() + r0 * kk, d.k.begin() + (r0 + len) * kk);
                p.v.insert(p.v.end(), d.v.begin() + r0 * vv, d.v.begin() + (r0 + len) * vv);
                p.g.insert(p.g.end(), d.g.begin() + r0 * s.heads, d.g.begin() + (r0 + len) * s.heads);
                p.beta.insert(p.beta.end(), d.beta.begin() + r0 * s.heads, d.beta.begin() + (r0 + len) * s.heads);
            }
            p.s0 = s0;
            p.encode();
            return std::make_pair(p, run_delta_forward(ctx_, p));
        };
        const auto first = piece(0, cut, d.s0);
        const auto second = piece(cut, s.t - cut, first.second.state);
        std::vector<float> o(whole.o.size());
        const int64_t vv = s.v_dim * s.heads;
        for (int64_t b = 0; b < s.batch; ++b) {
            std::copy(first.second.o.begin() + b * cut * vv, first.second.o.begin() + (b + 1) * cut * vv,
                      o.begin() + b * s.t * vv);
            std::copy(second.second.o.begin() + b * (s.t - cut) * vv,
                      second.second.o.begin() + (b + 1) * (s.t - cut) * vv, o.begin() + (b * s.t + cut) * vv);
        }
        if (cut % 8 == 0) {
            EXPECT_EQ(0, std::memcmp(o.data(), whole.o.data(), o.size() * 4));
            EXPECT_EQ(0, std::memcmp(second.second.state.data(), whole.state.data(), whole.state.size() * 4));
        } else {
            const DeltaRefResult ref = ref_delta_recurrent(d.ref());
            const DeltaBounds bd = delta_bounds(d, ref);
            EXPECT_TRUE(all_within("split o", o, ref.o, bd.o, s.v_dim));
            EXPECT_TRUE(all_within("split state", second.second.state, ref.state, bd.state, s.v_dim));
        }
    }
}

TEST_F(ScanDeltaTest, DecodeStepsInPlaceMatchRecurrence) {
    for (engram_dtype dt : {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_BF16})
        for (bool gated : {false, true}) {
            DeltaSpec s = spec(2, 9, 4, 5, 6, gated, 0);
            s.qk_heads = 2;
            s.dtype = dt;
            s.l2norm = gated;
            SCOPED_TRACE(s.label());
            const DeltaData d = make_delta_data(s);
            const DeltaRefResult ref = ref_delta_recurrent(d.ref());
            const DeltaBounds bd = delta_bounds(d, ref);
            Buffer state = ctx_.output(size_t(s.batch * s.heads * s.k_dim * s.v_dim) * 4);
            std::vector<float> o(ref.o.size());
            const engram_scan_options opts = delta_options(s);
            const int64_t kk = s.k_dim * s.hk(), vv = s.v_dim * s.heads;
            for (int64_t t = 0; t < s.t; ++t) {
                DeltaData one = d;
                one.spec.t = 1;
                one.q.clear(), one.k.clear(), one.v.clear(), one.g.clear(), one.beta.clear();
                for (int64_t b = 0; b < s.batch; ++b) {
                    const int64_t r = b * s.t + t;
                    one.q.insert(one.q.end(), d.q.begin() + r * kk, d.q.begin() + (r + 1) * kk);
                    one.k.insert(one.k.end(), d.k.begin() + r * kk, d.k.begin() + (r + 1) * kk);
                    one.v.insert(one.v.end(), d.v.begin() + r * vv, d.v.begin() + (r + 1) * vv);
                    if (gated) one.g.insert(one.g.end(), d.g.begin() + r * s.heads, d.g.begin() + (r + 1) * s.heads);
                    one.beta.insert(one.beta.end(), d.beta.begin() + r * s.heads, d.beta.begin() + (r + 1) * s.heads);
                }
                one.encode();
                DeltaBuffers bufs(ctx_, one);
                engram_scan_delta_inputs in = bufs.inputs(one);
                in.initial_state = t == 0 ? nullptr : state.as<float>();  // position 0: zeros
                Buffer ob = ctx_.output(size_t(s.batch * vv) * engram_dtype_size(dt));
                ASSERT_OK(engram_scan_delta_decode(ctx_.get(), &in, &opts, ob.get(), state.as<float>()));
                const std::vector<float> step = ob.floats(dt);
                for (int64_t b = 0; b < s.batch; ++b)
                    std::copy(step.begin() + b * vv, step.begin() + (b + 1) * vv, o.begin() + (b * s.t + t) * vv);
            }
            EXPECT_TRUE(all_within("decode o", o, ref.o, bd.o, s.v_dim));
            EXPECT_TRUE(all_within("decode state", state.floats(), ref.state, bd.state, s.v_dim));
        }
}

TEST_F(ScanDeltaTest, LongSequencesStayFinite) {
    // Strong decay (log-decays down to -30 per token) and none at all.
    DeltaSpec strong = spec(1, 4096, 2, 16, 16, true, 64);
    strong.g_lo = -30.0;
    strong.g_hi = -1.0;
    strong.l2norm = true;
    DeltaSpec none = spec(1, 2048, 1, 16, 16, false, 64);
    none.l2norm = true;
    for (const DeltaSpec& s : {strong, none}) {
        SCOPED_TRACE(s.label());
        const DeltaData d = make_delta_data(s);
        const DeltaOut got = run_delta_forward(ctx_, d);
        for (float x : got.o) ASSERT_TRUE(std::isfinite(x));
        for (float x : got.state) ASSERT_TRUE(std::isfinite(x));
        check_data(d);
    }
}

TEST_F(ScanDeltaTest, ResetsAndZeroBeta) {
    DeltaSpec s = spec(2, 30, 2, 6, 5, true, 8);
    s.initial_state = true;
    DeltaData d = make_delta_data(s);
    for (size_t i : {size_t(3), size_t(17), size_t(40), size_t(41), size_t(100)})
        d.g[i] = -std::numeric_limits<float>::infinity();
    for (size_t i : {size_t(5), size_t(60)}) d.beta[i] = 0.0f;
    check_data(d);
}

TEST_F(ScanDeltaTest, BitIdenticalRunsAndThreadCounts) {
    DeltaSpec s = spec(3, 77, 3, 16, 12, true, 16);
    s.initial_state = true;
    s.l2norm = true;
    s.cu = {0, 1, 30, 31, 77};
    const DeltaData d = make_delta_data(s);
    DeltaSpec s2 = s;
    s2.cu.clear();
    const DeltaData d2 = make_delta_data(s2);
    for (const DeltaData* x : {&d, &d2}) {
        ASSERT_OK(engram_context_set_threads(ctx_.get(), 2));
        const DeltaOut a = run_delta_forward(ctx_, *x), b = run_delta_forward(ctx_, *x);
        ASSERT_OK(engram_context_set_threads(ctx_.get(), 1));
        const DeltaOut c = run_delta_forward(ctx_, *x);
        ASSERT_OK(engram_context_set_threads(ctx_.get(), 3));
        const DeltaOut e = run_delta_forward(ctx_, *x);
        for (const DeltaOut* y : {&b, &c, &e}) {
            EXPECT_EQ(0, std::memcmp(a.o.data(), y->o.data(), a.o.size() * 4));
            EXPECT_EQ(0, std::memcmp(a.state.data(), y->state.data(), a.state.size() * 4));
        }
    }
}

TEST_F(ScanDeltaTest, OpStatsCountChunksAndScratchIsReleased) {
    DeltaSpec s = spec(1, 0, 3, 8, 8, true, 16);
    s.cu = {0, 100, 101, 133};  // 7 + 1 + 2 chunks per head
    const DeltaData d = make_delta_data(s);
    run_delta_forward(ctx_, d);
    engram_op_stats st;
    engram_op_stats_init(&st);
    ASSERT_OK(engram_context_get_op_stats(ctx_.get(), &st));
    EXPECT_EQ(ENGRAM_OP_SCAN_DELTA_FORWARD, st.op);
    EXPECT_EQ(uint64_t(3 * 10), op_counter(st, "chunks"));
    engram_memory_stats m;
    engram_memory_stats_init(&m);
    ASSERT_OK(engram_context_get_memory_stats(ctx_.get(), &m));
    EXPECT_EQ(0u, m.current_bytes);
    EXPECT_GT(m.peak_bytes, 0u);
}

// NaN spreads as the recurrence spreads it (engram_scan.h).
TEST_F(ScanDeltaTest, NanPropagatesAsTheRecurrence) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    DeltaSpec s = spec(1, 20, 2, 4, 5, true, 8);
    const int64_t at = 11, H = s.heads, V = s.v_dim;
    auto o_at = [&](const DeltaOut& r, int64_t t, int64_t h, int64_t x) { return r.o[size_t((t * H + h) * V + x)]; };
    {  // NaN in g of head 1 at token 11: that head's o for t >= 11, all columns.
        DeltaData d = make_delta_data(s);
        d.g[size_t(at * H + 1)] = nan;
        const DeltaOut r = run_delta_forward(ctx_, d);
        for (int64_t t = 0; t < s.t; ++t)
            for (int64_t x = 0; x < V; ++x) {
                EXPECT_FALSE(std::isnan(o_at(r, t, 0, x)));
                EXPECT_EQ(t >= at, std::isnan(o_at(r, t, 1, x))) << t << "," << x;
            }
    }
    {  // NaN in v[11, column 2] of head 0: column 2 of head 0 for t >= 11.
        DeltaData d = make_delta_data(s);
        d.v[size_t((at * H + 0) * V + 2)] = nan;
        d.encode();
        const DeltaOut r = run_delta_forward(ctx_, d);
        for (int64_t t = 0; t < s.t; ++t)
            for (int64_t x = 0; x < V; ++x) {
                EXPECT_EQ(t >= at && x == 2, std::isnan(o_at(r, t, 0, x))) << t << "," << x;
                EXPECT_FALSE(std::isnan(o_at(r, t, 1, x)));
            }
    }
    {  // NaN in q at token 11 (head 0's q/k head): o_11 of head 0 only.
        DeltaData d = make_delta_data(s);
        d.q[size_t((at * H + 0) * s.k_dim + 1)] = nan;
        d.encode();
        const DeltaOut r = run_delta_forward(ctx_, d);
        for (int64_t t = 0; t < s.t; ++t)
            for (int64_t x = 0; x < V; ++x) EXPECT_EQ(t == at, std::isnan(o_at(r, t, 0, x))) << t << "," << x;
    }
    {  // NaN in k or beta at token 11: every later output of that head.
        for (int which : {0, 1}) {
            DeltaData d = make_delta_data(s);
            if (which == 0) d.k[size_t((at * H + 1) * s.k_dim + 3)] = nan;
            else d.beta[size_t(at * H + 1)] = nan;
            d.encode();
            const DeltaOut r = run_delta_forward(ctx_, d);
            for (int64_t t = 0; t < s.t; ++t)
                for (int64_t x = 0; x < V; ++x) EXPECT_EQ(t >= at, std::isnan(o_at(r, t, 1, x))) << t << "," << x;
        }
    }
}

}  // namespace
}  // namespace engram_test
