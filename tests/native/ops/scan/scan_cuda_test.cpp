// scan_cuda_test.cpp — the linear scan's forward and decode on every backend
// (CPU and CUDA, BackendTest) against the float64 token-by-token recurrence:
// every gate and dtype, value columns past one 32-column tile of the CUDA
// forward, K up to 256 (its largest shared-memory layout), chunk sizes below,
// at and above the CUDA device chunk (16), grouped heads, an initial state,
// resets (g = -inf), NaN in the gate, decode in place, determinism. The CUDA
// cases skip on a machine without a device; the CPU cases run the same
// checks here.
#include <cmath>
#include <cstring>
#include <limits>

#include "scan_harness.hpp"

namespace engram_test {
namespace {

class ScanBackendTest : public BackendTest {
protected:
    void check_forward(const ScanSpec& s, ScanData* data = nullptr) {
        SCOPED_TRACE(s.label());
        const ScanData d = data ? *data : make_scan_data(s);
        const ScanOut got = run_scan_forward(ctx(), d);
        const ScanRefResult rec = ref_scan_recurrent(d.ref());
        const ScanBounds bound = scan_bounds(d);
        EXPECT_TRUE(all_within("o vs recurrence", got.o, rec.o, bound.o, s.v_dim)) << s.label();
        EXPECT_TRUE(all_within("final state vs recurrence", got.state, rec.state, bound.state, s.v_dim))
            << s.label();
    }
};

ScanSpec spec(int64_t b, int64_t t, int64_t h, int64_t k, int64_t v, int gate, int32_t chunk = 0) {
    ScanSpec s;
    s.batch = b;
    s.t = t;
    s.heads = h;
    s.k_dim = k;
    s.v_dim = v;
    s.gate = gate;
    s.chunk = chunk;
    s.seed = uint64_t(b * 1000003 + t * 1009 + h * 101 + k * 13 + v * 7 + gate * 3 + chunk + 77);
    return s;
}

const int kGates[] = {ENGRAM_SCAN_GATE_NONE, ENGRAM_SCAN_GATE_SCALAR, ENGRAM_SCAN_GATE_VECTOR};

}  // namespace

TEST_P(ScanBackendTest, ForwardShapesAndChunks) {
    for (int gate : kGates) {
        check_forward(spec(1, 1, 1, 4, 4, gate));
        check_forward(spec(2, 37, 3, 5, 33, gate, 7));   // V: a full and a partial column tile
        check_forward(spec(1, 50, 2, 16, 64, gate, 16)); // device chunk = requested
        check_forward(spec(1, 70, 1, 3, 1, gate, 1));    // one-token chunks
        check_forward(spec(2, 45, 2, 8, 9, gate, 64));   // requested > device chunk
        if (HasFailure()) return;
    }
}

TEST_P(ScanBackendTest, LargestHeadDims) {
    for (int gate : kGates) {
        check_forward(spec(1, 20, 1, 256, 7, gate, 16));
        check_forward(spec(1, 9, 2, 128, 256, gate));
    }
}

TEST_P(ScanBackendTest, DtypesGroupedHeadsInitialStateScale) {
    for (int gate : kGates)
        for (engram_dtype dt : {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16})
            for (bool f32_out : {false, true}) {
                ScanSpec s = spec(2, 23, 4, 12, 40, gate, 5);
                s.qk_heads = 2;
                s.dtype = dt;
                s.out_dtype = f32_out ? ENGRAM_DTYPE_F32 : ENGRAM_SCAN_OUTPUT_DTYPE_INPUT;
                s.initial_state = true;
                s.scale = 0.3f;
                s.seed += uint64_t(dt) * 17 + (f32_out ? 1 : 0);
                check_forward(s);
                if (HasFailure()) return;
            }
}

// g = -inf at some tokens (inside a chunk and at a chunk's first token):
// the state restarts there, as in the recurrence.
TEST_P(ScanBackendTest, ResetGate) {
    for (int gate : {ENGRAM_SCAN_GATE_SCALAR, ENGRAM_SCAN_GATE_VECTOR}) {
        ScanSpec s = spec(1, 40, 2, 6, 5, gate, 16);
        s.initial_state = true;
        ScanData d = make_scan_data(s);
        const int64_t w = s.gate_width();
        for (int64_t t : {5, 16, 33})
            for (int64_t h = 0; h < s.heads; ++h)
                for (int64_t c = 0; c < w; ++c)
                    if (gate == ENGRAM_SCAN_GATE_SCALAR || c % 2 == 0)
                        d.g[size_t((t * s.heads + h) * w + c)] = -std::numeric_limits<float>::infinity();
        check_forward(s, &d);
    }
}

// NaN in g at token s of head 0: o of head 0 NaN from s on, earlier tokens
// and head 1 finite.
TEST_P(ScanBackendTest, NanInGatePoisonsLaterTokensOnly) {
    ScanSpec s = spec(1, 30, 2, 4, 3, ENGRAM_SCAN_GATE_SCALAR, 8);
    ScanData d = make_scan_data(s);
    const int64_t bad = 11;
    d.g[size_t(bad * s.heads + 0)] = std::numeric_limits<float>::quiet_NaN();
    const ScanOut got = run_scan_forward(ctx(), d);
    for (int64_t t = 0; t < s.t; ++t)
        for (int64_t h = 0; h < s.heads; ++h)
            for (int64_t x = 0; x < s.v_dim; ++x) {
                const float o = got.o[size_t((t * s.heads + h) * s.v_dim + x)];
                EXPECT_EQ(h == 0 && t >= bad, std::isnan(o)) << "t " << t << " h " << h << " x " << x;
            }
}

// Token-by-token decode with the state updated in place equals the recurrence.
TEST_P(ScanBackendTest, DecodeStepsEqualTheRecurrence) {
    for (int gate : kGates)
        for (engram_dtype dt : {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16}) {
            ScanSpec s = spec(2, 19, 4, 7, 37, gate);
            s.qk_heads = 2;
            s.dtype = dt;
            s.out_dtype = ENGRAM_DTYPE_F32;
            SCOPED_TRACE(s.label());
            const ScanData whole = make_scan_data(s);
            const ScanRefResult rec = ref_scan_recurrent(whole.ref());
            const ScanBounds bound = scan_bounds(whole);
            Buffer state = ctx().output(size_t(s.batch * s.heads * s.k_dim * s.v_dim) * 4);
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
                Buffer q = ctx().upload(token(whole.q_raw, s.hk() * s.k_dim));
                Buffer k = ctx().upload(token(whole.k_raw, s.hk() * s.k_dim));
                Buffer v = ctx().upload(token(whole.v_raw, s.heads * s.v_dim));
                std::vector<float> g;
                const int64_t gw = s.heads * s.gate_width();
                for (int64_t b = 0; b < s.batch; ++b)
                    g.insert(g.end(), whole.g.begin() + (b * s.t + t) * gw,
                             whole.g.begin() + (b * s.t + t + 1) * gw);
                Buffer gb = g.empty() ? Buffer() : ctx().upload(g);
                ScanData one = whole;
                one.spec.t = 1;
                engram_scan_inputs in = scan_inputs(one, q, k, v, gb, Buffer());
                in.initial_state = t == 0 ? nullptr : state.as<float>();
                const engram_scan_options opts = scan_options(one.spec);
                Buffer ob = ctx().output(size_t(s.batch * s.heads * s.v_dim) * 4);
                ASSERT_OK(engram_scan_linear_decode(ctx().get(), &in, &opts, ob.get(), state.as<float>()));
                const std::vector<float> step = ob.floats();
                const int64_t row = s.heads * s.v_dim;
                for (int64_t b = 0; b < s.batch; ++b)
                    std::copy(step.begin() + b * row, step.begin() + (b + 1) * row,
                              o.begin() + (b * s.t + t) * row);
            }
            EXPECT_TRUE(all_within("decode o", o, rec.o, bound.o, s.v_dim));
            EXPECT_TRUE(all_within("decode state", state.floats(), rec.state, bound.state, s.v_dim));
            if (HasFailure()) return;
        }
}

TEST_P(ScanBackendTest, BitIdenticalRuns) {
    for (int gate : kGates) {
        const ScanData d = make_scan_data(spec(2, 41, 3, 9, 35, gate, 16));
        const ScanOut a = run_scan_forward(ctx(), d), b = run_scan_forward(ctx(), d);
        ASSERT_EQ(a.o.size(), b.o.size());
        EXPECT_EQ(0, std::memcmp(a.o.data(), b.o.data(), a.o.size() * 4));
        EXPECT_EQ(0, std::memcmp(a.state.data(), b.state.data(), a.state.size() * 4));
    }
}

ENGRAM_INSTANTIATE_BACKENDS(ScanBackendTest);

}  // namespace engram_test
