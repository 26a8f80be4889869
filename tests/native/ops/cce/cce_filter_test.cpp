// cce_filter_test.cpp — the gradient filter of engram_cce_backward and
// engram_cce_forward_backward (engram_cce_options.filter_eps).
//
// Inputs are built so that the softmax is very peaked (each hidden state points
// at its target's classifier row, targets drawn from the first 8 ids of a
// vocabulary of 2053): almost every logit block far from the targets has
// |dloss/dz| < eps and may be skipped. The bound on what skipping may change is
// in cce_harness.hpp: each skipped term contributes at most
// eps * |grad_loss_i| * |row entry| (the softcap factor is <= 1); the check
// adds exactly the terms with |dloss/dz| < eps, so skipping anything larger is
// caught. eps = 0 must skip nothing and be exact; AUTO is 0 (exact) for f32,
// 2^-12 for bf16, 2^-11 for f16.
#include <cmath>

#include "cce_harness.hpp"

namespace engram_test {
namespace {

class CceFilterTest : public BackendTest {
protected:
    static CceSpec peaked(engram_dtype dtype, uint64_t seed = 1) {
        CceSpec s;
        s.n = 48;
        s.d = 64;
        s.v = 2053;
        s.dtype = dtype;
        s.peak = 25.0;
        s.target_range = 8;
        s.seed = seed;
        return s;
    }

    // Backward (with the lse of the library's forward) and forward_backward
    // with `eps` as filter_eps; `resolved` is the threshold the library should
    // apply. Returns the op stats of the backward.
    engram_op_stats check_filtered(const CceSpec& spec, float eps, double resolved,
                                   const std::vector<float>* grad_loss = nullptr,
                                   GradRequest req = {}) {
        SCOPED_TRACE(spec.label() + " filter_eps=" + std::to_string(eps));
        const CceData data = make_cce_data(spec);
        engram_cce_options o = data.options();
        o.filter_eps = eps;
        const ExpectedForward xf = expect_forward(data);
        const std::vector<float> none;
        const ExpectedGrads xg =
            expect_grads(data, xf, backend(), req.dtype, grad_loss ? *grad_loss : none, resolved);
        const CceResult f = run_forward(ctx(), data, o);
        EXPECT_TRUE(f.ok()) << f.error;
        const CceResult b = run_backward(ctx(), data, o, &f.lse, grad_loss, req);
        EXPECT_TRUE(b.ok()) << b.error;
        if (!b.ok()) return {};
        {
            SCOPED_TRACE("engram_cce_backward");
            check_grads(b, xg, data, req);
            EXPECT_GT(op_counter(b.stats, "blocks_total"), 0u) << "the gradient pass visited no logit block";
            EXPECT_LE(op_counter(b.stats, "blocks_skipped"), op_counter(b.stats, "blocks_total"));
        }
        const CceResult fb = run_forward_backward(ctx(), data, o, grad_loss, req);
        EXPECT_TRUE(fb.ok()) << fb.error;
        if (fb.ok()) {
            SCOPED_TRACE("engram_cce_forward_backward");
            check_forward(fb, xf);
            check_grads(fb, xg, data, req);
            EXPECT_GT(op_counter(fb.stats, "blocks_total"), 0u);
            EXPECT_LE(op_counter(fb.stats, "blocks_skipped"), op_counter(fb.stats, "blocks_total"));
            if (resolved == 0) {
                EXPECT_EQ(0u, op_counter(fb.stats, "blocks_skipped"));
            }
        }
        return b.stats;
    }
};

TEST_P(CceFilterTest, ZeroEpsSkipsNothingAndIsExact) {
    const engram_op_stats st = check_filtered(peaked(ENGRAM_DTYPE_F32), 0.0f, 0.0);
    EXPECT_EQ(0u, op_counter(st, "blocks_skipped"));
}

TEST_P(CceFilterTest, ZeroEpsIsExactForBf16Too) {
    const engram_op_stats st = check_filtered(peaked(ENGRAM_DTYPE_BF16), 0.0f, 0.0);
    EXPECT_EQ(0u, op_counter(st, "blocks_skipped"));
}

TEST_P(CceFilterTest, AutoIsExactForF32) {
    const engram_op_stats st = check_filtered(peaked(ENGRAM_DTYPE_F32), ENGRAM_FILTER_EPS_AUTO, 0.0);
    EXPECT_EQ(0u, op_counter(st, "blocks_skipped"));
}

TEST_P(CceFilterTest, AnyNegativeEpsMeansAuto) {
    const engram_op_stats st = check_filtered(peaked(ENGRAM_DTYPE_F32, 2), -7.5f, 0.0);
    EXPECT_EQ(0u, op_counter(st, "blocks_skipped"));
}

TEST_P(CceFilterTest, PositiveEpsSkipsNegligibleBlocksWithinTheBound) {
    const double eps = 1.0 / 4096.0;
    const engram_op_stats st = check_filtered(peaked(ENGRAM_DTYPE_F32), float(eps), eps);
    EXPECT_GT(op_counter(st, "blocks_skipped"), 0u) << "a peaked softmax must let the filter skip blocks";
}

TEST_P(CceFilterTest, LargeEpsStaysWithinTheBound) {
    // eps = 2^-6: much more is skipped, the bound grows with it.
    const double eps = 1.0 / 64.0;
    const engram_op_stats st = check_filtered(peaked(ENGRAM_DTYPE_F32, 3), float(eps), eps);
    EXPECT_GT(op_counter(st, "blocks_skipped"), 0u);
}

TEST_P(CceFilterTest, AutoForBf16IsTwoToTheMinus12) {
    const engram_op_stats st =
        check_filtered(peaked(ENGRAM_DTYPE_BF16), ENGRAM_FILTER_EPS_AUTO, 1.0 / 4096.0);
    EXPECT_GT(op_counter(st, "blocks_skipped"), 0u);
}

TEST_P(CceFilterTest, AutoForF16IsTwoToTheMinus11) {
    const engram_op_stats st =
        check_filtered(peaked(ENGRAM_DTYPE_F16), ENGRAM_FILTER_EPS_AUTO, 1.0 / 2048.0);
    EXPECT_GT(op_counter(st, "blocks_skipped"), 0u);
}

TEST_P(CceFilterTest, AutoForBf16WithBf16Gradients) {
    GradRequest req;
    req.dtype = ENGRAM_DTYPE_BF16;
    CceSpec s = peaked(ENGRAM_DTYPE_BF16, 4);
    s.bias = true;
    s.bias_std = 0.5;
    check_filtered(s, ENGRAM_FILTER_EPS_AUTO, 1.0 / 4096.0, nullptr, req);
}

TEST_P(CceFilterTest, ThresholdIsAppliedBeforeTheUpstreamGradient) {
    // A tiny upstream gradient must not make every term "negligible", and a
    // huge one must not stop the filter: eps compares |dloss/dz| alone.
    const double eps = 1.0 / 4096.0;
    CceSpec s = peaked(ENGRAM_DTYPE_F32, 5);
    s.reduction = ENGRAM_REDUCTION_SUM;
    const std::vector<float> tiny{1e-5f}, huge{1e4f};
    check_filtered(s, float(eps), eps, &tiny);
    const engram_op_stats st = check_filtered(s, float(eps), eps, &huge);
    EXPECT_GT(op_counter(st, "blocks_skipped"), 0u);
}

TEST_P(CceFilterTest, ThresholdIgnoresTheMeanDivisor) {
    const double eps = 1.0 / 4096.0;
    CceSpec s = peaked(ENGRAM_DTYPE_F32, 6);
    s.n = 200;  // MEAN divides by 200: scaled gradients would all look tiny
    s.reduction = ENGRAM_REDUCTION_MEAN;
    const engram_op_stats st = check_filtered(s, float(eps), eps);
    EXPECT_GT(op_counter(st, "blocks_skipped"), 0u);
}

TEST_P(CceFilterTest, PerTokenUpstreamGradient) {
    const double eps = 1.0 / 4096.0;
    CceSpec s = peaked(ENGRAM_DTYPE_F32, 7);
    s.reduction = ENGRAM_REDUCTION_NONE;
    s.ignore_frac = 0.25;
    Rng rng(3);
    std::vector<float> gl(size_t(s.n));
    for (auto& g : gl) g = float(rng.uniform(-3, 3));
    check_filtered(s, float(eps), eps, &gl);
}

TEST_P(CceFilterTest, WithSmoothingSoftcapAndZLoss) {
    const double eps = 1.0 / 4096.0;
    CceSpec s = peaked(ENGRAM_DTYPE_F32, 8);
    s.smoothing = 0.05f;  // s / V ~ 2.4e-5 < eps: smoothing alone keeps no block
    s.softcap = 40.0f;
    s.z_loss = 1e-4f;
    s.bias = true;
    check_filtered(s, float(eps), eps);
}

TEST_P(CceFilterTest, NeverSkipsTheTargetOfAConfidentlyWrongToken) {
    // Each token is peaked on a class far from its target: the target's
    // probability is tiny, but its gradient term p - 1 is about -1, so the
    // target's block must be kept even though every softmax value in it is < eps.
    const double eps = 1.0 / 4096.0;
    CceSpec s = peaked(ENGRAM_DTYPE_F32, 10);
    s.target_range = 0;  // targets anywhere
    s.peak_offset = 1000;
    check_filtered(s, float(eps), eps);
    CceSpec b = s;
    b.dtype = ENGRAM_DTYPE_BF16;
    check_filtered(b, ENGRAM_FILTER_EPS_AUTO, eps);
}

TEST_P(CceFilterTest, ThresholdIsAppliedBeforeTheSoftcapChainRule) {
    // Saturated softcapped logits have a tiny chain factor 1 - (z/cap)^2, but
    // with smoothing every |dloss/dz| is about s/V > eps: those terms are not
    // negligible and must not be dropped.
    CceSpec s;
    s.n = 48;
    s.d = 64;
    s.v = 97;
    s.logit_std = 60.0;
    s.softcap = 4.0f;
    s.smoothing = 0.5f;
    s.seed = 11;
    check_filtered(s, 1.0f / 4096.0f, 1.0 / 4096.0);
}

TEST_P(CceFilterTest, ManyTokensAcrossGradientBlocks) {
    const double eps = 1.0 / 4096.0;
    CceSpec s = peaked(ENGRAM_DTYPE_F32, 12);
    s.n = 700;
    s.d = 16;
    s.v = 1031;
    s.ignore_frac = 0.1;
    const engram_op_stats st = check_filtered(s, float(eps), eps);
    EXPECT_GT(op_counter(st, "blocks_skipped"), 0u);
}

TEST_P(CceFilterTest, SmoothingAboveEpsKeepsEveryBlock) {
    // s / V = 0.9 / 97 > eps everywhere: no term is negligible, so nothing may
    // be skipped and the result is exact.
    CceSpec s = peaked(ENGRAM_DTYPE_F32, 9);
    s.v = 97;
    s.smoothing = 0.9f;
    const engram_op_stats st = check_filtered(s, 1.0f / 4096.0f, 1.0 / 4096.0);
    EXPECT_EQ(0u, op_counter(st, "blocks_skipped"));
}

ENGRAM_INSTANTIATE_BACKENDS(CceFilterTest);

}  // namespace
}  // namespace engram_test
