// scan_test.cpp — the chunked linear-attention forward and the decode step
// against the float64 references (quadratic masked form and token-by-token
// recurrence) on awkward shapes, every gate, dtype and option; long sequences
// with strong and with no decay; a sequence split in pieces with the state
// carried; determinism. CPU only (the family has no CUDA backend yet).
#include <cmath>
#include <cstring>
#include <limits>

#include "scan_harness.hpp"

namespace engram_test {
namespace {

class ScanTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_TRUE(ctx_.ok()) << ctx_.error(); }
    Context ctx_{ENGRAM_BACKEND_CPU};
};

// The forward of `s` against both references, and the references against
// each other (they are two independent formulas).
void check_forward(Context& ctx, const ScanSpec& s, bool quadratic = true) {
    SCOPED_TRACE(s.label());
    const ScanData d = make_scan_data(s);
    const ScanOut got = run_scan_forward(ctx, d);
    const ScanRefResult rec = ref_scan_recurrent(d.ref());
    const ScanBounds bound = scan_bounds(d);
    EXPECT_TRUE(all_within("o vs recurrence", got.o, rec.o, bound.o, s.v_dim));
    EXPECT_TRUE(all_within("final state vs recurrence", got.state, rec.state, bound.state, s.v_dim));
    if (!quadratic) return;
    const ScanRefResult quad = ref_scan_quadratic(d.ref());
    EXPECT_TRUE(all_within("o vs quadratic", got.o, quad.o, bound.o, s.v_dim));
    EXPECT_TRUE(all_within("final state vs quadratic", got.state, quad.state, bound.state, s.v_dim));
    std::vector<float> rec_o(rec.o.begin(), rec.o.end());
    EXPECT_TRUE(all_within("recurrence vs quadratic (float64)", rec_o, quad.o, bound.o, s.v_dim));
}

ScanSpec spec(int64_t b, int64_t t, int64_t h, int64_t k, int64_t v, int gate, int32_t chunk = 0) {
    ScanSpec s;
    s.batch = b;
    s.t = t;
    s.heads = h;
    s.k_dim = k;
    s.v_dim = v;
    s.gate = gate;
    s.chunk = chunk;
    s.seed = uint64_t(b * 1000003 + t * 1009 + h * 101 + k * 13 + v * 7 + gate * 3 + chunk);
    return s;
}

const int kGates[] = {ENGRAM_SCAN_GATE_NONE, ENGRAM_SCAN_GATE_SCALAR, ENGRAM_SCAN_GATE_VECTOR};

TEST_F(ScanTest, SingleToken) {
    for (int gate : kGates) {
        check_forward(ctx_, spec(1, 1, 1, 4, 4, gate));
        ScanSpec s = spec(3, 1, 2, 5, 3, gate);
        s.initial_state = true;
        check_forward(ctx_, s);
    }
}

TEST_F(ScanTest, ChunkNotDividingT) {
    for (int gate : kGates) {
        check_forward(ctx_, spec(2, 37, 3, 8, 8, gate, 16));
        check_forward(ctx_, spec(1, 65, 1, 16, 16, gate));  // default chunk 64 plus one
        check_forward(ctx_, spec(1, 13, 2, 7, 5, gate, 1));  // chunk 1: the recurrence itself
        check_forward(ctx_, spec(1, 13, 2, 7, 5, gate, 256));  // chunk larger than T
    }
}

TEST_F(ScanTest, OneHeadKDifferentFromV) {
    for (int gate : kGates) {
        check_forward(ctx_, spec(1, 40, 1, 16, 24, gate, 8));
        check_forward(ctx_, spec(2, 21, 1, 24, 3, gate, 5));
    }
}

TEST_F(ScanTest, HeadDims16And128) {
    for (int gate : kGates) {
        check_forward(ctx_, spec(1, 50, 2, 16, 16, gate, 16));
        check_forward(ctx_, spec(1, 70, 1, 128, 128, gate, 32), gate != ENGRAM_SCAN_GATE_VECTOR);
    }
    check_forward(ctx_, spec(1, 9, 1, 256, 256, ENGRAM_SCAN_GATE_SCALAR, 4), false);  // the maximum
}

TEST_F(ScanTest, InitialStateAndScale) {
    for (int gate : kGates) {
        ScanSpec s = spec(2, 29, 2, 6, 9, gate, 8);
        s.initial_state = true;
        s.scale = 0.37f;
        check_forward(ctx_, s);
    }
}

TEST_F(ScanTest, GroupedHeads) {
    for (int gate : kGates) {
        ScanSpec s = spec(2, 23, 4, 8, 6, gate, 8);
        s.qk_heads = 2;
        s.initial_state = true;
        check_forward(ctx_, s);
        s.qk_heads = 1;
        check_forward(ctx_, s);
    }
}

TEST_F(ScanTest, SixteenBitInputs) {
    for (engram_dtype dt : {ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16})
        for (int gate : kGates)
            for (int32_t od : {int32_t(ENGRAM_SCAN_OUTPUT_DTYPE_INPUT), int32_t(ENGRAM_DTYPE_F32)}) {
                ScanSpec s = spec(2, 33, 2, 12, 10, gate, 16);
                s.dtype = dt;
                s.out_dtype = od;
                s.initial_state = true;
                check_forward(ctx_, s);
            }
}

TEST_F(ScanTest, StrongDecayOverLongSequence) {
    // Log-decays down to -30 per token: the state forgets within a token or
    // two; a naive exp(-cumsum) would overflow after a few tokens.
    for (int gate : {ENGRAM_SCAN_GATE_SCALAR, ENGRAM_SCAN_GATE_VECTOR}) {
        ScanSpec s = spec(1, 4096, 2, 16, 16, gate);
        s.g_lo = -30.0;
        s.g_hi = -1.0;
        SCOPED_TRACE(s.label());
        const ScanData d = make_scan_data(s);
        const ScanOut got = run_scan_forward(ctx_, d);
        for (float x : got.o) ASSERT_TRUE(std::isfinite(x));
        check_forward(ctx_, s, false);
    }
}

TEST_F(ScanTest, NoDecayOverLongSequence) {
    // Outputs grow with T (the state sums every token): the bound grows too.
    check_forward(ctx_, spec(1, 4096, 2, 16, 16, ENGRAM_SCAN_GATE_NONE), false);
    ScanSpec s = spec(1, 4096, 1, 16, 16, ENGRAM_SCAN_GATE_SCALAR);
    s.g_lo = s.g_hi = 0.0;  // a gate of exp(0) = 1 is no decay
    check_forward(ctx_, s, false);
}

TEST_F(ScanTest, ResetGateForgetsThePast) {
    // g = -inf clears the state: outputs from there on do not depend on earlier
    // tokens, exactly as the recurrence says.
    for (int gate : {ENGRAM_SCAN_GATE_SCALAR, ENGRAM_SCAN_GATE_VECTOR}) {
        ScanSpec s = spec(1, 40, 1, 6, 5, gate, 16);
        s.initial_state = true;
        ScanData d = make_scan_data(s);
        const int64_t w = s.gate_width();
        for (int64_t c = 0; c < w; ++c) d.g[size_t(20 * w + c)] = -std::numeric_limits<float>::infinity();
        if (gate == ENGRAM_SCAN_GATE_VECTOR) d.g[size_t(33 * w + 2)] = -std::numeric_limits<float>::infinity();
        const ScanOut got = run_scan_forward(ctx_, d);
        const ScanRefResult rec = ref_scan_recurrent(d.ref());
        const ScanBounds bound = scan_bounds(d);
        EXPECT_TRUE(all_within("o", got.o, rec.o, bound.o, s.v_dim));
        EXPECT_TRUE(all_within("state", got.state, rec.state, bound.state, s.v_dim));
    }
}

// Each piece's final state is the next piece's initial state.
ScanOut run_split(Context& ctx, const ScanData& whole, int64_t cut) {
    ScanOut out;
    std::vector<float> state = whole.s0;
    const ScanSpec& s = whole.spec;
    for (int piece = 0; piece < 2; ++piece) {
        const int64_t t0 = piece == 0 ? 0 : cut, t1 = piece == 0 ? cut : s.t;
        ScanData d;
        d.spec = s;
        d.spec.t = t1 - t0;
        d.spec.initial_state = !state.empty();
        auto slice = [&](const std::vector<float>& x, int64_t per_token) {
            std::vector<float> r;
            for (int64_t b = 0; b < s.batch; ++b)
                r.insert(r.end(), x.begin() + (b * s.t + t0) * per_token, x.begin() + (b * s.t + t1) * per_token);
            return r;
        };
        d.q = slice(whole.q, s.hk() * s.k_dim);
        d.k = slice(whole.k, s.hk() * s.k_dim);
        d.v = slice(whole.v, s.heads * s.v_dim);
        d.g = slice(whole.g, s.heads * s.gate_width());
        d.s0 = state;
        d.encode();
        const ScanOut part = run_scan_forward(ctx, d);
        state = part.state;
        if (out.o.empty()) out.o.assign(size_t(s.batch * s.t * s.heads * s.v_dim), 0.0f);
        const int64_t row = s.heads * s.v_dim;
        for (int64_t b = 0; b < s.batch; ++b)
            std::copy(part.o.begin() + b * (t1 - t0) * row, part.o.begin() + (b + 1) * (t1 - t0) * row,
                      out.o.begin() + (b * s.t + t0) * row);
    }
    out.state = state;
    return out;
}

TEST_F(ScanTest, SplitWithStateEqualsOnePass) {
    for (int gate : kGates) {
        ScanSpec s = spec(2, 100, 2, 8, 7, gate, 16);
        s.initial_state = true;
        SCOPED_TRACE(s.label());
        const ScanData d = make_scan_data(s);
        const ScanOut one = run_scan_forward(ctx_, d);
        // Cut on a chunk boundary: the same chunks, the same state: bit for bit.
        const ScanOut aligned = run_split(ctx_, d, 48);
        EXPECT_EQ(0, std::memcmp(one.o.data(), aligned.o.data(), one.o.size() * 4));
        EXPECT_EQ(0, std::memcmp(one.state.data(), aligned.state.data(), one.state.size() * 4));
        // Anywhere else: equal up to the fp32 error model.
        const ScanOut ragged = run_split(ctx_, d, 37);
        const ScanRefResult rec = ref_scan_recurrent(d.ref());
        const ScanBounds bound = scan_bounds(d);
        EXPECT_TRUE(all_within("split o", ragged.o, rec.o, bound.o, s.v_dim));
        EXPECT_TRUE(all_within("split state", ragged.state, rec.state, bound.state, s.v_dim));
    }
}

TEST_F(ScanTest, DecodeStepsEqualTheRecurrence) {
    for (int gate : kGates)
        for (engram_dtype dt : {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_BF16}) {
            ScanSpec s = spec(2, 19, 4, 7, 6, gate);
            s.qk_heads = 2;
            s.dtype = dt;
            s.out_dtype = ENGRAM_DTYPE_F32;
            SCOPED_TRACE(s.label());
            const ScanData whole = make_scan_data(s);
            const ScanRefResult rec = ref_scan_recurrent(whole.ref());
            const ScanBounds bound = scan_bounds(whole);
            // State updated in place token by token, starting from NULL (zeros).
            Buffer state = ctx_.output(size_t(s.batch * s.heads * s.k_dim * s.v_dim) * 4);
            std::vector<float> o(size_t(s.batch * s.t * s.heads * s.v_dim));
            const size_t es = engram_dtype_size(dt);
            for (int64_t t = 0; t < s.t; ++t) {
                auto token = [&](const std::vector<uint8_t>& raw, int64_t per_token) {
                    std::vector<uint8_t> r;
                    for (int64_t b = 0; b < s.batch; ++b) {
                        const auto* p = raw.data() + size_t((b * s.t + t) * per_token) * es;
                        r.insert(r.end(), p, p + per_token * int64_t(es));
                    }
                    return r;
                };
                Buffer q = ctx_.upload(token(whole.q_raw, s.hk() * s.k_dim));
                Buffer k = ctx_.upload(token(whole.k_raw, s.hk() * s.k_dim));
                Buffer v = ctx_.upload(token(whole.v_raw, s.heads * s.v_dim));
                std::vector<float> g;
                const int64_t gw = s.heads * s.gate_width();
                for (int64_t b = 0; b < s.batch; ++b)
                    g.insert(g.end(), whole.g.begin() + (b * s.t + t) * gw, whole.g.begin() + (b * s.t + t + 1) * gw);
                Buffer gb = g.empty() ? Buffer() : ctx_.upload(g);
                ScanData one = whole;
                one.spec.t = 1;
                engram_scan_inputs in = scan_inputs(one, q, k, v, gb, Buffer());
                in.initial_state = t == 0 ? nullptr : state.as<float>();
                const engram_scan_options opts = scan_options(one.spec);
                Buffer ob = ctx_.output(size_t(s.batch * s.heads * s.v_dim) * 4);
                ASSERT_OK(engram_scan_linear_decode(ctx_.get(), &in, &opts, ob.get(), state.as<float>()));
                const std::vector<float> step = ob.floats();
                const int64_t row = s.heads * s.v_dim;
                for (int64_t b = 0; b < s.batch; ++b)
                    std::copy(step.begin() + b * row, step.begin() + (b + 1) * row, o.begin() + (b * s.t + t) * row);
            }
            EXPECT_TRUE(all_within("decode o", o, rec.o, bound.o, s.v_dim));
            EXPECT_TRUE(all_within("decode state", state.floats(), rec.state, bound.state, s.v_dim));
        }
}

TEST_F(ScanTest, BitIdenticalRunsAndThreadCounts) {
    for (int gate : kGates) {
        ScanSpec s = spec(3, 77, 3, 16, 12, gate, 16);
        s.initial_state = true;
        const ScanData d = make_scan_data(s);
        ASSERT_OK(engram_context_set_threads(ctx_.get(), 2));
        const ScanOut a = run_scan_forward(ctx_, d), b = run_scan_forward(ctx_, d);
        ASSERT_OK(engram_context_set_threads(ctx_.get(), 1));
        const ScanOut c = run_scan_forward(ctx_, d);
        ASSERT_OK(engram_context_set_threads(ctx_.get(), 3));
        const ScanOut e = run_scan_forward(ctx_, d);
        for (const ScanOut* x : {&b, &c, &e}) {
            EXPECT_EQ(0, std::memcmp(a.o.data(), x->o.data(), a.o.size() * 4)) << "gate " << gate;
            EXPECT_EQ(0, std::memcmp(a.state.data(), x->state.data(), a.state.size() * 4)) << "gate " << gate;
        }
    }
}

TEST_F(ScanTest, OpStatsCountChunksAndScratchIsReleased) {
    ScanSpec s = spec(2, 100, 3, 8, 8, ENGRAM_SCAN_GATE_SCALAR, 16);
    const ScanData d = make_scan_data(s);
    run_scan_forward(ctx_, d);
    engram_op_stats st;
    engram_op_stats_init(&st);
    ASSERT_OK(engram_context_get_op_stats(ctx_.get(), &st));
    EXPECT_EQ(ENGRAM_OP_SCAN_LINEAR_FORWARD, st.op);
    EXPECT_EQ(uint64_t(2 * 3 * 7), op_counter(st, "chunks"));  // ceil(100 / 16) = 7 per head
    engram_memory_stats m;
    engram_memory_stats_init(&m);
    ASSERT_OK(engram_context_get_memory_stats(ctx_.get(), &m));
    EXPECT_EQ(0u, m.current_bytes);
    EXPECT_GT(m.peak_bytes, 0u);
}

// ---------------------------------------------------------------------------
// Non-finite inputs, as engram_scan.h documents them.

TEST_F(ScanTest, NanInGatePoisonsLaterTokensOnly) {
    for (int gate : {ENGRAM_SCAN_GATE_SCALAR, ENGRAM_SCAN_GATE_VECTOR})
        for (bool reset_after : {false, true}) {
            ScanSpec s = spec(1, 50, 2, 4, 3, gate, 16);
            ScanData d = make_scan_data(s);
            const int64_t w = s.gate_width(), nan_at = 21;
            // Head 0 only; channel 1 for the vector gate.
            d.g[size_t((nan_at * s.heads) * w + (w > 1 ? 1 : 0))] = std::numeric_limits<float>::quiet_NaN();
            if (reset_after)
                for (int64_t c = 0; c < w; ++c)
                    d.g[size_t((40 * s.heads) * w + c)] = -std::numeric_limits<float>::infinity();
            const ScanOut got = run_scan_forward(ctx_, d);
            for (int64_t t = 0; t < s.t; ++t)
                for (int64_t h = 0; h < s.heads; ++h)
                    for (int64_t x = 0; x < s.v_dim; ++x) {
                        const float o = got.o[size_t((t * s.heads + h) * s.v_dim + x)];
                        if (h == 0 && t >= nan_at)
                            EXPECT_TRUE(std::isnan(o)) << "t " << t << " x " << x;
                        else
                            EXPECT_TRUE(std::isfinite(o)) << "t " << t << " h " << h << " x " << x;
                    }
            // Head 0's final state is NaN: all of it for the scalar gate,
            // the row of the NaN channel for the vector gate (rows decay
            // independently); head 1 is untouched.
            for (int64_t i = 0; i < s.k_dim * s.v_dim; ++i) {
                const bool row_hit = gate == ENGRAM_SCAN_GATE_SCALAR || i / s.v_dim == 1;
                EXPECT_EQ(row_hit, std::isnan(got.state[size_t(i)])) << "state entry " << i;
                EXPECT_TRUE(std::isfinite(got.state[size_t(s.k_dim * s.v_dim + i)]));
            }
        }
}

TEST_F(ScanTest, NanInQKVSpreadsAsTheRecurrence) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (int gate : kGates) {
        ScanSpec s = spec(1, 40, 1, 5, 4, gate, 16);
        for (int which = 0; which < 3; ++which) {
            ScanData d = make_scan_data(s);
            const int64_t at = 17;
            if (which == 0) d.q[size_t(at * s.k_dim + 2)] = nan;
            if (which == 1) d.k[size_t(at * s.k_dim + 2)] = nan;
            if (which == 2) d.v[size_t(at * s.v_dim + 1)] = nan;
            d.encode();
            const ScanOut got = run_scan_forward(ctx_, d);
            const ScanRefResult rec = ref_scan_recurrent(d.ref());
            for (size_t i = 0; i < got.o.size(); ++i)
                EXPECT_EQ(std::isnan(rec.o[i]), std::isnan(got.o[i]))
                    << "gate " << gate << " nan in " << "qkv"[which] << " entry " << i;
            // The documented pattern: q -> token `at` only; k -> every later
            // token; v column 1 -> column 1 of every later token.
            for (int64_t t = 0; t < s.t; ++t)
                for (int64_t x = 0; x < s.v_dim; ++x) {
                    const bool want = which == 0 ? t == at : which == 1 ? t >= at : t >= at && x == 1;
                    EXPECT_EQ(want, std::isnan(got.o[size_t(t * s.v_dim + x)])) << "t " << t << " x " << x;
                }
        }
    }
}

}  // namespace
}  // namespace engram_test
