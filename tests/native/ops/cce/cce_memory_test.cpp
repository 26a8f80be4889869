// cce_memory_test.cpp — what CCE costs in scratch memory (the point of the op:
// the N x V logit matrix never exists) and what the op statistics report.
// engram_context_get_memory_stats counts the scratch an op allocates on the
// context (host memory on CPU, device memory on CUDA).
#include "cce_harness.hpp"

namespace engram_test {
namespace {

class CceMemoryTest : public BackendTest {
protected:
    engram_memory_stats memory() {
        engram_memory_stats m;
        engram_memory_stats_init(&m);
        EXPECT_OK(engram_context_get_memory_stats(ctx().get(), &m));
        return m;
    }
    engram_op_stats op_stats() {
        engram_op_stats st;
        engram_op_stats_init(&st);
        EXPECT_OK(engram_context_get_op_stats(ctx().get(), &st));
        return st;
    }
    static CceSpec big(int64_t n, int64_t d, int64_t v) {
        CceSpec s;
        s.n = n;
        s.d = d;
        s.v = v;
        s.ignore_frac = 0.1;
        return s;
    }
    // Bound on the peak: a twentieth of the logit matrix in fp32.
    static uint64_t logit_matrix_share(const CceSpec& s) { return uint64_t(s.n) * uint64_t(s.v) * 4 / 20; }
};

TEST_P(CceMemoryTest, FreshContextHasNoScratch) {
    const engram_memory_stats m = memory();
    EXPECT_EQ(sizeof(engram_memory_stats), m.struct_size);
    EXPECT_EQ(0u, m.current_bytes);
    EXPECT_EQ(0u, m.peak_bytes);
    EXPECT_EQ(0u, m.allocations);
    const engram_op_stats st = op_stats();
    EXPECT_EQ(sizeof(engram_op_stats), st.struct_size);
    EXPECT_EQ(0u, op_counter(st, "blocks_total"));
    EXPECT_EQ(0u, op_counter(st, "blocks_skipped"));
    EXPECT_EQ(0u, op_counter(st, "tokens_valid"));
}

TEST_P(CceMemoryTest, ForwardScratchIsFarBelowTheLogitMatrix) {
    const CceSpec s = big(512, 16, 8192);
    const CceData data = make_cce_data(s);
    const CceResult f = run_forward(ctx(), data, data.options());
    ASSERT_RUN_OK(f);
    const engram_memory_stats m = memory();
    EXPECT_GT(m.peak_bytes, 0u) << "the forward allocated no counted scratch at all";
    EXPECT_LE(m.peak_bytes, logit_matrix_share(s))
        << "peak scratch of the forward is not far below N*V*4 = " << uint64_t(s.n) * s.v * 4;
    EXPECT_GT(m.allocations, 0u);
    EXPECT_EQ(0u, m.current_bytes) << "scratch still held after the op returned";
}

// The backward passes may use fixed-size buffers (tiles, token chunks) that
// are large next to a small problem's logit matrix, so they are checked by
// growth instead: with 4x the tokens the peak may grow by a few bytes per token
// (per-token lse, upstream gradient, indices, an fp32 row of grad_e), never by
// anything proportional to N * V.
class CceMemoryGrowthTest : public CceMemoryTest {
protected:
    template <class Run>
    void check_growth(const char* op, Run run) {
        SCOPED_TRACE(op);
        const int64_t v = 4096, d = 8, n_small = 1024, n_large = 4096;
        uint64_t peak[2] = {0, 0};
        for (int k = 0; k < 2; ++k) {
            const CceSpec s = big(k == 0 ? n_small : n_large, d, v);
            const CceData data = make_cce_data(s);
            ASSERT_OK(engram_context_reset_peak_memory(ctx().get()));
            const CceResult r = run(data);
            ASSERT_RUN_OK(r);
            const engram_memory_stats m = memory();
            peak[k] = m.peak_bytes;
            EXPECT_EQ(0u, m.current_bytes) << "scratch still held after the op returned";
        }
        EXPECT_GT(peak[0], 0u) << "no counted scratch at all";
        const uint64_t per_token = 64 + 8 * uint64_t(d);
        EXPECT_LE(peak[1], peak[0] + uint64_t(n_large - n_small) * per_token)
            << "peak scratch grows with N * V: " << peak[0] << " bytes at N=" << n_small << ", "
            << peak[1] << " at N=" << n_large << " (V=" << v << ")";
        EXPECT_LE(peak[1], uint64_t(n_large) * v * 4 / 8)
            << "peak scratch is a large part of the logit matrix";
    }
};

TEST_P(CceMemoryGrowthTest, ForwardScratchDoesNotGrowWithTheLogitMatrix) {
    check_growth("engram_cce_forward",
                 [&](const CceData& data) { return run_forward(ctx(), data, data.options()); });
}

TEST_P(CceMemoryGrowthTest, BackwardScratchDoesNotGrowWithTheLogitMatrix) {
    check_growth("engram_cce_backward", [&](const CceData& data) {
        return run_backward(ctx(), data, data.options(), nullptr, nullptr);
    });
}

TEST_P(CceMemoryGrowthTest, ForwardBackwardScratchDoesNotGrowWithTheLogitMatrix) {
    check_growth("engram_cce_forward_backward", [&](const CceData& data) {
        return run_forward_backward(ctx(), data, data.options(), nullptr);
    });
}

// opts->scratch_bytes trades memory for speed in the one-pass
// forward_backward: a larger budget buys a larger token chunk (the chunk's
// logits are its largest buffer); results stay within the reference bounds.
TEST_P(CceMemoryTest, ScratchBudgetSizesTheFusedChunk) {
    if (backend() != ENGRAM_BACKEND_CPU) GTEST_SKIP() << "the budget sizes the CPU one-pass chunk";
    CceSpec s = big(700, 24, 3000);
    s.bias = true;
    const CceData data = make_cce_data(s);
    const ExpectedForward xf = expect_forward(data);
    const ExpectedGrads xg = expect_grads(data, xf, backend(), ENGRAM_DTYPE_F32, {}, 0.0);
    const uint64_t logits = uint64_t(s.n) * uint64_t(s.v) * 4;
    std::vector<uint64_t> peaks;
    for (uint64_t budget : {uint64_t(0), logits / 8, logits / 2, logits * 2}) {
        SCOPED_TRACE("scratch_bytes " + std::to_string(budget));
        engram_cce_options o = data.options();
        o.scratch_bytes = budget;
        ASSERT_OK(engram_context_reset_peak_memory(ctx().get()));
        const CceResult r = run_forward_backward(ctx(), data, o, nullptr);
        ASSERT_RUN_OK(r);
        check_forward(r, xf);
        check_grads(r, xg, data);
        peaks.push_back(memory().peak_bytes);
    }
    // Default: one 32-token chunk (1/128 of the logits is less than one
    // panel here); 1/8 and 1/2 budgets: larger chunks, within the budget plus
    // the fixed per-worker buffers; a budget past the whole matrix is capped
    // (at 1024-token chunks: here all 700 tokens at once).
    EXPECT_LT(peaks[0], peaks[1]);
    EXPECT_LT(peaks[1], peaks[2]);
    EXPECT_LE(peaks[1], logits / 8 + logits / 8);
    EXPECT_LE(peaks[2], logits / 2 + logits / 8);
    EXPECT_LE(peaks[3], logits + logits / 4);
}

TEST_P(CceMemoryTest, ResetPeakStartsAFreshMeasurement) {
    const CceSpec s = big(512, 16, 8192);
    const CceData data = make_cce_data(s);
    ASSERT_RUN_OK(run_forward(ctx(), data, data.options()));
    const engram_memory_stats after_big = memory();
    ASSERT_GT(after_big.peak_bytes, 0u);
    ASSERT_OK(engram_context_reset_peak_memory(ctx().get()));
    const engram_memory_stats after_reset = memory();
    EXPECT_EQ(after_reset.current_bytes, after_reset.peak_bytes);
    EXPECT_EQ(after_big.allocations, after_reset.allocations) << "reset must not touch the count";
    // A much smaller op afterwards: the peak is its own, not the big one's.
    CceSpec small = s;
    small.n = 4;
    small.v = 64;
    const CceData small_data = make_cce_data(small);
    ASSERT_RUN_OK(run_forward(ctx(), small_data, small_data.options()));
    const engram_memory_stats after_small = memory();
    EXPECT_LT(after_small.peak_bytes, after_big.peak_bytes);
    EXPECT_GE(after_small.allocations, after_reset.allocations);
}

TEST_P(CceMemoryTest, AllocationCountNeverDecreases) {
    const CceSpec s = big(64, 16, 512);
    const CceData data = make_cce_data(s);
    uint64_t last = memory().allocations;
    for (int i = 0; i < 3; ++i) {
        ASSERT_RUN_OK(run_forward_backward(ctx(), data, data.options(), nullptr));
        const uint64_t now = memory().allocations;
        EXPECT_GE(now, last);
        last = now;
    }
}

// --- op stats ---------------------------------------------------------------------

TEST_P(CceMemoryTest, TokensValidCountsNonIgnoredTokens) {
    CceSpec s = big(50, 8, 97);
    s.ignore_frac = 0.3;  // 15 of 50 ignored
    const CceData data = make_cce_data(s);
    ASSERT_EQ(35, data.valid());
    const CceResult f = run_forward(ctx(), data, data.options());
    ASSERT_RUN_OK(f);
    EXPECT_EQ(35u, op_counter(f.stats, "tokens_valid")) << "forward";
    const CceResult b = run_backward(ctx(), data, data.options(), &f.lse, nullptr);
    ASSERT_RUN_OK(b);
    EXPECT_EQ(35u, op_counter(b.stats, "tokens_valid")) << "backward";
    const CceResult fb = run_forward_backward(ctx(), data, data.options(), nullptr);
    ASSERT_RUN_OK(fb);
    EXPECT_EQ(35u, op_counter(fb.stats, "tokens_valid")) << "forward_backward";
    const CceResult sf = run_shard_forward(ctx(), data, data.options(), 10, 60);
    ASSERT_RUN_OK(sf);
    EXPECT_EQ(35u, op_counter(sf.stats, "tokens_valid")) << "shard_forward";
}

TEST_P(CceMemoryTest, TokensValidWithCustomIgnoreIndex) {
    CceSpec s = big(40, 8, 97);
    s.ignore_index = 3;  // a real class id
    s.ignore_frac = 0.25;
    const CceData data = make_cce_data(s);
    const CceResult f = run_forward(ctx(), data, data.options());
    ASSERT_RUN_OK(f);
    EXPECT_EQ(uint64_t(data.valid()), op_counter(f.stats, "tokens_valid"));
    EXPECT_EQ(30u, op_counter(f.stats, "tokens_valid"));
}

TEST_P(CceMemoryTest, ForwardVisitsNoGradientBlocks) {
    const CceSpec s = big(40, 8, 97);
    const CceData data = make_cce_data(s);
    // A backward first, so stale statistics would show.
    ASSERT_RUN_OK(run_backward(ctx(), data, data.options(), nullptr, nullptr));
    const CceResult f = run_forward(ctx(), data, data.options());
    ASSERT_RUN_OK(f);
    EXPECT_EQ(0u, op_counter(f.stats, "blocks_total"));
    EXPECT_EQ(0u, op_counter(f.stats, "blocks_skipped"));
}

TEST_P(CceMemoryTest, BackwardCountsGradientBlocks) {
    const CceSpec s = big(40, 8, 97);
    const CceData data = make_cce_data(s);
    const CceResult b = run_backward(ctx(), data, data.options(), nullptr, nullptr);
    ASSERT_RUN_OK(b);
    EXPECT_GT(op_counter(b.stats, "blocks_total"), 0u);
    EXPECT_EQ(0u, op_counter(b.stats, "blocks_skipped")) << "filter_eps 0 is exact: nothing may be skipped";
}

TEST_P(CceMemoryTest, OpStatsOfAllIgnoredBatch) {
    CceSpec s = big(20, 8, 97);
    s.ignore_frac = 1.0;
    const CceData data = make_cce_data(s);
    const CceResult b = run_backward(ctx(), data, data.options(), nullptr, nullptr);
    ASSERT_RUN_OK(b);
    EXPECT_EQ(0u, op_counter(b.stats, "tokens_valid"));
    EXPECT_EQ(0u, op_counter(b.stats, "blocks_skipped"));
}

ENGRAM_INSTANTIATE_BACKENDS(CceMemoryTest);
ENGRAM_INSTANTIATE_BACKENDS(CceMemoryGrowthTest);

}  // namespace
}  // namespace engram_test
