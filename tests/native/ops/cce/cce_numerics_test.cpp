// cce_numerics_test.cpp — the numeric contract of CCE beyond finite inputs:
//  - non-finite values follow PyTorch (torch.logsumexp for the lse, autograd of
//    the loss formula for the gradients): a NaN anywhere in a token's logits
//    makes its loss, lse and gradient row NaN; a +inf logit gives lse +inf; a
//    row of -inf gives lse -inf; the gradient filter never hides a NaN;
//  - results are bit-identical run to run for a given thread count;
//  - every pass sees bit-identical logits, so a backward given the forward's
//    lse stays finite even for huge logits.
// The suite runs per backend and, through CMakeLists.txt, once per CPU ISA.
#include <cmath>
#include <cstring>

#include "cce_harness.hpp"

namespace engram_test {
namespace {

// A small problem given by value, in f32 (or rounded to a 16-bit dtype).
struct Raw {
    int64_t n = 0, d = 0, v = 0;
    std::vector<float> e, c, bias;  // bias empty: none
    std::vector<int64_t> targets;
    engram_dtype dtype = ENGRAM_DTYPE_F32;
    int reduction = ENGRAM_REDUCTION_NONE;
    float softcap = 0.0f, smoothing = 0.0f, z_loss = 0.0f, filter_eps = 0.0f;
    std::vector<float> grad_loss;  // empty: NULL (1)

    engram_cce_options options() const {
        engram_cce_options o;
        engram_cce_options_init(&o);
        o.reduction = reduction;
        o.softcap = softcap;
        o.label_smoothing = smoothing;
        o.z_loss = z_loss;
        o.filter_eps = filter_eps;
        return o;
    }
};

Raw random_raw(int64_t n, int64_t d, int64_t v, uint64_t seed, double scale = 1.0) {
    Raw r;
    r.n = n;
    r.d = d;
    r.v = v;
    Rng rng(seed);
    r.e.resize(size_t(n * d));
    r.c.resize(size_t(v * d));
    for (auto& x : r.e) x = float(rng.normal() * scale);
    for (auto& x : r.c) x = float(rng.normal() * scale / std::sqrt(double(d)));
    for (int64_t i = 0; i < n; ++i) r.targets.push_back(rng.integer(0, v - 1));
    return r;
}

struct Outputs {
    engram_status status = ENGRAM_ERR_INTERNAL;
    std::string error;
    std::vector<float> loss, lse, grad_e, grad_c, grad_bias;
};

enum class Op { Forward, Backward, BackwardWithLse, ForwardBackward };

// Runs one entry point on `ctx` (lse: the forward's, for BackwardWithLse).
Outputs run(Context& ctx, const Raw& r, Op op, const std::vector<float>* lse_in = nullptr) {
    Outputs out;
    Buffer e = ctx.upload(encode_floats(r.dtype, r.e));
    Buffer c = ctx.upload(encode_floats(r.dtype, r.c));
    Buffer bias = r.bias.empty() ? Buffer() : ctx.upload(encode_floats(r.dtype, r.bias));
    Buffer targets = ctx.upload(encode_ints(ENGRAM_DTYPE_I64, r.targets));
    engram_cce_inputs in;
    engram_cce_inputs_init(&in);
    in.dtype = r.dtype;
    in.n = r.n;
    in.d = r.d;
    in.v = r.v;
    in.e = e.get();
    in.c = c.get();
    in.bias = bias.get();
    in.targets = targets.get();
    const engram_cce_options o = r.options();
    const size_t loss_n = r.reduction == ENGRAM_REDUCTION_NONE ? size_t(r.n) : 1;
    Buffer loss = ctx.output(loss_n * 4), lse = ctx.output(size_t(r.n) * 4);
    Buffer ge = ctx.output(size_t(r.n * r.d) * 4), gc = ctx.output(size_t(r.v * r.d) * 4);
    Buffer gb = ctx.output(size_t(r.v) * 4);
    Buffer gl = r.grad_loss.empty() ? Buffer() : ctx.upload(r.grad_loss);
    Buffer lse_given = lse_in ? ctx.upload(*lse_in) : Buffer();
    engram_cce_grads g;
    engram_cce_grads_init(&g);
    g.grad_e = ge.get();
    g.grad_c = gc.get();
    g.grad_bias = r.bias.empty() ? nullptr : gb.get();
    switch (op) {
        case Op::Forward:
            out.status = engram_cce_forward(ctx.get(), &in, &o, loss.as<float>(), lse.as<float>());
            break;
        case Op::Backward:
        case Op::BackwardWithLse:
            out.status = engram_cce_backward(ctx.get(), &in, &o, lse_given.as<float>(),
                                             gl.as<float>(), &g);
            break;
        case Op::ForwardBackward:
            out.status = engram_cce_forward_backward(ctx.get(), &in, &o, gl.as<float>(),
                                                     loss.as<float>(), lse.as<float>(), &g);
            break;
    }
    out.error = engram_last_error();
    if (out.status != ENGRAM_OK) return out;
    if (op == Op::Forward || op == Op::ForwardBackward) {
        out.loss = loss.floats();
        out.lse = lse.floats();
    }
    if (op != Op::Forward) {
        out.grad_e = ge.floats();
        out.grad_c = gc.floats();
        if (!r.bias.empty()) out.grad_bias = gb.floats();
    }
    return out;
}

// The same quantities in double, with PyTorch's IEEE semantics.
struct Ieee {
    std::vector<double> loss, lse, grad_e, grad_c, grad_bias;
};

Ieee ieee_reference(const Raw& r) {
    Ieee x;
    const int64_t n = r.n, d = r.d, v = r.v;
    x.loss.assign(size_t(n), 0.0);
    x.lse.assign(size_t(n), 0.0);
    x.grad_e.assign(size_t(n * d), 0.0);
    x.grad_c.assign(size_t(v * d), 0.0);
    x.grad_bias.assign(size_t(v), 0.0);
    const double s = r.smoothing, zl = r.z_loss, cap = r.softcap;
    std::vector<double> z(static_cast<size_t>(v));
    for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = 0; j < v; ++j) {
            double acc = 0.0;
            for (int64_t k = 0; k < d; ++k) acc += double(r.e[size_t(i * d + k)]) * r.c[size_t(j * d + k)];
            if (!r.bias.empty()) acc += r.bias[size_t(j)];
            z[size_t(j)] = cap > 0 ? cap * std::tanh(acc / cap) : acc;
        }
        double m = -INFINITY, sum_z = 0.0;
        for (double zj : z) {
            m = std::max(m, zj);
            sum_z += zj;
        }
        const double shift = std::isfinite(m) ? m : 0.0;
        double se = 0.0;
        for (double zj : z) se += std::exp(zj - shift);
        const double lse = shift + std::log(se);
        const int64_t t = r.targets[size_t(i)];
        x.lse[size_t(i)] = lse;
        x.loss[size_t(i)] = lse - (1.0 - s) * z[size_t(t)] - (s > 0 ? s * sum_z / double(v) : 0.0) +
                            (zl > 0 ? zl * lse * lse : 0.0);
        const double up = r.grad_loss.empty() ? 1.0 : r.grad_loss[size_t(i)];
        for (int64_t j = 0; j < v; ++j) {
            double g = std::exp(z[size_t(j)] - lse) * (zl > 0 ? 1.0 + 2.0 * zl * lse : 1.0) - s / double(v);
            if (j == t) g -= 1.0 - s;
            const double chain = cap > 0 ? 1.0 - (z[size_t(j)] / cap) * (z[size_t(j)] / cap) : 1.0;
            g *= up * chain;
            for (int64_t k = 0; k < d; ++k) {
                x.grad_e[size_t(i * d + k)] += g * r.c[size_t(j * d + k)];
                x.grad_c[size_t(j * d + k)] += g * r.e[size_t(i * d + k)];
            }
            x.grad_bias[size_t(j)] += g;
        }
    }
    return x;
}

const char* value_class(double x) {
    if (std::isnan(x)) return "NaN";
    if (std::isinf(x)) return x > 0 ? "+inf" : "-inf";
    return "finite";
}

// Same class (NaN / +inf / -inf / finite) everywhere, and finite values close.
::testing::AssertionResult same_ieee(const char* what, const std::vector<float>& got,
                                     const std::vector<double>& want, double tol = 1e-3) {
    if (got.size() != want.size())
        return ::testing::AssertionFailure() << what << ": " << got.size() << " values, expected "
                                             << want.size();
    for (size_t i = 0; i < got.size(); ++i) {
        const char* gc = value_class(got[i]);
        const char* wc = value_class(want[i]);
        if (std::strcmp(gc, wc) != 0)
            return ::testing::AssertionFailure() << what << "[" << i << "] = " << got[i] << " ("
                                                 << gc << "), expected " << want[i] << " (" << wc
                                                 << ")";
        if (std::isfinite(want[i]) && std::fabs(got[i] - want[i]) > tol * (1.0 + std::fabs(want[i])))
            return ::testing::AssertionFailure() << what << "[" << i << "] = " << got[i]
                                                 << ", expected " << want[i];
    }
    return ::testing::AssertionSuccess();
}

class CceNumericsTest : public BackendTest {
protected:
    // Forward, backward (lse recomputed and lse from the forward) and
    // forward_backward, each against the IEEE reference.
    void check_against_ieee(const Raw& r) {
        const Ieee x = ieee_reference(r);
        const Outputs f = run(ctx(), r, Op::Forward);
        ASSERT_EQ(ENGRAM_OK, f.status) << f.error;
        EXPECT_TRUE(same_ieee("forward loss", f.loss, x.loss));
        EXPECT_TRUE(same_ieee("forward lse", f.lse, x.lse));
        for (Op op : {Op::Backward, Op::BackwardWithLse, Op::ForwardBackward}) {
            SCOPED_TRACE(op == Op::Backward ? "backward" : op == Op::BackwardWithLse
                                                               ? "backward with the forward's lse"
                                                               : "forward_backward");
            const Outputs b = run(ctx(), r, op, &f.lse);
            ASSERT_EQ(ENGRAM_OK, b.status) << b.error;
            EXPECT_TRUE(same_ieee("grad_e", b.grad_e, x.grad_e));
            EXPECT_TRUE(same_ieee("grad_c", b.grad_c, x.grad_c));
            if (!r.bias.empty()) {
                EXPECT_TRUE(same_ieee("grad_bias", b.grad_bias, x.grad_bias));
            }
            if (op == Op::ForwardBackward) {
                EXPECT_TRUE(same_ieee("loss", b.loss, x.loss));
                EXPECT_TRUE(same_ieee("lse", b.lse, x.lse));
            }
        }
    }
};

// --- NaN ---------------------------------------------------------------------------

// The report's three one-token cases: a NaN logit, a NaN through softcap, and
// inf * 0 = NaN through softcap.
TEST_P(CceNumericsTest, NanLogitMakesLossAndLseNan) {
    Raw r;
    r.n = 1;
    r.d = 1;
    r.v = 3;
    r.e = {1.0f};
    r.c = {NAN, 0.5f, -0.5f};
    r.targets = {1};
    check_against_ieee(r);
    r.softcap = 30.0f;
    check_against_ieee(r);
    r.e = {INFINITY};
    r.c = {0.0f, 0.5f, -0.5f};
    check_against_ieee(r);
}

TEST_P(CceNumericsTest, NanInOneClassifierRowReachesEveryToken) {
    for (float eps : {0.0f, 2.44140625e-4f}) {
        Raw r = random_raw(8, 64, 1000, 5);
        r.c[500 * 64] = NAN;
        r.filter_eps = eps;
        SCOPED_TRACE(eps > 0 ? "filtered" : "exact");
        check_against_ieee(r);
    }
}

TEST_P(CceNumericsTest, NanInOneTokenStaysInThatToken) {
    Raw r = random_raw(37, 19, 131, 6);
    r.bias.assign(131, 0.25f);
    r.e[size_t(3 * 19 + 5)] = NAN;
    check_against_ieee(r);
    r.filter_eps = 2.44140625e-4f;  // the filter must not skip the NaN token's blocks
    check_against_ieee(r);
}

TEST_P(CceNumericsTest, NanUpstreamGradientIsNotFilteredAway) {
    Raw r = random_raw(40, 16, 300, 7);
    r.grad_loss.assign(40, 1.0f);
    r.grad_loss[17] = NAN;
    r.filter_eps = 0.5f;  // would skip almost every block
    const Outputs b = run(ctx(), r, Op::Backward);
    ASSERT_EQ(ENGRAM_OK, b.status) << b.error;
    for (int64_t k = 0; k < r.d; ++k) EXPECT_TRUE(std::isnan(b.grad_e[size_t(17 * r.d + k)])) << k;
    for (int64_t k = 0; k < r.d; ++k) EXPECT_FALSE(std::isnan(b.grad_e[size_t(3 * r.d + k)])) << k;
}

TEST_P(CceNumericsTest, NanBiasWithSoftcap) {
    Raw r = random_raw(5, 8, 70, 8);
    r.bias.assign(70, 0.0f);
    r.bias[33] = NAN;
    r.softcap = 15.0f;
    check_against_ieee(r);
}

// --- infinities -----------------------------------------------------------------------

TEST_P(CceNumericsTest, PlusInfLogitGivesInfiniteLse) {
    // Token 2 targets the +inf column (loss inf - inf = NaN); the others get
    // loss +inf. Gradients: exp(inf - inf) = NaN at that column, 0 elsewhere.
    Raw r = random_raw(5, 7, 45, 9);
    r.bias.assign(45, 0.0f);
    r.bias[11] = INFINITY;
    r.targets[2] = 11;
    check_against_ieee(r);
}

TEST_P(CceNumericsTest, MinusInfBiasMasksColumns) {
    Raw r = random_raw(33, 9, 100, 10);
    r.bias.assign(100, 0.5f);
    for (int j : {0, 7, 50, 99}) r.bias[size_t(j)] = -INFINITY;
    for (auto& t : r.targets)
        if (t == 0 || t == 7 || t == 50 || t == 99) t = 1;
    check_against_ieee(r);  // all finite
    r.smoothing = 0.1f;     // the mean logit is -inf: loss +inf
    check_against_ieee(r);
}

TEST_P(CceNumericsTest, AllMinusInfRowGivesMinusInfLse) {
    Raw r = random_raw(3, 4, 20, 11);
    r.bias.assign(20, -INFINITY);
    check_against_ieee(r);
}

TEST_P(CceNumericsTest, SoftcapMapsInfinitiesToTheCap) {
    Raw r = random_raw(4, 3, 30, 12);
    r.bias.assign(30, 0.0f);
    r.bias[4] = INFINITY;
    r.bias[9] = -INFINITY;
    r.softcap = 20.0f;
    check_against_ieee(r);
}

// --- one kernel per call -------------------------------------------------------------

// Logits of 1e10..1e30: exp(z - lse) turns any difference between the
// forward's logits and the backward's into inf or NaN, so every pass must
// compute the same logits bit for bit (here, blocks of few tokens and tail
// blocks used another kernel than the forward's).
TEST_P(CceNumericsTest, HugeLogitsGiveFiniteConsistentGradients) {
    struct Case {
        int64_t n;
        engram_dtype dtype;
        double scale;
    };
    for (const Case cs : {Case{4, ENGRAM_DTYPE_F16, 0}, Case{4, ENGRAM_DTYPE_F32, 1e15},
                          Case{40, ENGRAM_DTYPE_F32, 1e15}, Case{530, ENGRAM_DTYPE_F32, 1e15},
                          Case{19, ENGRAM_DTYPE_BF16, 1e15}}) {
        SCOPED_TRACE("n=" + std::to_string(cs.n) + " " + dtype_label(cs.dtype));
        Raw r;
        r.n = cs.n;
        r.d = 8;
        r.v = 100;
        r.dtype = cs.dtype;
        Rng rng(uint64_t(cs.n));
        auto value = [&] {
            const double sign = rng.chance(0.5) ? 1.0 : -1.0;
            // f16: its largest finite value, 65504; otherwise 1e15 * U(0.5, 1).
            return float(cs.dtype == ENGRAM_DTYPE_F16 ? sign * 65504.0 : sign * cs.scale * rng.uniform(0.5, 1));
        };
        for (int64_t i = 0; i < r.n * r.d; ++i) r.e.push_back(value());
        for (int64_t i = 0; i < r.v * r.d; ++i) r.c.push_back(value());
        for (int64_t i = 0; i < r.n; ++i) r.targets.push_back(rng.integer(0, r.v - 1));
        const Outputs f = run(ctx(), r, Op::Forward);
        ASSERT_EQ(ENGRAM_OK, f.status) << f.error;
        const Outputs with_lse = run(ctx(), r, Op::BackwardWithLse, &f.lse);
        const Outputs recomputed = run(ctx(), r, Op::Backward);
        const Outputs fused = run(ctx(), r, Op::ForwardBackward);
        ASSERT_EQ(ENGRAM_OK, with_lse.status) << with_lse.error;
        ASSERT_EQ(ENGRAM_OK, recomputed.status) << recomputed.error;
        ASSERT_EQ(ENGRAM_OK, fused.status) << fused.error;
        for (const Outputs* o : {&f, &fused})
            for (float x : o->loss) ASSERT_TRUE(std::isfinite(x)) << "loss " << x;
        for (const Outputs* o : {&with_lse, &recomputed, &fused}) {
            for (float x : o->grad_e) ASSERT_TRUE(std::isfinite(x)) << "grad_e " << x;
            for (float x : o->grad_c) ASSERT_TRUE(std::isfinite(x)) << "grad_c " << x;
        }
        EXPECT_EQ(with_lse.grad_e, recomputed.grad_e);
        EXPECT_EQ(with_lse.grad_c, recomputed.grad_c);
        EXPECT_EQ(f.lse, fused.lse);
        EXPECT_EQ(f.loss, fused.loss);
    }
}

// --- determinism -----------------------------------------------------------------------

// Bit-identical results run to run for a given thread count, whatever the
// scheduling (three threads on a two-core machine get descheduled often).
TEST_P(CceNumericsTest, RepeatedCallsAreBitIdentical) {
    if (backend() != ENGRAM_BACKEND_CPU) GTEST_SKIP() << "the CUDA backward uses fp32 atomics";
    // Small enough for the scalar and sanitizer builds; large enough that the
    // workers share many vocabulary tiles and several token blocks.
    Raw r = random_raw(600, 48, 3000, 13);
    r.bias.assign(3000, 0.1f);
    for (int threads : {2, 3}) {
        SCOPED_TRACE(std::to_string(threads) + " threads");
        ASSERT_OK(engram_context_set_threads(ctx().get(), threads));
        const Outputs first = run(ctx(), r, Op::ForwardBackward);
        ASSERT_EQ(ENGRAM_OK, first.status) << first.error;
        const Outputs fwd = run(ctx(), r, Op::Forward);
        const Outputs bwd = run(ctx(), r, Op::Backward);
        for (int rep = 0; rep < 3; ++rep) {
            const Outputs again = run(ctx(), r, Op::ForwardBackward);
            ASSERT_EQ(ENGRAM_OK, again.status) << again.error;
            EXPECT_EQ(0, std::memcmp(first.loss.data(), again.loss.data(), first.loss.size() * 4));
            EXPECT_EQ(0, std::memcmp(first.lse.data(), again.lse.data(), first.lse.size() * 4));
            EXPECT_EQ(0, std::memcmp(first.grad_e.data(), again.grad_e.data(), first.grad_e.size() * 4));
            EXPECT_EQ(0, std::memcmp(first.grad_c.data(), again.grad_c.data(), first.grad_c.size() * 4));
            EXPECT_EQ(0, std::memcmp(first.grad_bias.data(), again.grad_bias.data(),
                                     first.grad_bias.size() * 4));
            const Outputs f2 = run(ctx(), r, Op::Forward);
            EXPECT_EQ(0, std::memcmp(fwd.lse.data(), f2.lse.data(), fwd.lse.size() * 4));
            const Outputs b2 = run(ctx(), r, Op::Backward);
            EXPECT_EQ(0, std::memcmp(bwd.grad_e.data(), b2.grad_e.data(), bwd.grad_e.size() * 4));
            EXPECT_EQ(0, std::memcmp(bwd.grad_c.data(), b2.grad_c.data(), bwd.grad_c.size() * 4));
        }
    }
}

ENGRAM_INSTANTIATE_BACKENDS(CceNumericsTest);

}  // namespace
}  // namespace engram_test
