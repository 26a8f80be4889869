// scan_titans_test.cpp — the Titans neural memory on the CPU against the
// float64 recurrence (scan_titans_reference.hpp): awkward shapes, grouped
// heads, every dtype, initial memory and surprise; split with state and the
// decode step in place equal one pass bit for bit; NaN; threads; bad input.
#include <cmath>
#include <limits>

#include "ops/scan/reference/scan_titans_reference.hpp"
#include "test_util.hpp"

namespace engram_test {
namespace {

struct TitansCase {
    int64_t b = 1, t = 1, h = 1, hk = 1, k = 4, v = 4;
    engram_dtype dt = ENGRAM_DTYPE_F32;
    bool init = false;
};

// Values as the library reads them, plus buffers and the call.
struct TitansData {
    TitansCase c;
    std::vector<float> q, k, v, eta, theta, alpha, m0, s0;

    TitansData(const TitansCase& cs, uint64_t seed) : c(cs) {
        Rng rng(seed);
        auto draw = [&](int64_t n, double sd, bool round) {
            std::vector<float> x(static_cast<size_t>(n));
            for (float& e : x) e = round ? round_to(c.dt, float(sd * rng.normal())) : float(sd * rng.normal());
            return x;
        };
        const double ks = 1.0 / std::sqrt(double(c.k));  // keys of norm ~1: a stable memory
        q = draw(c.b * c.t * c.hk * c.k, 1.0, true);
        k = draw(c.b * c.t * c.hk * c.k, ks, true);
        v = draw(c.b * c.t * c.h * c.v, 1.0, true);
        auto gate = [&](double lo, double hi) {
            std::vector<float> x(static_cast<size_t>(c.b * c.t * c.h));
            for (float& e : x) e = float(rng.uniform(lo, hi));
            return x;
        };
        eta = gate(0.5, 0.95);
        theta = gate(0.0, 0.3);
        alpha = gate(0.0, 0.1);
        if (c.init) {
            m0 = draw(c.b * c.h * c.k * c.v, 0.5, false);
            s0 = draw(c.b * c.h * c.k * c.v, 0.1, false);
        }
    }
    TitansRefProblem ref(bool magnitude = false) const {
        TitansRefProblem p;
        p.batch = c.b; p.t = c.t; p.heads = c.h; p.qk_heads = c.hk; p.k_dim = c.k; p.v_dim = c.v;
        p.q.assign(q.begin(), q.end()); p.k.assign(k.begin(), k.end()); p.v.assign(v.begin(), v.end());
        p.eta.assign(eta.begin(), eta.end()); p.theta.assign(theta.begin(), theta.end());
        p.alpha.assign(alpha.begin(), alpha.end());
        p.m0.assign(m0.begin(), m0.end()); p.s0.assign(s0.begin(), s0.end());
        p.magnitude = magnitude;
        return p;
    }
};

struct TitansRun {
    std::vector<float> o, memory, surprise;
};

// Forward over tokens [t0, t0 + n) of every sequence (n = T: one pass), from
// the given memory and surprise (empty: the data's initial ones).
TitansRun run_forward(Context& ctx, const TitansData& d, int64_t t0, int64_t n, const std::vector<float>& m_in,
                      const std::vector<float>& s_in, bool decode = false) {
    const TitansCase& c = d.c;
    auto slice = [&](const std::vector<float>& x, int64_t per_token) {
        std::vector<float> r;
        for (int64_t b = 0; b < c.b; ++b)
            r.insert(r.end(), x.begin() + (b * c.t + t0) * per_token, x.begin() + (b * c.t + t0 + n) * per_token);
        return r;
    };
    Buffer q = ctx.upload(encode_floats(c.dt, slice(d.q, c.hk * c.k))), k = ctx.upload(encode_floats(c.dt, slice(d.k, c.hk * c.k))),
           v = ctx.upload(encode_floats(c.dt, slice(d.v, c.h * c.v))), eta = ctx.upload(slice(d.eta, c.h)),
           theta = ctx.upload(slice(d.theta, c.h)), alpha = ctx.upload(slice(d.alpha, c.h));
    const size_t st = size_t(c.b * c.h * c.k * c.v);
    Buffer m = m_in.empty() ? Buffer() : ctx.upload(m_in), s = s_in.empty() ? Buffer() : ctx.upload(s_in);
    Buffer o = ctx.output(size_t(c.b * n * c.h * c.v) * 4);
    Buffer mo = decode && m ? std::move(m) : ctx.output(st * 4), so = decode && s ? std::move(s) : ctx.output(st * 4);
    engram_scan_titans_inputs in;
    engram_scan_titans_inputs_init(&in);
    in.dtype = c.dt; in.output_dtype = ENGRAM_DTYPE_F32; in.batch = c.b; in.t = n; in.heads = c.h; in.qk_heads = c.hk;
    in.k_dim = c.k; in.v_dim = c.v; in.q = q.get(); in.k = k.get(); in.v = v.get();
    in.eta = eta.as<float>(); in.theta = theta.as<float>(); in.alpha = alpha.as<float>();
    in.initial_memory = decode ? (m_in.empty() ? nullptr : mo.as<float>()) : m.as<float>();
    in.initial_surprise = decode ? (s_in.empty() ? nullptr : so.as<float>()) : s.as<float>();
    if (decode) EXPECT_OK(engram_scan_titans_decode(ctx.get(), &in, o.get(), mo.as<float>(), so.as<float>()));
    else EXPECT_OK(engram_scan_titans_forward(ctx.get(), &in, o.get(), mo.as<float>(), so.as<float>()));
    return TitansRun{o.floats(), mo.floats(), so.floats()};
}

TEST(ScanTitans, ForwardMatchesRecurrence) {
    Context ctx(ENGRAM_BACKEND_CPU);
    const TitansCase cases[] = {{1, 1, 1, 1, 4, 4, ENGRAM_DTYPE_F32, false},  {2, 37, 4, 2, 5, 3, ENGRAM_DTYPE_F32, true},
                                {1, 130, 1, 1, 16, 8, ENGRAM_DTYPE_F32, true}, {2, 23, 2, 1, 8, 9, ENGRAM_DTYPE_F16, false},
                                {1, 41, 2, 2, 16, 16, ENGRAM_DTYPE_BF16, true}, {1, 9, 1, 1, 128, 64, ENGRAM_DTYPE_F32, true}};
    for (const TitansCase& c : cases) {
        SCOPED_TRACE("B" + std::to_string(c.b) + " T" + std::to_string(c.t) + " H" + std::to_string(c.h) + "/" +
                     std::to_string(c.hk) + " K" + std::to_string(c.k) + " V" + std::to_string(c.v) + " " +
                     dtype_label(c.dt) + (c.init ? " init" : ""));
        const TitansData d(c, uint64_t(c.t * 13 + c.k));
        const TitansRun got = run_forward(ctx, d, 0, c.t, d.m0, d.s0);
        const TitansRefResult want = ref_titans(d.ref()), mag = ref_titans(d.ref(true));
        // Every fp32 step rounds sums of K (prediction, read-out) and 2-3 terms
        // (surprise, memory); errors carried through T steps: (K + T + 8) units
        // of eps times the sums of |terms| (the magnitude recurrence).
        const double unit = 4.0 * double(c.k + c.t + 8) * 0x1p-24;
        auto bounds = [&](const std::vector<double>& m) {
            std::vector<double> b;
            for (double x : m) b.push_back(unit * x + 1e-30);
            return b;
        };
        EXPECT_TRUE(all_within("o", got.o, want.o, bounds(mag.o), c.v));
        EXPECT_TRUE(all_within("memory", got.memory, want.memory, bounds(mag.memory), c.v));
        EXPECT_TRUE(all_within("surprise", got.surprise, want.surprise, bounds(mag.surprise), c.v));
    }
}

// Cut anywhere, the final memory and surprise passed on: bit-identical to one
// pass; so is the decode step run token by token in place.
TEST(ScanTitans, SplitAndDecodeEqualOnePass) {
    Context ctx(ENGRAM_BACKEND_CPU);
    const TitansCase c{2, 19, 2, 1, 6, 5, ENGRAM_DTYPE_BF16, true};
    const TitansData d(c, 3);
    const TitansRun one = run_forward(ctx, d, 0, c.t, d.m0, d.s0);
    const TitansRun a = run_forward(ctx, d, 0, 7, d.m0, d.s0);
    const TitansRun b = run_forward(ctx, d, 7, c.t - 7, a.memory, a.surprise);
    EXPECT_EQ(0, std::memcmp(one.memory.data(), b.memory.data(), one.memory.size() * 4));
    EXPECT_EQ(0, std::memcmp(one.surprise.data(), b.surprise.data(), one.surprise.size() * 4));
    std::vector<float> m = d.m0, s = d.s0;
    for (int64_t t = 0; t < c.t; ++t) {
        const TitansRun step = run_forward(ctx, d, t, 1, m, s, true);
        for (int64_t bb = 0; bb < c.b; ++bb)
            ASSERT_EQ(0, std::memcmp(step.o.data() + bb * c.h * c.v, one.o.data() + (bb * c.t + t) * c.h * c.v,
                                     size_t(c.h * c.v) * 4)) << "token " << t;
        m = step.memory;
        s = step.surprise;
    }
    EXPECT_EQ(0, std::memcmp(one.memory.data(), m.data(), m.size() * 4));
}

// NaN in alpha at token s: o_t NaN for t >= s, earlier untouched; NaN in q at
// s: o_s only. Bit-identical over 1, 2, 3 threads.
TEST(ScanTitans, NanAndThreads) {
    TitansCase c{1, 12, 1, 1, 3, 2, ENGRAM_DTYPE_F32, false};
    TitansData d(c, 5);
    d.alpha[5] = std::numeric_limits<float>::quiet_NaN();
    d.q[size_t(2 * c.k + 1)] = std::numeric_limits<float>::quiet_NaN();
    std::vector<std::vector<float>> outs;
    for (int threads : {1, 2, 3}) {
        Context ctx(ENGRAM_BACKEND_CPU);
        ASSERT_OK(engram_context_set_threads(ctx.get(), threads));
        const TitansRun r = run_forward(ctx, d, 0, c.t, {}, {});
        for (int64_t t = 0; t < c.t; ++t)
            for (int64_t x = 0; x < c.v; ++x) EXPECT_EQ(t >= 5 || t == 2, std::isnan(r.o[size_t(t * c.v + x)])) << t;
        outs.push_back(r.o);
    }
    TitansCase big{3, 17, 4, 2, 7, 5, ENGRAM_DTYPE_F32, true};
    const TitansData bd(big, 9);
    std::vector<std::vector<float>> bigs;
    for (int threads : {1, 2, 3}) {
        Context ctx(ENGRAM_BACKEND_CPU);
        ASSERT_OK(engram_context_set_threads(ctx.get(), threads));
        bigs.push_back(run_forward(ctx, bd, 0, big.t, bd.m0, bd.s0).o);
    }
    for (size_t i = 1; i < bigs.size(); ++i) EXPECT_EQ(0, std::memcmp(bigs[0].data(), bigs[i].data(), bigs[0].size() * 4));
}

TEST(ScanTitans, RejectsBadInput) {
    Context ctx(ENGRAM_BACKEND_CPU);
    const TitansCase c{1, 3, 2, 1, 3, 2, ENGRAM_DTYPE_F32, true};
    const TitansData d(c, 1);
    Buffer q = ctx.upload(d.q), k = ctx.upload(d.k), v = ctx.upload(d.v), eta = ctx.upload(d.eta), theta = ctx.upload(d.theta),
           alpha = ctx.upload(d.alpha), m0 = ctx.upload(d.m0), o = ctx.output(size_t(c.t * c.h * c.v) * 4),
           mo = ctx.output(d.m0.size() * 4), so = ctx.output(d.m0.size() * 4);
    const std::vector<float> before = o.floats(), before_m = mo.floats();
    engram_scan_titans_inputs in;
    auto reset = [&] {
        engram_scan_titans_inputs_init(&in);
        in.batch = 1; in.t = c.t; in.heads = c.h; in.qk_heads = c.hk; in.k_dim = c.k; in.v_dim = c.v;
        in.q = q.get(); in.k = k.get(); in.v = v.get(); in.eta = eta.as<float>(); in.theta = theta.as<float>();
        in.alpha = alpha.as<float>(); in.initial_memory = m0.as<float>();
    };
    auto fwd = [&] { return engram_scan_titans_forward(ctx.get(), &in, o.get(), mo.as<float>(), so.as<float>()); };
    reset(); in.theta = nullptr;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, fwd(), "in->theta");
    reset(); in.k_dim = 257;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, fwd(), "in->k_dim = 257");
    reset(); in.qk_heads = 3;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, fwd(), "in->qk_heads");
    reset(); in.dtype = ENGRAM_DTYPE_I64;
    EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED, fwd(), "in->dtype");
    reset(); in.output_dtype = ENGRAM_DTYPE_F16;
    EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED, fwd(), "in->output_dtype");
    reset(); in.struct_size = 7;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, fwd(), "in->struct_size");
    reset(); in.alpha = reinterpret_cast<const float*>(alpha.as<char>() + 2);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, fwd(), "in->alpha");
    reset();
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_scan_titans_forward(ctx.get(), &in, o.get(), mo.as<float>(), mo.as<float>()), "overlaps");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_scan_titans_forward(ctx.get(), &in, o.get(), const_cast<float*>(in.initial_memory), nullptr), "overlaps");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_scan_titans_decode(ctx.get(), &in, o.get(), mo.as<float>(), so.as<float>()), "in->t = 3");
    in.t = 1;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_scan_titans_decode(ctx.get(), &in, o.get(), mo.as<float>(), nullptr), "surprise_out");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_scan_titans_decode(ctx.get(), &in, o.get(), mo.as<float>(), mo.as<float>()), "overlaps");
    const std::vector<float> after = o.floats(), after_m = mo.floats();
    EXPECT_EQ(0, std::memcmp(before.data(), after.data(), after.size() * 4));
    EXPECT_EQ(0, std::memcmp(before_m.data(), after_m.data(), after_m.size() * 4));
    EXPECT_OK(engram_op_supported(ENGRAM_BACKEND_CPU, ENGRAM_OP_SCAN_TITANS_DECODE, ENGRAM_DTYPE_BF16));
    uint64_t value = 0;
    ASSERT_OK(engram_struct_layout("engram_scan_titans_inputs", "initial_surprise", &value));
    EXPECT_EQ(offsetof(engram_scan_titans_inputs, initial_surprise), value);
}

}  // namespace
}  // namespace engram_test
