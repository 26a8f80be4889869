// cce_shard_test.cpp — vocabulary parallelism: split the classifier into uneven
// shards, run engram_cce_shard_forward on each, gather shard_lse into
// [shards, n] and sum target_logit and logit_sum (what an all-gather and an
// all-reduce would do), then engram_cce_shard_combine must give the unsharded
// loss (every reduction) and lse; each shard's engram_cce_backward with that
// global lse must give exactly its rows of grad_c / grad_bias, and grad_e
// partials that sum to the unsharded grad_e.
#include <cmath>

#include "cce_harness.hpp"

namespace engram_test {
namespace {

class CceShardTest : public BackendTest {
protected:
    // Everything above for one problem and one split (edges: 0 = e0 < e1 < ... = v).
    void check_sharded(const CceSpec& spec, const std::vector<int64_t>& edges,
                       const std::vector<float>* grad_loss = nullptr, GradRequest req = {}) {
        SCOPED_TRACE(spec.label());
        ASSERT_EQ(0, edges.front());
        ASSERT_EQ(spec.v, edges.back());
        const CceData data = make_cce_data(spec);
        const engram_cce_options o = data.options();
        const size_t n = size_t(spec.n);
        const int64_t shards = int64_t(edges.size()) - 1;
        const ExpectedForward xf = expect_forward(data);
        const RefProblem ref = data.ref();
        const double u = 5.9604644775390625e-08;

        // Step 1 on every shard, each checked against the reference.
        std::vector<float> all_lse, target_sum(n, 0.0f), logit_sum(n, 0.0f);
        for (int64_t k = 0; k < shards; ++k) {
            const int64_t a = edges[size_t(k)], b = edges[size_t(k) + 1];
            SCOPED_TRACE("shard [" + std::to_string(a) + ", " + std::to_string(b) + ")");
            const CceResult sf = run_shard_forward(ctx(), data, o, a, b);
            ASSERT_RUN_OK(sf);
            EXPECT_EQ(uint64_t(data.valid()), op_counter(sf.stats, "tokens_valid"));
            const RefShard rs = ref_cce_shard_forward(ref, a, b);
            std::vector<double> lse_bound(n), tl_bound(n), sum_bound(n);
            for (size_t i = 0; i < n; ++i) {
                const int64_t t = data.targets[i];
                lse_bound[i] = xf.lse_bound[i];
                tl_bound[i] = (t >= a && t < b) ? xf.logit_bound[i] : 0.0;  // else exactly 0
                sum_bound[i] = double(b - a) * xf.logit_bound[i] +
                               u * (8 + 2 * std::sqrt(double(spec.v))) * double(spec.v) *
                                   xf.ref.mean_abs_logit[i];
            }
            EXPECT_TRUE(all_within("shard_lse", sf.shard_lse, rs.shard_lse, lse_bound));
            EXPECT_TRUE(all_within("target_logit", sf.target_logit, rs.target_logit, tl_bound));
            EXPECT_TRUE(all_within("logit_sum", sf.logit_sum, rs.logit_sum, sum_bound));
            all_lse.insert(all_lse.end(), sf.shard_lse.begin(), sf.shard_lse.end());
            for (size_t i = 0; i < n; ++i) {
                target_sum[i] += sf.target_logit[i];
                logit_sum[i] += sf.logit_sum[i];
            }
        }

        // Step 2: combine, against the reference and the unsharded forward.
        auto scaled = [](std::vector<double> b, double f) {
            for (auto& x : b) x *= f;
            return b;
        };
        const CceResult c = run_shard_combine(ctx(), data, o, shards, all_lse, target_sum, &logit_sum);
        ASSERT_RUN_OK(c);
        EXPECT_TRUE(all_within("combined loss", c.loss, xf.loss, scaled(xf.loss_bound, 2)));
        EXPECT_TRUE(all_within("combined lse", c.lse, xf.lse, scaled(xf.lse_bound, 2)));
        const CceResult f = run_forward(ctx(), data, o);
        ASSERT_RUN_OK(f);
        EXPECT_TRUE(all_within("combined vs unsharded loss", c.loss, f.loss, scaled(xf.loss_bound, 3)));
        EXPECT_TRUE(all_within("combined vs unsharded lse", c.lse, f.lse, scaled(xf.lse_bound, 3)));

        // Backward on every shard with the global lse.
        const std::vector<float> none;
        const ExpectedGrads xg =
            expect_grads(data, xf, backend(), req.dtype, grad_loss ? *grad_loss : none, 0.0);
        const auto d = size_t(spec.d);
        std::vector<double> grad_e_sum(n * d, 0.0), grad_e_abs(n * d, 0.0);
        for (int64_t k = 0; k < shards; ++k) {
            const int64_t a = edges[size_t(k)], b = edges[size_t(k) + 1];
            SCOPED_TRACE("backward of shard [" + std::to_string(a) + ", " + std::to_string(b) + ")");
            const CceResult sb = run_shard_backward(ctx(), data, o, a, b, c.lse, grad_loss, req);
            ASSERT_RUN_OK(sb);
            auto rows = [&](const std::vector<double>& full, size_t width) {
                return std::vector<double>(full.begin() + ptrdiff_t(size_t(a) * width),
                                           full.begin() + ptrdiff_t(size_t(b) * width));
            };
            if (req.c) {
                EXPECT_TRUE(all_within("shard grad_c", sb.grad_c, rows(xg.grad_c, d),
                                       scaled(rows(xg.grad_c_bound, d), 2), spec.d));
            }
            if (req.bias && spec.bias) {
                EXPECT_TRUE(all_within("shard grad_bias", sb.grad_bias, rows(xg.grad_bias, 1),
                                       scaled(rows(xg.grad_bias_bound, 1), 2)));
            }
            if (req.e) {
                ASSERT_EQ(grad_e_sum.size(), sb.grad_e.size());
                for (size_t i = 0; i < grad_e_sum.size(); ++i) {
                    grad_e_sum[i] += sb.grad_e[i];
                    grad_e_abs[i] += std::fabs(sb.grad_e[i]);
                }
            }
        }
        if (req.e) {
            // 16-bit partials are each rounded: the sum carries that rounding
            // relative to the partials, which may be larger than their sum.
            const double r_out = req.dtype == ENGRAM_DTYPE_BF16  ? 1.0 / 256
                                 : req.dtype == ENGRAM_DTYPE_F16 ? 1.0 / 2048
                                                                 : 0.0;
            const double a_out = req.dtype == ENGRAM_DTYPE_F16 ? 2.98023223876953125e-08 : 0.0;
            std::vector<double> bound = scaled(xg.grad_e_bound, 2);
            for (size_t i = 0; i < bound.size(); ++i)
                bound[i] += r_out * grad_e_abs[i] + double(shards) * a_out;
            std::vector<float> summed(grad_e_sum.begin(), grad_e_sum.end());
            EXPECT_TRUE(all_within("sum of shard grad_e", summed, xg.grad_e, bound, spec.d));
        }
    }
};

CceSpec base_spec(uint64_t seed = 1) {
    CceSpec s;
    s.n = 37;
    s.d = 19;
    s.v = 1009;
    s.bias = true;
    s.ignore_frac = 0.2;
    s.seed = seed;
    return s;
}

const std::vector<int64_t> kEdges{0, 150, 611, 1009};

TEST_P(CceShardTest, ThreeUnevenShardsEqualUnsharded) { check_sharded(base_spec(), kEdges); }

TEST_P(CceShardTest, FirstShardOfOneColumn) { check_sharded(base_spec(2), {0, 1, 500, 1009}); }

TEST_P(CceShardTest, LastShardOfOneColumn) { check_sharded(base_spec(3), {0, 600, 1008, 1009}); }

TEST_P(CceShardTest, ReductionNoneWithPerTokenGradLoss) {
    CceSpec s = base_spec(4);
    s.reduction = ENGRAM_REDUCTION_NONE;
    Rng rng(5);
    std::vector<float> gl(size_t(s.n));
    for (auto& g : gl) g = float(rng.uniform(-2, 2));
    check_sharded(s, kEdges, &gl);
}

TEST_P(CceShardTest, ReductionSum) {
    CceSpec s = base_spec(5);
    s.reduction = ENGRAM_REDUCTION_SUM;
    const std::vector<float> gl{0.5f};
    check_sharded(s, kEdges, &gl);
}

TEST_P(CceShardTest, ReductionMean) {
    CceSpec s = base_spec(6);
    s.reduction = ENGRAM_REDUCTION_MEAN;
    const std::vector<float> gl{3.0f};
    check_sharded(s, kEdges, &gl);
}

TEST_P(CceShardTest, LabelSmoothingAndZLoss) {
    for (int r : {ENGRAM_REDUCTION_NONE, ENGRAM_REDUCTION_SUM, ENGRAM_REDUCTION_MEAN}) {
        CceSpec s = base_spec(uint64_t(7 + r));
        s.smoothing = 0.1f;
        s.z_loss = 1e-3f;
        s.reduction = r;
        check_sharded(s, kEdges);
    }
}

TEST_P(CceShardTest, SoftcapSmoothingAndZLoss) {
    CceSpec s = base_spec(10);
    s.logit_std = 20.0;
    s.softcap = 10.0f;
    s.smoothing = 0.2f;
    s.z_loss = 1e-2f;
    check_sharded(s, kEdges);
}

TEST_P(CceShardTest, F16WithI32Targets) {
    CceSpec s = base_spec(11);
    s.dtype = ENGRAM_DTYPE_F16;
    s.target_dtype = ENGRAM_DTYPE_I32;
    s.smoothing = 0.1f;
    check_sharded(s, kEdges);
}

TEST_P(CceShardTest, Bf16WithBf16Gradients) {
    CceSpec s = base_spec(12);
    s.dtype = ENGRAM_DTYPE_BF16;
    GradRequest req;
    req.dtype = ENGRAM_DTYPE_BF16;
    check_sharded(s, kEdges, nullptr, req);
}

TEST_P(CceShardTest, ManyIgnoredTokens) {
    CceSpec s = base_spec(13);
    s.ignore_frac = 0.8;
    check_sharded(s, kEdges);
}

TEST_P(CceShardTest, AllTokensIgnored) {
    CceSpec s = base_spec(14);
    s.ignore_frac = 1.0;
    s.smoothing = 0.1f;
    check_sharded(s, kEdges);
}

TEST_P(CceShardTest, ExtremeLogits) {
    CceSpec s = base_spec(15);
    s.logit_std = 3000.0;
    s.smoothing = 0.1f;
    check_sharded(s, kEdges);
}

TEST_P(CceShardTest, TargetsConcentratedInOneShard) {
    // Every target in the first shard: the other two contribute no target logit.
    CceSpec s = base_spec(16);
    s.target_range = 8;
    check_sharded(s, {0, 8, 500, 1009});
}

TEST_P(CceShardTest, CombineWithoutOptionalOutputs) {
    // No smoothing: logit_sum may be NULL in both steps, and lse NULL in combine.
    CceSpec s = base_spec(17);
    s.reduction = ENGRAM_REDUCTION_NONE;
    const CceData data = make_cce_data(s);
    const engram_cce_options o = data.options();
    std::vector<float> all_lse, tl(size_t(s.n), 0.0f);
    for (size_t k = 0; k + 1 < kEdges.size(); ++k) {
        const CceResult sf = run_shard_forward(ctx(), data, o, kEdges[k], kEdges[k + 1], false);
        ASSERT_RUN_OK(sf);
        all_lse.insert(all_lse.end(), sf.shard_lse.begin(), sf.shard_lse.end());
        for (size_t i = 0; i < tl.size(); ++i) tl[i] += sf.target_logit[i];
    }
    const CceResult c = run_shard_combine(ctx(), data, o, 3, all_lse, tl, nullptr, false);
    ASSERT_RUN_OK(c);
    const ExpectedForward xf = expect_forward(data);
    std::vector<double> b(xf.loss_bound);
    for (auto& x : b) x *= 2;
    EXPECT_TRUE(all_within("combined loss", c.loss, xf.loss, b));
}

TEST_P(CceShardTest, ManyTokens) {
    CceSpec s = base_spec(19);
    s.n = 700;
    s.d = 5;
    s.smoothing = 0.1f;
    check_sharded(s, kEdges);
}

TEST_P(CceShardTest, OneShardHoldingTheWholeVocabulary) {
    check_sharded(base_spec(18), {0, 1009});
}

ENGRAM_INSTANTIATE_BACKENDS(CceShardTest);

}  // namespace
}  // namespace engram_test
