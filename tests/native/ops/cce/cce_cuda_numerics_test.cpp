// cce_cuda_numerics_test.cpp — numerical edge cases that the CUDA kernels
// handle with code of their own (the CPU runs every case too, as the
// reference behaviour):
//  - upstream gradients that differ by ~2^20 between the rows of one token
//    tile, with f16 inputs: the tensor-core products round the logit gradient
//    to f16, which must not flush the rows with a small grad_loss;
//  - the non-finite contract of shared/cce_math.h (torch.logsumexp and
//    autograd): NaN logits give NaN lse, loss and gradient rows, +inf logits
//    give lse = +inf, all -inf rows give lse = -inf, -inf logits add nothing,
//    and the gradient filter never hides a NaN or an infinite upstream
//    gradient.
#include <cmath>
#include <limits>

#include "cce_harness.hpp"

namespace engram_test {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

class CceNumericsTest : public BackendTest {};

CceSpec shape(int64_t n, int64_t d, int64_t v, uint64_t seed = 1) {
    CceSpec s;
    s.n = n;
    s.d = d;
    s.v = v;
    s.seed = seed;
    return s;
}

// After editing e / c / bias / targets of a CceData.
void reencode(CceData& data) {
    data.e_raw = encode_floats(data.spec.dtype, data.e);
    data.c_raw = encode_floats(data.spec.dtype, data.c);
    data.bias_raw = encode_floats(data.spec.dtype, data.bias);
    data.targets_raw = encode_ints(data.spec.target_dtype, data.targets);
}

// Rows [row * cols, (row + 1) * cols) of `v` for every row not in `skip`.
template <class T>
std::vector<T> rows_except(const std::vector<T>& v, int64_t cols, const std::vector<int64_t>& skip) {
    std::vector<T> out;
    const int64_t rows = int64_t(v.size()) / cols;
    for (int64_t r = 0; r < rows; ++r) {
        bool skipped = false;
        for (int64_t s : skip) skipped |= s == r;
        if (!skipped) out.insert(out.end(), v.begin() + r * cols, v.begin() + (r + 1) * cols);
    }
    return out;
}

::testing::AssertionResult all_nan(const char* what, const std::vector<float>& v, size_t begin = 0,
                                   size_t end = size_t(-1)) {
    end = std::min(end, v.size());
    if (begin >= end) return ::testing::AssertionFailure() << what << ": nothing to check";
    for (size_t i = begin; i < end; ++i)
        if (!std::isnan(v[i]))
            return ::testing::AssertionFailure() << what << "[" << i << "] = " << v[i] << ", expected NaN";
    return ::testing::AssertionSuccess();
}

::testing::AssertionResult all_nonfinite(const char* what, const std::vector<float>& v,
                                         size_t begin = 0, size_t end = size_t(-1)) {
    end = std::min(end, v.size());
    if (begin >= end) return ::testing::AssertionFailure() << what << ": nothing to check";
    for (size_t i = begin; i < end; ++i)
        if (std::isfinite(v[i]))
            return ::testing::AssertionFailure()
                   << what << "[" << i << "] = " << v[i] << ", expected NaN or inf";
    return ::testing::AssertionSuccess();
}

// --- upstream gradients spanning 2^20 within a token tile -----------------------

// reduction NONE, grad_loss = +-2^k with k spread over 21 consecutive powers
// and interleaved, so every token tile (128 tokens on the tensor-core path)
// holds the whole range. Besides the usual bounds, every grad_e row must be
// grad_loss[i] times the row of a run with grad_loss = 1, within |grad_loss[i]|
// times that run's bound: a power of two scales dloss/dz exactly, so only
// rounding that depends on the other rows of the tile (a per-tile f16 scale)
// can break it.
TEST_P(CceNumericsTest, UpstreamGradientsSpanning2To20WithinOneTile) {
    for (engram_dtype dt : {ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16, ENGRAM_DTYPE_F32}) {
        for (int top : {0, 10}) {
            for (float eps : {0.0f, ENGRAM_FILTER_EPS_AUTO}) {
                CceSpec s = shape(96, 136, 300, uint64_t(7 + top));
                s.dtype = dt;
                s.bias = true;
                s.reduction = ENGRAM_REDUCTION_NONE;
                s.filter_eps = eps;
                SCOPED_TRACE(s.label() + " grad_loss in +-[2^" + std::to_string(top - 20) + ", 2^" +
                             std::to_string(top) + "]");
                const CceData data = make_cce_data(s);
                const engram_cce_options opts = data.options();
                const double resolved = eps < 0 ? auto_filter_eps(dt) : double(eps);
                std::vector<float> gl(size_t(s.n)), ones(size_t(s.n), 1.0f);
                for (int64_t i = 0; i < s.n; ++i)
                    gl[size_t(i)] = std::ldexp(i % 2 ? -1.0f : 1.0f, top - int((i * 8) % 21));

                const ExpectedForward xf = expect_forward(data);
                const ExpectedGrads xg = expect_grads(data, xf, backend(), ENGRAM_DTYPE_F32, gl, resolved);
                const CceResult fb = run_forward_backward(ctx(), data, opts, &gl);
                ASSERT_RUN_OK(fb);
                {
                    SCOPED_TRACE("engram_cce_forward_backward");
                    check_forward(fb, xf);
                    check_grads(fb, xg, data);
                }
                const CceResult b = run_backward(ctx(), data, opts, &fb.lse, &gl);
                ASSERT_RUN_OK(b);
                {
                    SCOPED_TRACE("engram_cce_backward");
                    check_grads(b, xg, data);
                }

                const ExpectedGrads x1 = expect_grads(data, xf, backend(), ENGRAM_DTYPE_F32, ones, resolved);
                const CceResult unit = run_backward(ctx(), data, opts, &fb.lse, &ones);
                ASSERT_RUN_OK(unit);
                std::vector<float> scaled(unit.grad_e.size());
                std::vector<double> bound(unit.grad_e.size());
                for (size_t i = 0; i < scaled.size(); ++i) {
                    const float g = gl[i / size_t(s.d)];
                    scaled[i] = g * unit.grad_e[i];  // exact: a power of two
                    bound[i] = 2.0 * std::fabs(double(g)) * x1.grad_e_bound[i];
                }
                EXPECT_TRUE(all_within("grad_e vs grad_loss[i] * grad_e(grad_loss = 1)", b.grad_e,
                                       scaled, bound, s.d));
            }
        }
    }
}

// --- non-finite logits ----------------------------------------------------------

// A NaN in one token's hidden state: that token's logits, lse and loss are
// NaN, and so is its grad_e row and every entry of grad_c and grad_bias (each
// sums over all tokens); the other tokens are unaffected.
TEST_P(CceNumericsTest, NaNLogitsGiveNaNLseLossAndGradients) {
    for (engram_dtype dt : {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16}) {
        for (float cap : {0.0f, 20.0f}) {
            CceSpec s = shape(7, 40, 300, 3);
            s.dtype = dt;
            s.bias = true;
            s.softcap = cap;
            s.reduction = ENGRAM_REDUCTION_NONE;
            s.filter_eps = ENGRAM_FILTER_EPS_AUTO;  // NaN must escape the filter
            SCOPED_TRACE(s.label());
            const int64_t bad = 2;
            const CceData clean = make_cce_data(s);
            CceData data = clean;
            data.e[size_t(bad * s.d + 5)] = kNaN;
            reencode(data);
            const auto d = size_t(s.d);

            const CceResult fb = run_forward_backward(ctx(), data, data.options(), nullptr);
            ASSERT_RUN_OK(fb);
            EXPECT_TRUE(std::isnan(fb.lse[size_t(bad)])) << "lse " << fb.lse[size_t(bad)];
            EXPECT_TRUE(std::isnan(fb.loss[size_t(bad)])) << "loss " << fb.loss[size_t(bad)];
            EXPECT_TRUE(all_nan("grad_e (NaN token)", fb.grad_e, size_t(bad) * d, size_t(bad + 1) * d));
            EXPECT_TRUE(all_nan("grad_c", fb.grad_c));
            EXPECT_TRUE(all_nan("grad_bias", fb.grad_bias));

            // The other tokens, against the problem without the NaN (their
            // lse, loss and grad_e rows do not depend on the NaN token).
            const ExpectedForward xf = expect_forward(clean);
            const ExpectedGrads xg = expect_grads(clean, xf, backend(), ENGRAM_DTYPE_F32, {},
                                                  auto_filter_eps(dt));
            const std::vector<int64_t> skip{bad};
            EXPECT_TRUE(all_within("lse (other tokens)", rows_except(fb.lse, 1, skip),
                                   rows_except(xf.lse, 1, skip), rows_except(xf.lse_bound, 1, skip)));
            EXPECT_TRUE(all_within("loss (other tokens)", rows_except(fb.loss, 1, skip),
                                   rows_except(xf.loss, 1, skip), rows_except(xf.loss_bound, 1, skip)));
            EXPECT_TRUE(all_within("grad_e (other tokens)", rows_except(fb.grad_e, s.d, skip),
                                   rows_except(xg.grad_e, s.d, skip),
                                   rows_except(xg.grad_e_bound, s.d, skip), s.d));

            CceSpec m = s;
            m.reduction = ENGRAM_REDUCTION_MEAN;
            data.spec = m;
            const CceResult f = run_forward(ctx(), data, data.options());
            ASSERT_RUN_OK(f);
            EXPECT_TRUE(std::isnan(f.loss[0])) << "mean loss " << f.loss[0];
        }
    }
}

// A +inf bias entry makes column j0 +inf for every token: lse = +inf, loss =
// +inf, or NaN for a token whose target is j0 (inf - inf); the gradient at
// j0 is exp(inf - inf) = NaN. With softcap, +inf becomes cap and all is finite.
TEST_P(CceNumericsTest, PlusInfLogitGivesInfLse) {
    for (engram_dtype dt : {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16}) {
        CceSpec s = shape(6, 24, 300, 4);
        s.dtype = dt;
        s.bias = true;
        s.reduction = ENGRAM_REDUCTION_NONE;
        SCOPED_TRACE(s.label());
        const int64_t j0 = 170;
        CceData data = make_cce_data(s);
        data.bias[size_t(j0)] = kInf;
        data.targets[1] = j0;
        for (size_t i = 0; i < data.targets.size(); ++i)
            if (i != 1 && data.targets[i] == j0) data.targets[i] = 0;
        reencode(data);
        const auto d = size_t(s.d);

        const CceResult fb = run_forward_backward(ctx(), data, data.options(), nullptr);
        ASSERT_RUN_OK(fb);
        for (int64_t i = 0; i < s.n; ++i) {
            SCOPED_TRACE("token " + std::to_string(i));
            EXPECT_EQ(kInf, fb.lse[size_t(i)]);
            if (i == 1) {
                EXPECT_TRUE(std::isnan(fb.loss[size_t(i)])) << fb.loss[size_t(i)];
            } else {
                EXPECT_EQ(kInf, fb.loss[size_t(i)]);
            }
        }
        EXPECT_TRUE(std::isnan(fb.grad_bias[size_t(j0)])) << fb.grad_bias[size_t(j0)];
        EXPECT_TRUE(all_nan("grad_c row j0", fb.grad_c, size_t(j0) * d, size_t(j0 + 1) * d));
        EXPECT_TRUE(all_nan("grad_e", fb.grad_e));

        CceSpec capped = s;
        capped.softcap = 20.0f;
        data.spec = capped;
        const CceResult c = run_forward_backward(ctx(), data, data.options(), nullptr);
        ASSERT_RUN_OK(c);
        for (const auto* v : {&c.lse, &c.loss, &c.grad_e, &c.grad_c, &c.grad_bias})
            for (float x : *v) ASSERT_TRUE(std::isfinite(x)) << "softcap maps +inf to cap";
        for (float x : c.lse) EXPECT_GE(x, 20.0f);
    }
}

// -inf logits contribute exp = 0: with the last columns' bias at -inf, lse,
// loss and gradients equal those of the vocabulary without those columns, and
// the gradients of the -inf columns are exactly 0. A vocabulary of nothing
// but -inf gives lse = -inf.
TEST_P(CceNumericsTest, MinusInfLogitsContributeNothing) {
    for (engram_dtype dt : {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16}) {
        CceSpec s = shape(9, 24, 300, 5);
        s.dtype = dt;
        s.bias = true;
        s.reduction = ENGRAM_REDUCTION_NONE;
        s.target_range = 200;
        SCOPED_TRACE(s.label());
        const int64_t keep = 200;  // columns [keep, v) get bias -inf
        CceData data = make_cce_data(s);
        CceData reduced = data;
        reduced.spec.v = keep;
        reduced.c.resize(size_t(keep * s.d));
        reduced.bias.resize(size_t(keep));
        reencode(reduced);
        for (int64_t j = keep; j < s.v; ++j) data.bias[size_t(j)] = -kInf;
        reencode(data);
        const auto d = size_t(s.d);

        std::vector<float> gl(size_t(s.n));
        for (size_t i = 0; i < gl.size(); ++i) gl[i] = 0.5f + float(i);
        const CceResult fb = run_forward_backward(ctx(), data, data.options(), &gl);
        ASSERT_RUN_OK(fb);
        const ExpectedForward xf = expect_forward(reduced);
        const ExpectedGrads xg = expect_grads(reduced, xf, backend(), ENGRAM_DTYPE_F32, gl, 0.0);
        check_forward(fb, xf);
        EXPECT_TRUE(all_within("grad_e", fb.grad_e, xg.grad_e, xg.grad_e_bound, s.d));
        const std::vector<float> gc(fb.grad_c.begin(), fb.grad_c.begin() + keep * s.d);
        const std::vector<float> gb(fb.grad_bias.begin(), fb.grad_bias.begin() + keep);
        EXPECT_TRUE(all_within("grad_c (finite columns)", gc, xg.grad_c, xg.grad_c_bound, s.d));
        EXPECT_TRUE(all_within("grad_bias (finite columns)", gb, xg.grad_bias, xg.grad_bias_bound));
        for (size_t k = size_t(keep) * d; k < fb.grad_c.size(); ++k)
            ASSERT_EQ(0.0f, fb.grad_c[k]) << "grad_c of a -inf column, entry " << k;
        for (size_t j = size_t(keep); j < fb.grad_bias.size(); ++j)
            ASSERT_EQ(0.0f, fb.grad_bias[j]) << "grad_bias of a -inf column " << j;

        for (auto& b : data.bias) b = -kInf;
        reencode(data);
        const CceResult f = run_forward(ctx(), data, data.options());
        ASSERT_RUN_OK(f);
        for (float x : f.lse) EXPECT_EQ(-kInf, x) << "every logit -inf";
        for (float x : f.loss) EXPECT_TRUE(std::isnan(x)) << "-inf - (-inf): " << x;
    }
}

// --- the gradient filter and non-finite upstream gradients ----------------------

// A peaked softmax lets the filter skip most blocks; a NaN or infinite
// grad_loss must still reach every gradient entry of its token (G = dloss/dz *
// upstream is NaN or inf wherever dloss/dz is tiny), so no block holding such a
// token may be skipped.
TEST_P(CceNumericsTest, FilterNeverSkipsNonFiniteUpstreamGradients) {
    for (engram_dtype dt : {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16}) {
        CceSpec s = shape(48, 64, 2053, 6);
        s.dtype = dt;
        s.peak = 25.0;
        s.target_range = 8;
        s.reduction = ENGRAM_REDUCTION_NONE;
        s.filter_eps = 1.0f / 2048.0f;
        SCOPED_TRACE(s.label());
        const CceData data = make_cce_data(s);
        const auto d = size_t(s.d);
        for (float bad : {kNaN, kInf}) {
            SCOPED_TRACE(std::string("grad_loss ") + (std::isnan(bad) ? "NaN" : "inf"));
            std::vector<float> gl(size_t(s.n), 1.0f);
            gl[5] = bad;
            const CceResult b = run_backward(ctx(), data, data.options(), nullptr, &gl);
            ASSERT_RUN_OK(b);
            EXPECT_TRUE(all_nonfinite("grad_e (token 5)", b.grad_e, 5 * d, 6 * d));
            EXPECT_TRUE(all_nonfinite("grad_c", b.grad_c));
            // Another token, as without the bad one.
            std::vector<float> gl0(gl);
            gl0[5] = 0.0f;
            const ExpectedForward xf = expect_forward(data);
            const ExpectedGrads xg =
                expect_grads(data, xf, backend(), ENGRAM_DTYPE_F32, gl0, double(s.filter_eps));
            const std::vector<int64_t> skip{5};
            EXPECT_TRUE(all_within("grad_e (other tokens)", rows_except(b.grad_e, s.d, skip),
                                   rows_except(xg.grad_e, s.d, skip),
                                   rows_except(xg.grad_e_bound, s.d, skip), s.d));
        }
        // Finite upstream gradients: the same problem must skip blocks.
        const std::vector<float> ones(size_t(s.n), 1.0f);
        const CceResult ok = run_backward(ctx(), data, data.options(), nullptr, &ones);
        ASSERT_RUN_OK(ok);
        EXPECT_GT(op_counter(ok.stats, "blocks_skipped"), 0u) << "the peaked problem should let the filter skip";
    }
}

// --- shard combine --------------------------------------------------------------

// Each shard's lse is one term of the logsumexp: -inf adds nothing, +inf and
// NaN propagate, and all shards at -inf give -inf.
TEST_P(CceNumericsTest, ShardCombineOfNonFiniteShardLse) {
    CceSpec s = shape(5, 4, 10, 8);
    s.reduction = ENGRAM_REDUCTION_NONE;
    const CceData data = make_cce_data(s);
    const size_t n = size_t(s.n);
    // [shard][token]
    const std::vector<float> lse0{1.0f, -kInf, kInf, kNaN, -kInf};
    const std::vector<float> lse1{2.0f, 3.0f, 3.0f, 3.0f, -kInf};
    std::vector<float> shard_lse(lse0);
    shard_lse.insert(shard_lse.end(), lse1.begin(), lse1.end());
    const std::vector<float> target{1.5f, 0.25f, 0.25f, 0.25f, -kInf};
    const CceResult c = run_shard_combine(ctx(), data, data.options(), 2, shard_lse, target, nullptr);
    ASSERT_RUN_OK(c);
    ASSERT_EQ(n, c.lse.size());
    const double lse_0 = std::log(std::exp(1.0) + std::exp(2.0));
    EXPECT_NEAR(lse_0, c.lse[0], 1e-6);
    EXPECT_NEAR(lse_0 - 1.5, c.loss[0], 1e-6);
    EXPECT_EQ(3.0f, c.lse[1]);
    EXPECT_EQ(2.75f, c.loss[1]);
    EXPECT_EQ(kInf, c.lse[2]);
    EXPECT_EQ(kInf, c.loss[2]);
    EXPECT_TRUE(std::isnan(c.lse[3])) << c.lse[3];
    EXPECT_TRUE(std::isnan(c.loss[3])) << c.loss[3];
    EXPECT_EQ(-kInf, c.lse[4]);
    EXPECT_TRUE(std::isnan(c.loss[4])) << c.loss[4];
}

ENGRAM_INSTANTIATE_BACKENDS(CceNumericsTest);

}  // namespace
}  // namespace engram_test
