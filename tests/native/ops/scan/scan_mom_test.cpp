// scan_mom_test.cpp — Mixture-of-Memories on the CPU against the float64
// references (scan_mom_reference.hpp, scan_reference.hpp): route (selection,
// weights, grouping, capacity), gather and combine, a whole MoM layer forward
// through per-segment linear scans plus the shared memory, the decode step,
// determinism for 1/2/3 threads, and the NaN contract.
#include <cmath>
#include <limits>

#include "ops/scan/reference/scan_reference.hpp"
#include "scan_mom_harness.hpp"

namespace engram_test {
namespace {

// Route: the selection and grouping exactly as the reference, the weights
// within fp32 rounding (the library's double softmax rounded once, the
// reference's renormalised full softmax: a few ulp of fp32 apart at most).
void check_route(Context& ctx, const MomSpec& s, const std::vector<float>& z) {
    SCOPED_TRACE(s.label());
    const MomRefRoute ref = ref_mom_route(mom_ref_routing(s, z));
    const MomRouteResult got = run_mom_route(ctx, s, z);
    EXPECT_EQ(ref.indices, got.indices);
    EXPECT_EQ(ref.slots, got.slots);
    EXPECT_EQ(ref.offsets, got.offsets);
    EXPECT_EQ(ref.gather_index, got.gather_index);
    std::vector<double> bound;
    for (double w : ref.weights) bound.push_back(std::ldexp(1.0, -22) * std::fabs(w) + 1e-30);
    EXPECT_TRUE(all_within("weights", got.weights, ref.weights, bound, s.top_k));
}

TEST(ScanMom, RouteMatchesReference) {
    Context ctx(ENGRAM_BACKEND_CPU);
    const MomSpec specs[] = {
        {1, 1, 1, 1, 0.0f}, {2, 37, 5, 2, 0.0f},  {3, 17, 7, 3, 1.0f}, {1, 64, 4, 2, 0.5f},
        {2, 13, 8, 8, 0.0f}, {1, 29, 3, 1, 1.25f}, {2, 5, 11, 4, 0.01f},
    };
    for (engram_dtype dt : {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16})
        for (MomSpec s : specs) {
            s.dtype = dt;
            s.seed = uint64_t(s.t * 31 + s.memories);
            check_route(ctx, s, mom_logits(s));
        }
}

// Ties (bf16 logits drawn from a few values) rank by lower index, as torch.topk.
TEST(ScanMom, RouteTiesByLowerIndex) {
    Context ctx(ENGRAM_BACKEND_CPU);
    MomSpec s{2, 19, 6, 3, 0.0f, ENGRAM_DTYPE_BF16, 5};
    std::vector<float> z = mom_logits(s);
    for (float& x : z) x = std::round(x);  // many equal logits
    check_route(ctx, s, z);
}

// A memory no token picks: an empty segment; every token on one memory: one
// segment with all of them, and with a capacity the latest dropped.
TEST(ScanMom, EmptyMemoryAndAllOnOne) {
    Context ctx(ENGRAM_BACKEND_CPU);
    MomSpec s{2, 23, 5, 2, 0.0f};
    std::vector<float> z = mom_logits(s);
    for (int64_t n = 0; n < s.tokens(); ++n) z[size_t(n * 5 + 3)] = -50.0f;  // memory 3: nobody
    check_route(ctx, s, z);
    const MomRouteResult r = run_mom_route(ctx, s, z);
    EXPECT_EQ(r.offsets[3], r.offsets[4]);
    EXPECT_EQ(r.offsets[5 + 3], r.offsets[5 + 4]);

    MomSpec one{2, 23, 4, 1, 0.0f};
    std::vector<float> z1 = mom_logits(one);
    for (int64_t n = 0; n < one.tokens(); ++n) z1[size_t(n * 4 + 2)] = 40.0f;
    check_route(ctx, one, z1);
    const MomRouteResult a = run_mom_route(ctx, one, z1);
    const std::vector<int32_t> want_off = {0, 0, 0, 23, 23, 23, 23, 46, 46};
    EXPECT_EQ(want_off, a.offsets);
    for (float w : a.weights) EXPECT_EQ(1.0f, w);

    one.capacity_factor = 1.0f;  // capacity ceil(23 * 1 / 4) = 6 per segment
    check_route(ctx, one, z1);
    const MomRouteResult c = run_mom_route(ctx, one, z1);
    EXPECT_EQ(12, c.offsets.back());
    for (int64_t n = 0; n < one.tokens(); ++n) {
        const bool kept = n % 23 < 6;
        EXPECT_EQ(kept ? 1.0f : 0.0f, c.weights[size_t(n)]) << n;
        EXPECT_EQ(kept, c.slots[size_t(n)] >= 0) << n;
    }
}

// Gather, then combine with the shared memory's rows, every dtype.
TEST(ScanMom, GatherAndCombine) {
    Context ctx(ENGRAM_BACKEND_CPU);
    for (engram_dtype dt : {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16})
        for (float cf : {0.0f, 0.75f})
            for (bool shared : {false, true}) {
                MomSpec s{2, 11, 5, 3, cf, dt, 7};
                SCOPED_TRACE(s.label() + (shared ? " shared" : ""));
                const std::vector<float> z = mom_logits(s);
                const MomRouteResult rt = run_mom_route(ctx, s, z);
                const int64_t n = s.tokens(), k = s.top_k, d = 13;
                Rng rng(3);
                std::vector<float> x(size_t(n * d)), mo(size_t(n * k * d)), sh(shared ? size_t(n * d) : 0);
                for (auto* v : {&x, &mo, &sh})
                    for (float& e : *v) e = round_to(dt, float(rng.normal()));
                const engram_scan_mom_rows rows = mom_rows(dt, n, k, d);
                Buffer xb = ctx.upload(encode_floats(dt, x)), gi = ctx.upload(rt.gather_index);
                Buffer packed = ctx.output(size_t(n * k * d) * engram_dtype_size(dt));
                ASSERT_OK(engram_scan_mom_gather(ctx.get(), &rows, xb.get(), gi.as<int32_t>(), packed.get()));
                const std::vector<double> xd(x.begin(), x.end());
                const std::vector<double> want = ref_mom_gather(n, k, d, xd, rt.gather_index);
                EXPECT_TRUE(all_close("packed", packed.floats(dt), want, Tol{0.0, 0.0}, d));

                Buffer mb = ctx.upload(encode_floats(dt, mo)), sl = ctx.upload(rt.slots),
                       wb = ctx.upload(rt.weights);
                Buffer shb = shared ? ctx.upload(encode_floats(dt, sh)) : Buffer();
                Buffer y = ctx.output(size_t(n * d) * engram_dtype_size(dt));
                ASSERT_OK(engram_scan_mom_combine(ctx.get(), &rows, mb.get(), sl.as<int32_t>(), wb.as<float>(),
                                                  shb.get(), y.get()));
                const std::vector<double> mod(mo.begin(), mo.end()), wd(rt.weights.begin(), rt.weights.end()),
                    shd(sh.begin(), sh.end());
                const std::vector<double> yr = ref_mom_combine(n, k, d, mod, rt.slots, wd, shd);
                // fp32 sum of k + 1 terms, rounded once to the dtype.
                std::vector<double> ab;
                std::vector<double> absmo(mod.size()), abssh(shd.size());
                for (size_t i = 0; i < mod.size(); ++i) absmo[i] = std::fabs(mod[i]);
                for (size_t i = 0; i < shd.size(); ++i) abssh[i] = std::fabs(shd[i]);
                const std::vector<double> mag = ref_mom_combine(n, k, d, absmo, rt.slots, wd, abssh);
                for (size_t i = 0; i < yr.size(); ++i)
                    ab.push_back(double(k + 2) * std::ldexp(1.0, -24) * mag[i] +
                                 (dt == ENGRAM_DTYPE_F32 ? 0.0 : dtype_eps(dt)) * std::fabs(yr[i]) * 1.01 + 1e-30);
                EXPECT_TRUE(all_within("y", y.floats(dt), yr, ab, d));
            }
}

// A whole MoM layer forward: route, gather q/k/v per memory, one linear scan
// per (sequence, memory) segment (batch 1 on the segment's rows: a memory's
// state sees only its own tokens), combine with the shared memory's scan over
// the whole sequence; against the float64 recurrence run the same way.
TEST(ScanMom, LayerForwardThroughSegmentScans) {
    Context ctx(ENGRAM_BACKEND_CPU);
    MomSpec s{2, 21, 4, 2, 0.0f, ENGRAM_DTYPE_F32, 11};
    const int64_t H = 2, K = 5, V = 3, n = s.tokens(), k = s.top_k;
    const std::vector<float> z = mom_logits(s);
    for (size_t i = 0; i < z.size(); i += 4) const_cast<float&>(z[i + 1]) = -60.0f;  // memory 1 empty
    const MomRouteResult rt = run_mom_route(ctx, s, z);
    Rng rng(12);
    std::vector<float> q(size_t(n * H * K)), kk(size_t(n * H * K)), v(size_t(n * H * V));
    for (auto* x : {&q, &kk, &v})
        for (float& e : *x) e = float(rng.normal());
    auto gather = [&](const std::vector<float>& x, int64_t d) {
        const engram_scan_mom_rows rows = mom_rows(ENGRAM_DTYPE_F32, n, k, d);
        Buffer xb = ctx.upload(x), gi = ctx.upload(rt.gather_index);
        Buffer out = ctx.output(size_t(n * k * d) * 4);
        EXPECT_OK(engram_scan_mom_gather(ctx.get(), &rows, xb.get(), gi.as<int32_t>(), out.get()));
        return out.floats();
    };
    const std::vector<float> pq = gather(q, H * K), pk = gather(kk, H * K), pv = gather(v, H * V);
    std::vector<float> po(size_t(n * k * H * V), 0.0f);
    std::vector<double> po_ref(po.size(), 0.0);
    int empty = 0;
    for (int64_t seg = 0; seg < s.batch * s.memories; ++seg) {
        const int64_t a = rt.offsets[size_t(seg)], len = rt.offsets[size_t(seg + 1)] - a;
        if (len == 0) { ++empty; continue; }
        Buffer qb = ctx.upload(pq.data() + a * H * K, size_t(len * H * K) * 4);
        Buffer kb = ctx.upload(pk.data() + a * H * K, size_t(len * H * K) * 4);
        Buffer vb = ctx.upload(pv.data() + a * H * V, size_t(len * H * V) * 4);
        Buffer ob = ctx.output(size_t(len * H * V) * 4);
        engram_scan_inputs in;
        engram_scan_inputs_init(&in);
        in.batch = 1; in.t = len; in.heads = H; in.k_dim = K; in.v_dim = V;
        in.q = qb.get(); in.k = kb.get(); in.v = vb.get();
        ASSERT_OK(engram_scan_linear_forward(ctx.get(), &in, nullptr, ob.get(), nullptr));
        const std::vector<float> o = ob.floats();
        std::copy(o.begin(), o.end(), po.begin() + a * H * V);
        ScanRefProblem rp;
        rp.t = len; rp.heads = H; rp.qk_heads = H; rp.k_dim = K; rp.v_dim = V;
        rp.scale = double(float(1.0 / std::sqrt(double(K))));
        rp.q.assign(pq.begin() + a * H * K, pq.begin() + (a + len) * H * K);
        rp.k.assign(pk.begin() + a * H * K, pk.begin() + (a + len) * H * K);
        rp.v.assign(pv.begin() + a * H * V, pv.begin() + (a + len) * H * V);
        const ScanRefResult rr = ref_scan_recurrent(rp);
        std::copy(rr.o.begin(), rr.o.end(), po_ref.begin() + a * H * V);
    }
    EXPECT_EQ(2, empty);  // memory 1 of both sequences
    // Shared memory: the plain scan over each whole sequence.
    engram_scan_inputs in;
    engram_scan_inputs_init(&in);
    Buffer qb = ctx.upload(q), kb = ctx.upload(kk), vb = ctx.upload(v), sb = ctx.output(size_t(n * H * V) * 4);
    in.batch = s.batch; in.t = s.t; in.heads = H; in.k_dim = K; in.v_dim = V;
    in.q = qb.get(); in.k = kb.get(); in.v = vb.get();
    ASSERT_OK(engram_scan_linear_forward(ctx.get(), &in, nullptr, sb.get(), nullptr));
    ScanRefProblem rp;
    rp.batch = s.batch; rp.t = s.t; rp.heads = H; rp.qk_heads = H; rp.k_dim = K; rp.v_dim = V;
    rp.scale = double(float(1.0 / std::sqrt(double(K))));
    rp.q.assign(q.begin(), q.end()); rp.k.assign(kk.begin(), kk.end()); rp.v.assign(v.begin(), v.end());
    const std::vector<double> shared_ref = ref_scan_recurrent(rp).o;

    const engram_scan_mom_rows rows = mom_rows(ENGRAM_DTYPE_F32, n, k, H * V);
    Buffer mo = ctx.upload(po), sl = ctx.upload(rt.slots), wb = ctx.upload(rt.weights), y = ctx.output(size_t(n * H * V) * 4);
    ASSERT_OK(engram_scan_mom_combine(ctx.get(), &rows, mo.get(), sl.as<int32_t>(), wb.as<float>(), sb.get(), y.get()));
    const std::vector<double> wd(rt.weights.begin(), rt.weights.end());
    const std::vector<double> y_ref = ref_mom_combine(n, k, H * V, po_ref, rt.slots, wd, shared_ref);
    // Each output sums at most T terms of |q||k||v|/sqrt(K) ~ 10 each: fp32
    // error well below 1e-4 absolute at these sizes (the linear scan's own
    // error model, tests/native/ops/scan, bounds it per entry far tighter).
    EXPECT_TRUE(all_close("y", y.floats(), y_ref, Tol{2e-4, 1e-5}, H * V));
}

// Decode: token by token, states in place; only the chosen memories and the
// shared one change, outputs against the float64 recurrence per memory.
TEST(ScanMom, DecodeStepsOnlyChosenMemories) {
    Context ctx(ENGRAM_BACKEND_CPU);
    for (engram_dtype dt : {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_BF16})
        for (int gate : {0, 1, 2})
            for (int shared : {0, 1}) {
                const int64_t B = 2, M = 5, k = 2, H = 4, Hk = 2, K = 3, V = 4, S = M + shared, steps = 4;
                SCOPED_TRACE(std::string(dtype_label(dt)) + " gate" + std::to_string(gate) + " shared" + std::to_string(shared));
                const int64_t gw = gate == 0 ? 0 : gate == 1 ? 1 : K;
                std::vector<float> states(size_t(B * S * H * K * V), 0.0f);
                std::vector<double> ref_states(states.size(), 0.0), abs_states(states.size(), 0.0);
                Buffer st = ctx.upload(states);
                Rng rng(uint64_t(40 + gate + 3 * shared));
                const float scale = float(1.0 / std::sqrt(double(K)));
                for (int64_t step = 0; step < steps; ++step) {
                    auto draw = [&](int64_t count) {
                        std::vector<float> x(static_cast<size_t>(count));
                        for (float& e : x) e = round_to(dt, float(rng.normal()));
                        return x;
                    };
                    std::vector<float> lg = draw(B * M), q = draw(B * Hk * K), kk = draw(B * S * Hk * K), v = draw(B * S * H * V);
                    std::vector<float> g(size_t(B * S * H * gw));
                    for (float& e : g) e = float(rng.uniform(-0.5, 0.0));
                    Buffer lb = ctx.upload(encode_floats(dt, lg)), qb = ctx.upload(encode_floats(dt, q)),
                           kb = ctx.upload(encode_floats(dt, kk)), vb = ctx.upload(encode_floats(dt, v));
                    Buffer gb = gw ? ctx.upload(g) : Buffer();
                    Buffer ob = ctx.output(size_t(B * H * V) * 4), ib = ctx.output(size_t(B * k) * 4), wb = ctx.output(size_t(B * k) * 4);
                    engram_scan_mom_decode_inputs in;
                    engram_scan_mom_decode_inputs_init(&in);
                    in.dtype = dt; in.gate = gate; in.shared_memory = shared; in.batch = B; in.memories = M;
                    in.top_k = k; in.heads = H; in.qk_heads = Hk; in.k_dim = K; in.v_dim = V;
                    in.logits = lb.get(); in.q = qb.get(); in.k = kb.get(); in.v = vb.get(); in.g = gb.as<float>();
                    engram_scan_options opts;
                    engram_scan_options_init(&opts);
                    opts.output_dtype = ENGRAM_DTYPE_F32;
                    const std::vector<float> before = st.floats();
                    ASSERT_OK(engram_scan_mom_decode(ctx.get(), &in, &opts, st.as<float>(), ob.get(), ib.as<int32_t>(), wb.as<float>()));
                    const std::vector<int32_t> idx = ints(ib);
                    const std::vector<float> w = wb.floats(), after = st.floats(), o = ob.floats();
                    // The routing equals the route op's on the same logits.
                    MomSpec rs{B, 1, M, k, 0.0f, dt};
                    const MomRefRoute rr = ref_mom_route(mom_ref_routing(rs, lg));
                    EXPECT_EQ(rr.indices, idx);
                    std::vector<double> o_ref(size_t(B * H * V), 0.0), o_mag(o_ref.size(), 0.0);
                    for (int64_t b = 0; b < B; ++b)
                        for (int64_t mem = 0; mem < S; ++mem) {
                            double wt = mem == M ? 1.0 : 0.0;
                            bool chosen = mem == M;
                            for (int64_t j = 0; j < k; ++j)
                                if (idx[size_t(b * k + j)] == mem) { chosen = true; wt = rr.weights[size_t(b * k + j)]; }
                            const size_t base = size_t((b * S + mem) * H * K * V);
                            if (!chosen) {  // untouched, bit for bit
                                for (size_t e = base; e < base + size_t(H * K * V); ++e)
                                    ASSERT_EQ(0, std::memcmp(&before[e], &after[e], 4)) << "memory " << mem << " changed";
                                continue;
                            }
                            ScanRefProblem p;
                            p.t = 1; p.heads = H; p.qk_heads = Hk; p.k_dim = K; p.v_dim = V; p.gate = gate; p.scale = scale;
                            p.q.assign(q.begin() + b * Hk * K, q.begin() + (b + 1) * Hk * K);
                            p.k.assign(kk.begin() + (b * S + mem) * Hk * K, kk.begin() + (b * S + mem + 1) * Hk * K);
                            p.v.assign(v.begin() + (b * S + mem) * H * V, v.begin() + (b * S + mem + 1) * H * V);
                            p.g.assign(g.begin() + (b * S + mem) * H * gw, g.begin() + (b * S + mem + 1) * H * gw);
                            p.s0.assign(ref_states.begin() + long(base), ref_states.begin() + long(base) + H * K * V);
                            const ScanRefResult r = ref_scan_recurrent(p);
                            std::copy(r.state.begin(), r.state.end(), ref_states.begin() + long(base));
                            // The same step on absolute values: each entry's sum of |terms|.
                            for (auto* x : {&p.q, &p.k, &p.v}) for (double& e : *x) e = std::fabs(e);
                            p.s0.assign(abs_states.begin() + long(base), abs_states.begin() + long(base) + H * K * V);
                            const ScanRefResult ra = ref_scan_recurrent(p);
                            std::copy(ra.state.begin(), ra.state.end(), abs_states.begin() + long(base));
                            for (int64_t e = 0; e < H * V; ++e) {
                                o_ref[size_t(b * H * V + e)] += wt * r.o[size_t(e)];
                                o_mag[size_t(b * H * V + e)] += std::fabs(wt) * ra.o[size_t(e)];
                            }
                        }
                    // Error model of the linear scan's tests: fp32 sums of
                    // 2K + steps + k terms, times each entry's sum of |terms|.
                    const double unit = 4.0 * double(2 * K + steps + k + 8) * std::ldexp(1.0, -24);
                    std::vector<double> ob_bound, sb_bound;
                    for (double m : o_mag) ob_bound.push_back(unit * m + 1e-30);
                    EXPECT_TRUE(all_within("o", o, o_ref, ob_bound, V));
                    for (double x : abs_states) sb_bound.push_back(unit * x + 1e-30);
                    EXPECT_TRUE(all_within("states", after, ref_states, sb_bound, V));
                }
            }
}

// Bit-identical for 1, 2, 3 threads: route, combine, decode.
TEST(ScanMom, DeterministicOverThreads) {
    MomSpec s{3, 41, 6, 3, 0.7f, ENGRAM_DTYPE_F32, 9};
    const std::vector<float> z = mom_logits(s);
    std::vector<MomRouteResult> runs;
    std::vector<std::vector<float>> ys;
    for (int threads : {1, 2, 3, 1}) {
        Context ctx(ENGRAM_BACKEND_CPU);
        ASSERT_OK(engram_context_set_threads(ctx.get(), threads));
        runs.push_back(run_mom_route(ctx, s, z));
        const int64_t n = s.tokens(), k = s.top_k, d = 9;
        Rng rng(2);
        std::vector<float> mo(size_t(n * k * d));
        for (float& e : mo) e = float(rng.normal());
        const engram_scan_mom_rows rows = mom_rows(ENGRAM_DTYPE_F32, n, k, d);
        Buffer mb = ctx.upload(mo), sl = ctx.upload(runs.back().slots), wb = ctx.upload(runs.back().weights),
               y = ctx.output(size_t(n * d) * 4);
        ASSERT_OK(engram_scan_mom_combine(ctx.get(), &rows, mb.get(), sl.as<int32_t>(), wb.as<float>(), nullptr, y.get()));
        ys.push_back(y.floats());
    }
    for (size_t i = 1; i < runs.size(); ++i) {
        EXPECT_EQ(runs[0].slots, runs[i].slots);
        EXPECT_EQ(runs[0].gather_index, runs[i].gather_index);
        EXPECT_EQ(0, std::memcmp(runs[0].weights.data(), runs[i].weights.data(), runs[0].weights.size() * 4));
        EXPECT_EQ(0, std::memcmp(ys[0].data(), ys[i].data(), ys[0].size() * 4));
    }
}

// NaN in a token's logits: that token's weights are all NaN (torch.softmax),
// it ranks NaN first (torch.topk), and combine makes only that token's y NaN.
// All chosen logits -inf: NaN weights too.
TEST(ScanMom, NanContract) {
    Context ctx(ENGRAM_BACKEND_CPU);
    MomSpec s{1, 6, 4, 2, 0.0f};
    std::vector<float> z = mom_logits(s);
    z[2 * 4 + 3] = std::numeric_limits<float>::quiet_NaN();
    for (int m = 0; m < 4; ++m) z[size_t(4 * 4 + m)] = -std::numeric_limits<float>::infinity();
    const MomRouteResult r = run_mom_route(ctx, s, z);
    EXPECT_EQ(3, r.indices[2 * 2]);
    for (int64_t n = 0; n < s.tokens(); ++n)
        for (int j = 0; j < 2; ++j)
            EXPECT_EQ(n == 2 || n == 4, std::isnan(r.weights[size_t(n * 2 + j)])) << n;
    const int64_t d = 3;
    const engram_scan_mom_rows rows = mom_rows(ENGRAM_DTYPE_F32, s.tokens(), 2, d);
    Buffer mb = ctx.upload(std::vector<float>(size_t(s.tokens() * 2 * d), 1.0f)), sl = ctx.upload(r.slots),
           wb = ctx.upload(r.weights), y = ctx.output(size_t(s.tokens() * d) * 4);
    ASSERT_OK(engram_scan_mom_combine(ctx.get(), &rows, mb.get(), sl.as<int32_t>(), wb.as<float>(), nullptr, y.get()));
    const std::vector<float> yv = y.floats();
    for (int64_t n = 0; n < s.tokens(); ++n)
        for (int64_t c = 0; c < d; ++c) EXPECT_EQ(n == 2 || n == 4, std::isnan(yv[size_t(n * d + c)])) << n;
}

}  // namespace
}  // namespace engram_test
