// cce_test.cpp — correctness of engram_cce_forward, engram_cce_backward and
// engram_cce_forward_backward against the double-precision reference
// (reference_cce.hpp), on awkward shapes, every dtype, every reduction and
// every option. Each case runs on the CPU backend, and on CUDA where a device
// exists. Tolerances: see the error model in cce_harness.hpp.
#include <cmath>
#include <cstdlib>

#include "cce_harness.hpp"

namespace engram_test {
namespace {

class CceTest : public BackendTest {
protected:
    // Forward (with lse), backward with that lse, and forward_backward, each
    // against the reference.
    void check_all(const CceSpec& spec, GradRequest req = {},
                   const std::vector<float>* grad_loss = nullptr) {
        SCOPED_TRACE(spec.label());
        const CceData data = make_cce_data(spec);
        const engram_cce_options opts = data.options();
        const ExpectedForward xf = expect_forward(data);

        const CceResult f = run_forward(ctx(), data, opts);
        ASSERT_RUN_OK(f);
        {
            SCOPED_TRACE("engram_cce_forward");
            check_forward(f, xf);
        }
        const std::vector<float> no_grad_loss;
        const ExpectedGrads xg = expect_grads(data, xf, backend(), req.dtype,
                                              grad_loss ? *grad_loss : no_grad_loss, 0.0);
        const CceResult b = run_backward(ctx(), data, opts, &f.lse, grad_loss, req);
        ASSERT_RUN_OK(b);
        {
            SCOPED_TRACE("engram_cce_backward (lse from forward)");
            check_grads(b, xg, data, req);
        }
        const CceResult fb = run_forward_backward(ctx(), data, opts, grad_loss, req);
        ASSERT_RUN_OK(fb);
        {
            SCOPED_TRACE("engram_cce_forward_backward");
            check_forward(fb, xf);
            check_grads(fb, xg, data, req);
        }
    }

    void check_forward_only(const CceSpec& spec) {
        SCOPED_TRACE(spec.label());
        const CceData data = make_cce_data(spec);
        const CceResult f = run_forward(ctx(), data, data.options());
        ASSERT_RUN_OK(f);
        check_forward(f, expect_forward(data));
    }
};

CceSpec shape(int64_t n, int64_t d, int64_t v, uint64_t seed = 1) {
    CceSpec s;
    s.n = n;
    s.d = d;
    s.v = v;
    s.seed = seed;
    return s;
}

// --- shapes -------------------------------------------------------------------

TEST_P(CceTest, SingleToken) {
    check_all(shape(1, 33, 97));
    check_all(shape(1, 1, 1));
    check_all(shape(1, 7, 4099, 2));
}

TEST_P(CceTest, PrimeVocabulary) {
    check_all(shape(37, 33, 97));
    check_all(shape(13, 16, 1009, 2));
    check_all(shape(9, 7, 4099, 3));
}

TEST_P(CceTest, VocabularySmallerThanAnyBlock) {
    for (int64_t v : {1, 2, 3}) {
        CceSpec s = shape(37, 7, v, uint64_t(v));
        s.bias = true;
        check_all(s);
    }
}

TEST_P(CceTest, TinyVocabularyWithSmoothingAndZLoss) {
    for (int64_t v : {1, 2, 3}) {
        CceSpec s = shape(19, 5, v, uint64_t(10 + v));
        s.smoothing = 0.2f;
        s.z_loss = 0.01f;
        check_all(s);
    }
}

TEST_P(CceTest, HiddenSizeNotAMultipleOfTheVectorWidth) {
    for (int64_t d : {1, 3, 7, 33, 129}) check_all(shape(19, d, 67, uint64_t(d)));
}

TEST_P(CceTest, LargeHiddenSize) {
    // Past one and two 256-deep K chunks of the CPU micro-kernels.
    check_all(shape(9, 300, 131));
    check_all(shape(5, 257, 37, 2));
    check_all(shape(5, 513, 29, 3));
}

TEST_P(CceTest, ManyTokensSmallVocabulary) {
    // More than two 512-token gradient blocks, with ignored tokens compacted
    // across block boundaries.
    CceSpec s = shape(1100, 24, 257);
    s.bias = true;
    s.ignore_frac = 0.3;
    s.smoothing = 0.1f;
    s.z_loss = 1e-3f;
    s.softcap = 10.0f;
    s.logit_std = 8.0;
    check_all(s);
}

TEST_P(CceTest, ManyTokensLargeVocabulary) {
    // Logits of all tokens over the whole vocabulary exceed any fixed-size
    // chunk buffer (1100 x 4099 x 4 bytes = 18 MB): several token chunks.
    CceSpec s = shape(1100, 3, 4099, 2);
    s.ignore_frac = 0.2;
    s.reduction = ENGRAM_REDUCTION_SUM;
    check_all(s);
}

TEST_P(CceTest, TokenCountNotAMultipleOfAnyBlock) {
    check_all(shape(37, 17, 67));
    check_all(shape(257, 9, 41, 2));
}

TEST_P(CceTest, SizesOnePastPowersOfTwo) {
    check_all(shape(65, 17, 129));
    check_all(shape(129, 9, 257, 2));
}

TEST_P(CceTest, SizesAtPowersOfTwo) { check_all(shape(64, 32, 256)); }

// --- reductions and the upstream gradient ---------------------------------------

TEST_P(CceTest, ReductionNoneWithPerTokenGradLoss) {
    CceSpec s = shape(37, 13, 97);
    s.reduction = ENGRAM_REDUCTION_NONE;
    s.ignore_frac = 0.25;
    Rng rng(7);
    std::vector<float> gl(size_t(s.n));
    for (auto& g : gl) g = float(rng.normal());
    gl[3] = 0.0f;
    check_all(s, {}, &gl);
}

TEST_P(CceTest, ReductionSumWithGradLoss) {
    CceSpec s = shape(37, 13, 97);
    s.reduction = ENGRAM_REDUCTION_SUM;
    s.ignore_frac = 0.25;
    const std::vector<float> gl{2.5f};
    check_all(s, {}, &gl);
}

TEST_P(CceTest, ReductionMeanWithGradLoss) {
    CceSpec s = shape(37, 13, 97);
    s.reduction = ENGRAM_REDUCTION_MEAN;
    s.ignore_frac = 0.25;
    const std::vector<float> gl{-0.75f};
    check_all(s, {}, &gl);
}

TEST_P(CceTest, NullGradLossMeansOneForEveryReduction) {
    for (int r : {ENGRAM_REDUCTION_NONE, ENGRAM_REDUCTION_SUM, ENGRAM_REDUCTION_MEAN}) {
        CceSpec s = shape(23, 11, 53, uint64_t(r + 1));
        s.reduction = r;
        s.ignore_frac = 0.3;
        check_all(s);
    }
}

TEST_P(CceTest, MeanDividesByValidTokensOnly) {
    // Same tokens, once with extra ignored tokens appended: the mean loss and
    // the gradients of the shared tokens must not change.
    CceSpec s = shape(10, 8, 31);
    const CceData base = make_cce_data(s);
    CceData padded = base;
    padded.spec.n = 16;
    padded.e.resize(16 * 8, 0.5f);
    padded.targets.resize(16, s.ignore_index);
    padded.e_raw = encode_floats(s.dtype, padded.e);
    padded.targets_raw = encode_ints(s.target_dtype, padded.targets);
    const CceResult a = run_forward_backward(ctx(), base, base.options(), nullptr);
    const CceResult b = run_forward_backward(ctx(), padded, padded.options(), nullptr);
    ASSERT_RUN_OK(a);
    ASSERT_RUN_OK(b);
    const ExpectedForward x = expect_forward(base);
    EXPECT_TRUE(all_within("padded mean loss", b.loss, x.loss, x.loss_bound));
    std::vector<float> head(b.grad_e.begin(), b.grad_e.begin() + 10 * 8);
    const ExpectedGrads xg = expect_grads(base, x, backend(), ENGRAM_DTYPE_F32, {}, 0.0);
    EXPECT_TRUE(all_within("padded grad_e (real tokens)", head, xg.grad_e, xg.grad_e_bound, 8));
    for (size_t i = 10 * 8; i < b.grad_e.size(); ++i)
        ASSERT_EQ(0.0f, b.grad_e[i]) << "grad_e of an ignored padding token, entry " << i;
    EXPECT_TRUE(all_within("padded grad_c", b.grad_c, xg.grad_c, xg.grad_c_bound, 8));
}

// --- options ---------------------------------------------------------------------

TEST_P(CceTest, Bias) {
    CceSpec s = shape(29, 19, 211);
    s.bias = true;
    s.bias_std = 2.0;
    check_all(s);
}

TEST_P(CceTest, BiasShiftOfPlus1e4DoesNotOverflow) {
    // Every logit ~ +1e4: exp without the max subtracted overflows.
    CceSpec s = shape(17, 9, 103);
    s.bias = true;
    s.bias_shift = 1e4;
    check_all(s);
}

TEST_P(CceTest, BiasShiftOfMinus1e4DoesNotUnderflow) {
    // Every logit ~ -1e4: sum of exp without the max subtracted is 0, log(0) = -inf.
    CceSpec s = shape(17, 9, 103);
    s.bias = true;
    s.bias_shift = -1e4;
    check_all(s);
}

TEST_P(CceTest, Softcap) {
    CceSpec s = shape(31, 12, 89);
    s.logit_std = 12.0;  // many logits beyond the cap
    s.softcap = 5.0f;
    check_all(s);
}

TEST_P(CceTest, SoftcapWithBias) {
    CceSpec s = shape(31, 12, 89, 3);
    s.logit_std = 30.0;
    s.bias = true;
    s.softcap = 30.0f;
    check_all(s);
}

TEST_P(CceTest, LabelSmoothing) {
    CceSpec s = shape(31, 12, 89);
    s.smoothing = 0.1f;
    check_all(s);
}

TEST_P(CceTest, LabelSmoothingNearOne) {
    CceSpec s = shape(31, 12, 89, 2);
    s.smoothing = 0.95f;
    check_all(s);
}

TEST_P(CceTest, ZLoss) {
    CceSpec s = shape(31, 12, 89);
    s.z_loss = 1e-3f;
    check_all(s);
}

TEST_P(CceTest, LargeZLoss) {
    CceSpec s = shape(31, 12, 89, 2);
    s.z_loss = 0.5f;
    s.bias = true;
    s.bias_shift = -3.0;  // negative lse: 1 + 2 zl lse changes sign for some tokens
    check_all(s);
}

TEST_P(CceTest, AllOptionsTogether) {
    CceSpec s = shape(37, 33, 211);
    s.bias = true;
    s.logit_std = 20.0;
    s.softcap = 15.0f;
    s.smoothing = 0.1f;
    s.z_loss = 1e-2f;
    s.ignore_frac = 0.3;
    s.reduction = ENGRAM_REDUCTION_SUM;
    check_all(s);
}

TEST_P(CceTest, AllOptionsTogetherReductionNone) {
    CceSpec s = shape(37, 33, 211, 5);
    s.bias = true;
    s.logit_std = 20.0;
    s.softcap = 15.0f;
    s.smoothing = 0.1f;
    s.z_loss = 1e-2f;
    s.ignore_frac = 0.3;
    s.reduction = ENGRAM_REDUCTION_NONE;
    Rng rng(3);
    std::vector<float> gl(size_t(s.n));
    for (auto& g : gl) g = float(rng.uniform(-2, 2));
    check_all(s, {}, &gl);
}

// --- ignored tokens ----------------------------------------------------------------

TEST_P(CceTest, EightyPercentIgnored) {
    for (int r : {ENGRAM_REDUCTION_NONE, ENGRAM_REDUCTION_SUM, ENGRAM_REDUCTION_MEAN}) {
        CceSpec s = shape(40, 17, 127, uint64_t(r + 3));
        s.ignore_frac = 0.8;
        s.reduction = r;
        check_all(s);
    }
}

TEST_P(CceTest, AllIgnoredGivesZerosEverywhere) {
    for (int r : {ENGRAM_REDUCTION_NONE, ENGRAM_REDUCTION_SUM, ENGRAM_REDUCTION_MEAN}) {
        CceSpec s = shape(21, 9, 37, uint64_t(r + 1));
        s.ignore_frac = 1.0;
        s.reduction = r;
        s.bias = true;
        s.smoothing = 0.1f;
        s.z_loss = 0.1f;
        SCOPED_TRACE(s.label());
        const CceData data = make_cce_data(s);
        ASSERT_EQ(0, data.valid());
        const CceResult fb = run_forward_backward(ctx(), data, data.options(), nullptr);
        ASSERT_RUN_OK(fb);
        for (float x : fb.loss) EXPECT_EQ(0.0f, x) << "loss";
        for (float x : fb.lse) EXPECT_EQ(0.0f, x) << "lse";
        for (float x : fb.grad_e) ASSERT_EQ(0.0f, x) << "grad_e";
        for (float x : fb.grad_c) ASSERT_EQ(0.0f, x) << "grad_c";
        for (float x : fb.grad_bias) ASSERT_EQ(0.0f, x) << "grad_bias";
        const CceResult b = run_backward(ctx(), data, data.options(), nullptr, nullptr);
        ASSERT_RUN_OK(b);
        for (float x : b.grad_c) ASSERT_EQ(0.0f, x) << "backward grad_c";
        EXPECT_EQ(0u, op_counter(b.stats, "tokens_valid"));
    }
}

TEST_P(CceTest, IgnoreIndexInsideTheVocabulary) {
    // ignore_index = 5 is also a valid class id: tokens with target 5 are ignored.
    CceSpec s = shape(40, 9, 11);
    s.ignore_index = 5;
    s.ignore_frac = 0.2;
    s.reduction = ENGRAM_REDUCTION_NONE;
    check_all(s);
}

TEST_P(CceTest, IgnoreIndexPositiveOutsideTheVocabulary) {
    CceSpec s = shape(40, 9, 11, 2);
    s.ignore_index = 1000000;
    s.ignore_frac = 0.5;
    check_all(s);
}

TEST_P(CceTest, IgnoredTokensGetZeroGradientWhateverTheirUpstream) {
    // reduction NONE: ignored tokens cost no compute, so a NaN upstream
    // gradient on them must not leak into any gradient.
    CceSpec s = shape(24, 8, 37);
    s.reduction = ENGRAM_REDUCTION_NONE;
    s.ignore_frac = 0.5;
    s.bias = true;
    const CceData data = make_cce_data(s);
    std::vector<float> gl(size_t(s.n), 1.0f);
    for (size_t i = 0; i < gl.size(); ++i)
        if (data.targets[i] == s.ignore_index) gl[i] = std::nanf("");
    std::vector<float> gl_clean(gl);
    for (auto& g : gl_clean) if (std::isnan(g)) g = 0.0f;
    const ExpectedForward xf = expect_forward(data);
    const ExpectedGrads xg = expect_grads(data, xf, backend(), ENGRAM_DTYPE_F32, gl_clean, 0.0);
    const CceResult b = run_backward(ctx(), data, data.options(), nullptr, &gl);
    ASSERT_RUN_OK(b);
    check_grads(b, xg, data);
    const CceResult fb = run_forward_backward(ctx(), data, data.options(), &gl);
    ASSERT_RUN_OK(fb);
    check_grads(fb, xg, data);
}

// --- extreme logits -------------------------------------------------------------------

TEST_P(CceTest, ExtremeLogits) {
    // logit std 3000: raw logits reach about +-1e4.
    CceSpec s = shape(23, 33, 131);
    s.logit_std = 3000.0;
    check_all(s);
}

TEST_P(CceTest, ExtremeLogitsWithSoftcap) {
    CceSpec s = shape(23, 33, 131, 2);
    s.logit_std = 3000.0;
    s.softcap = 30.0f;
    check_all(s);
}

TEST_P(CceTest, ExtremeLogitsWithAllOptions) {
    CceSpec s = shape(23, 33, 131, 3);
    s.logit_std = 3000.0;
    s.bias = true;
    s.smoothing = 0.1f;
    s.z_loss = 1e-4f;
    s.reduction = ENGRAM_REDUCTION_NONE;
    check_all(s);
}

TEST_P(CceTest, ExtremeLogitsF16AndBf16) {
    for (engram_dtype dt : {ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16}) {
        CceSpec s = shape(23, 33, 131, 4);
        s.dtype = dt;
        s.logit_std = 3000.0;
        check_all(s);
        s.softcap = 30.0f;
        check_all(s);
    }
}

// --- dtypes ---------------------------------------------------------------------------

TEST_P(CceTest, F32WithI32Targets) {
    CceSpec s = shape(37, 33, 97);
    s.target_dtype = ENGRAM_DTYPE_I32;
    s.bias = true;
    s.ignore_frac = 0.2;
    check_all(s);
}

TEST_P(CceTest, F16Inputs) {
    for (engram_dtype tdt : {ENGRAM_DTYPE_I32, ENGRAM_DTYPE_I64}) {
        CceSpec s = shape(37, 33, 211);
        s.dtype = ENGRAM_DTYPE_F16;
        s.target_dtype = tdt;
        s.bias = true;
        s.ignore_frac = 0.2;
        check_all(s);
    }
}

TEST_P(CceTest, Bf16Inputs) {
    for (engram_dtype tdt : {ENGRAM_DTYPE_I32, ENGRAM_DTYPE_I64}) {
        CceSpec s = shape(37, 33, 211, 2);
        s.dtype = ENGRAM_DTYPE_BF16;
        s.target_dtype = tdt;
        s.bias = true;
        s.ignore_frac = 0.2;
        check_all(s);
    }
}

TEST_P(CceTest, F16GradientsInInputDtype) {
    CceSpec s = shape(37, 33, 211, 3);
    s.dtype = ENGRAM_DTYPE_F16;
    s.bias = true;
    s.reduction = ENGRAM_REDUCTION_SUM;
    GradRequest req;
    req.dtype = ENGRAM_DTYPE_F16;
    check_all(s, req);
}

TEST_P(CceTest, Bf16GradientsInInputDtype) {
    CceSpec s = shape(37, 33, 211, 4);
    s.dtype = ENGRAM_DTYPE_BF16;
    s.bias = true;
    s.reduction = ENGRAM_REDUCTION_SUM;
    GradRequest req;
    req.dtype = ENGRAM_DTYPE_BF16;
    check_all(s, req);
}

// Shapes that reach the steady state of the CUDA tensor-core pipeline (hidden
// sizes a multiple of 8 spanning several 32-deep k tiles and, in the backward,
// several 64-wide chunks of d), and a token count spanning CPU token blocks.
TEST_P(CceTest, MultiTileHiddenSizes16Bit) {
    const struct {
        int64_t n, d, v;
    } shapes[] = {{300, 264, 1500}, {129, 520, 4099}, {1, 2304, 130}};
    uint64_t seed = 40;
    for (const auto& sh : shapes) {
        for (engram_dtype dt : {ENGRAM_DTYPE_BF16, ENGRAM_DTYPE_F16}) {
            CceSpec s = shape(sh.n, sh.d, sh.v, ++seed);
            s.dtype = dt;
            s.bias = true;
            s.softcap = 20.0f;
            s.smoothing = 0.1f;
            s.z_loss = 1e-4f;
            check_all(s);
        }
    }
}

TEST_P(CceTest, MultiTileHiddenSizesF32) {
    CceSpec s = shape(129, 520, 4099, 47);
    s.bias = true;
    check_all(s);
}

TEST_P(CceTest, F16AllOptionsOddShapes) {
    CceSpec s = shape(37, 7, 1009, 5);
    s.dtype = ENGRAM_DTYPE_F16;
    s.target_dtype = ENGRAM_DTYPE_I32;
    s.bias = true;
    s.logit_std = 10;
    s.softcap = 8.0f;
    s.smoothing = 0.05f;
    s.z_loss = 1e-3f;
    s.ignore_frac = 0.4;
    GradRequest req;
    req.dtype = ENGRAM_DTYPE_F16;
    check_all(s, req);
}

TEST_P(CceTest, Bf16AllOptionsOddShapes) {
    CceSpec s = shape(37, 7, 1009, 6);
    s.dtype = ENGRAM_DTYPE_BF16;
    s.bias = true;
    s.logit_std = 10;
    s.softcap = 8.0f;
    s.smoothing = 0.05f;
    s.z_loss = 1e-3f;
    s.ignore_frac = 0.4;
    s.reduction = ENGRAM_REDUCTION_NONE;
    check_all(s);
}

// --- which gradients, which lse ---------------------------------------------------------

TEST_P(CceTest, EachGradientAlone) {
    CceSpec s = shape(29, 13, 97);
    s.bias = true;
    for (int which = 0; which < 3; ++which) {
        GradRequest req;
        req.e = which == 0;
        req.c = which == 1;
        req.bias = which == 2;
        SCOPED_TRACE(which == 0 ? "grad_e only" : which == 1 ? "grad_c only" : "grad_bias only");
        check_all(s, req);
    }
}

TEST_P(CceTest, BackwardRecomputesLseWhenNull) {
    CceSpec s = shape(29, 13, 97);
    s.bias = true;
    s.softcap = 3.0f;
    s.smoothing = 0.1f;
    s.z_loss = 0.01f;
    s.ignore_frac = 0.3;
    const CceData data = make_cce_data(s);
    const ExpectedForward xf = expect_forward(data);
    const ExpectedGrads xg = expect_grads(data, xf, backend(), ENGRAM_DTYPE_F32, {}, 0.0);
    const CceResult b = run_backward(ctx(), data, data.options(), nullptr, nullptr);
    ASSERT_RUN_OK(b);
    check_grads(b, xg, data);
}

TEST_P(CceTest, BackwardUsesTheLseItIsGiven) {
    // The backward must use the caller's lse, not recompute it: with every lse
    // shifted by +log 2 the softmax part of the gradient is exactly halved.
    CceSpec s = shape(16, 8, 29);
    const CceData data = make_cce_data(s);
    const ExpectedForward xf = expect_forward(data);
    std::vector<float> lse(xf.lse.begin(), xf.lse.end());
    for (auto& x : lse) x += float(std::log(2.0));
    const CceResult b = run_backward(ctx(), data, data.options(), &lse, nullptr);
    ASSERT_RUN_OK(b);
    // Reference: dz = p / 2 - onehot, grad_bias-free; check grad_e.
    const RefProblem p = data.ref();
    std::vector<double> ref(size_t(s.n * s.d), 0.0), bound(ref.size(), 0.0);
    for (int64_t i = 0; i < s.n; ++i)
        for (int64_t j = 0; j < s.v; ++j) {
            const double g = (0.5 * std::exp(p.logit(i, j) - xf.lse[size_t(i)]) -
                              (j == data.targets[size_t(i)] ? 1.0 : 0.0)) /
                             double(s.n);
            for (int64_t k = 0; k < s.d; ++k) {
                ref[size_t(i * s.d + k)] += g * p.c[size_t(j * s.d + k)];
                bound[size_t(i * s.d + k)] += 1e-4 * std::fabs(g * p.c[size_t(j * s.d + k)]);
            }
        }
    EXPECT_TRUE(all_within("grad_e with shifted lse", b.grad_e, ref, bound, s.d));
}

TEST_P(CceTest, ForwardWithoutLse) {
    CceSpec s = shape(29, 13, 97);
    s.reduction = ENGRAM_REDUCTION_NONE;
    const CceData data = make_cce_data(s);
    const CceResult f = run_forward(ctx(), data, data.options(), /*want_lse=*/false);
    ASSERT_RUN_OK(f);
    check_forward(f, expect_forward(data));
}

TEST_P(CceTest, ForwardBackwardWithoutLse) {
    CceSpec s = shape(29, 13, 97);
    s.bias = true;
    const CceData data = make_cce_data(s);
    const ExpectedForward xf = expect_forward(data);
    const CceResult fb = run_forward_backward(ctx(), data, data.options(), nullptr, {}, false);
    ASSERT_RUN_OK(fb);
    check_forward(fb, xf);
    check_grads(fb, expect_grads(data, xf, backend(), ENGRAM_DTYPE_F32, {}, 0.0), data);
}

TEST_P(CceTest, ForwardBackwardEqualsForwardThenBackward) {
    for (int r : {ENGRAM_REDUCTION_NONE, ENGRAM_REDUCTION_MEAN}) {
        CceSpec s = shape(33, 21, 113, uint64_t(r + 1));
        s.bias = true;
        s.softcap = 6.0f;
        s.logit_std = 6.0;
        s.smoothing = 0.1f;
        s.z_loss = 1e-3f;
        s.ignore_frac = 0.25;
        s.reduction = r;
        SCOPED_TRACE(s.label());
        const CceData data = make_cce_data(s);
        Rng rng(11);
        std::vector<float> gl(r == ENGRAM_REDUCTION_NONE ? size_t(s.n) : 1);
        for (auto& g : gl) g = float(rng.uniform(-2, 2));
        const engram_cce_options o = data.options();
        const CceResult f = run_forward(ctx(), data, o);
        ASSERT_RUN_OK(f);
        const CceResult b = run_backward(ctx(), data, o, &f.lse, &gl);
        ASSERT_RUN_OK(b);
        const CceResult fb = run_forward_backward(ctx(), data, o, &gl);
        ASSERT_RUN_OK(fb);
        // Both are within their bound of the reference, so of each other
        // within twice the bound.
        const ExpectedForward xf = expect_forward(data);
        const ExpectedGrads xg = expect_grads(data, xf, backend(), ENGRAM_DTYPE_F32, gl, 0.0);
        auto twice = [](std::vector<double> b) {
            for (auto& x : b) x *= 2;
            return b;
        };
        EXPECT_TRUE(all_within("loss: fb vs forward", fb.loss, f.loss, twice(xf.loss_bound)));
        EXPECT_TRUE(all_within("lse: fb vs forward", fb.lse, f.lse, twice(xf.lse_bound)));
        EXPECT_TRUE(all_within("grad_e: fb vs backward", fb.grad_e, b.grad_e, twice(xg.grad_e_bound), s.d));
        EXPECT_TRUE(all_within("grad_c: fb vs backward", fb.grad_c, b.grad_c, twice(xg.grad_c_bound), s.d));
        EXPECT_TRUE(all_within("grad_bias: fb vs backward", fb.grad_bias, b.grad_bias, twice(xg.grad_bias_bound)));
        check_forward(fb, xf);
        check_grads(fb, xg, data);
    }
}

TEST_P(CceTest, GradientsAreOverwrittenNotAccumulated) {
    // Run the backward twice into the same buffers, which start out holding 1.0.
    CceSpec s = shape(17, 9, 41);
    s.bias = true;
    const CceData data = make_cce_data(s);
    const ExpectedForward xf = expect_forward(data);
    const ExpectedGrads xg = expect_grads(data, xf, backend(), ENGRAM_DTYPE_F32, {}, 0.0);
    auto in = upload_inputs(ctx(), data);
    const std::vector<float> ones_e(size_t(s.n * s.d), 1.0f), ones_c(size_t(s.v * s.d), 1.0f),
        ones_b(size_t(s.v), 1.0f);
    Buffer ge = ctx().upload(ones_e), gc = ctx().upload(ones_c), gb = ctx().upload(ones_b);
    engram_cce_grads g;
    engram_cce_grads_init(&g);
    g.grad_e = ge.get();
    g.grad_c = gc.get();
    g.grad_bias = gb.get();
    const engram_cce_options o = data.options();
    for (int round = 0; round < 2; ++round) {
        SCOPED_TRACE(round == 0 ? "first call (buffers hold 1.0)" : "second call (same buffers)");
        ASSERT_OK(engram_cce_backward(ctx().get(), &in.in, &o, nullptr, nullptr, &g));
        EXPECT_TRUE(all_within("grad_e", ge.floats(), xg.grad_e, xg.grad_e_bound, s.d));
        EXPECT_TRUE(all_within("grad_c", gc.floats(), xg.grad_c, xg.grad_c_bound, s.d));
        EXPECT_TRUE(all_within("grad_bias", gb.floats(), xg.grad_bias, xg.grad_bias_bound));
    }
}

TEST_P(CceTest, CheckTargetsOffGivesTheSameResult) {
    CceSpec s = shape(29, 13, 97);
    s.ignore_frac = 0.3;
    const CceData data = make_cce_data(s);
    engram_cce_options o = data.options();
    o.check_targets = 0;
    const ExpectedForward xf = expect_forward(data);
    const CceResult fb = run_forward_backward(ctx(), data, o, nullptr);
    ASSERT_RUN_OK(fb);
    check_forward(fb, xf);
    check_grads(fb, expect_grads(data, xf, backend(), ENGRAM_DTYPE_F32, {}, 0.0), data);
}

TEST_P(CceTest, TargetsAtTheVocabularyEdges) {
    // Every token's target is 0 or v - 1: the first and last columns of the
    // first and last blocks.
    CceSpec s = shape(31, 11, 1009);
    CceData data = make_cce_data(s);
    for (size_t i = 0; i < data.targets.size(); ++i) data.targets[i] = (i % 2) ? s.v - 1 : 0;
    data.targets_raw = encode_ints(s.target_dtype, data.targets);
    const ExpectedForward xf = expect_forward(data);
    const CceResult fb = run_forward_backward(ctx(), data, data.options(), nullptr);
    ASSERT_RUN_OK(fb);
    check_forward(fb, xf);
    check_grads(fb, expect_grads(data, xf, backend(), ENGRAM_DTYPE_F32, {}, 0.0), data);
}

TEST_P(CceTest, InputsAreNotModified) {
    CceSpec s = shape(17, 9, 41);
    s.bias = true;
    const CceData data = make_cce_data(s);
    auto in = upload_inputs(ctx(), data);
    Buffer loss = ctx().output(4), lse = ctx().output(size_t(s.n) * 4);
    Buffer ge = ctx().output(size_t(s.n * s.d) * 4), gc = ctx().output(size_t(s.v * s.d) * 4),
           gb = ctx().output(size_t(s.v) * 4);
    engram_cce_grads g;
    engram_cce_grads_init(&g);
    g.grad_e = ge.get();
    g.grad_c = gc.get();
    g.grad_bias = gb.get();
    const engram_cce_options o = data.options();
    ASSERT_OK(engram_cce_forward_backward(ctx().get(), &in.in, &o, nullptr, loss.as<float>(),
                                          lse.as<float>(), &g));
    ASSERT_OK(engram_cce_backward(ctx().get(), &in.in, &o, nullptr, nullptr, &g));
    auto bytes = [](const Buffer& b) {
        std::vector<uint8_t> v(b.bytes());
        b.download(v.data(), v.size());
        return v;
    };
    EXPECT_EQ(data.e_raw, bytes(in.e));
    EXPECT_EQ(data.c_raw, bytes(in.c));
    EXPECT_EQ(data.bias_raw, bytes(in.bias));
    EXPECT_EQ(data.targets_raw, bytes(in.targets));
}

// --- threads ---------------------------------------------------------------------------

TEST_P(CceTest, OneAndTwoThreadsAgree) {
    if (backend() != ENGRAM_BACKEND_CPU) GTEST_SKIP() << "threads apply to CPU contexts only";
    CceSpec s = shape(67, 19, 263);
    s.bias = true;
    s.smoothing = 0.1f;
    s.ignore_frac = 0.2;
    const CceData data = make_cce_data(s);
    const ExpectedForward xf = expect_forward(data);
    const ExpectedGrads xg = expect_grads(data, xf, backend(), ENGRAM_DTYPE_F32, {}, 0.0);
    std::vector<CceResult> results;
    for (int threads : {1, 2}) {
        ASSERT_OK(engram_context_set_threads(ctx().get(), threads));
        int32_t got = 0;
        ASSERT_OK(engram_context_get_threads(ctx().get(), &got));
        ASSERT_EQ(threads, got);
        results.push_back(run_forward_backward(ctx(), data, data.options(), nullptr));
        ASSERT_RUN_OK(results.back());
        SCOPED_TRACE(threads == 1 ? "1 thread" : "2 threads");
        check_forward(results.back(), xf);
        check_grads(results.back(), xg, data);
    }
    auto twice = [](std::vector<double> b) {
        for (auto& x : b) x *= 2;
        return b;
    };
    EXPECT_TRUE(all_within("loss 1 vs 2 threads", results[0].loss, results[1].loss, twice(xf.loss_bound)));
    EXPECT_TRUE(all_within("grad_c 1 vs 2 threads", results[0].grad_c, results[1].grad_c,
                           twice(xg.grad_c_bound), s.d));
}

ENGRAM_INSTANTIATE_BACKENDS(CceTest);

// The isa_* variants of this suite (CMakeLists.txt) force a lower CPU ISA with
// ENGRAM_CPU_ISA; the library must report, and so use, that ISA.
TEST(CceIsa, ForcedIsaIsReported) {
    const char* forced = std::getenv("ENGRAM_CPU_ISA");
    if (!forced) GTEST_SKIP() << "ENGRAM_CPU_ISA is not set (the isa_* test variants set it)";
    const engram_capabilities caps = capabilities();
    const std::string f = forced;
    if (f == "scalar") {
        EXPECT_EQ(ENGRAM_CPU_ISA_SCALAR, caps.cpu_isa);
    } else if (f == "avx2") {
        EXPECT_LE(caps.cpu_isa, int(ENGRAM_CPU_ISA_AVX2));
    } else if (f == "avx512") {
        EXPECT_LE(caps.cpu_isa, int(ENGRAM_CPU_ISA_AVX512));
    } else {
        EXPECT_LE(caps.cpu_isa, int(ENGRAM_CPU_ISA_AVX512_BF16));
    }
}

}  // namespace
}  // namespace engram_test
