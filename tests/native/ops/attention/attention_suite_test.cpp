// attention_suite_test.cpp — the attention case suite's awkward cases (the
// very cases `engram-bench verify attention` and `engram verify` run) on every
// backend that supports the op, plus checks of the case list itself and that
// a rejected case fails.
#include <set>

#include "registry.hpp"
#include "test_util.hpp"

namespace engram_test {
namespace {

using engram_suite::Case;
using engram_suite::Outcome;

class AttentionSuiteTest : public BackendTest {
protected:
    void run_op(const char* op, engram_op id) {
        if (engram_op_supported(backend(), id, ENGRAM_DTYPE_F32) != ENGRAM_OK)
            GTEST_SKIP() << op << " not on this backend: " << engram_last_error();
        const engram_suite::Suite* suite = engram_suite::find_suite(op);
        ASSERT_NE(nullptr, suite) << op;
        const std::vector<Case> cases = suite->verify_cases(op, 1, 0);
        ASSERT_FALSE(cases.empty());
        for (const Case& c : cases) {
            const Outcome o = suite->run(ctx().get(), c);
            EXPECT_TRUE(o.passed) << c.label() << "\n" << o.error;
            EXPECT_GT(o.compared, 0) << c.label();
            if (verbose())
                std::printf("[ verbose  ] %-70s worst |err|/bound %.3g at %s\n", c.label().c_str(),
                            o.worst_ratio, o.worst_at.c_str());
        }
    }
};

TEST_P(AttentionSuiteTest, Decode) { run_op("attention_decode", ENGRAM_OP_ATTENTION_DECODE); }
TEST_P(AttentionSuiteTest, Prefill) { run_op("attention_prefill", ENGRAM_OP_ATTENTION_PREFILL); }

ENGRAM_INSTANTIATE_BACKENDS(AttentionSuiteTest);

// The verify list covers both ops, every storage dtype and policy pattern,
// S = 1, S < W, S much longer than sink + W (the ring wraps many times), GQA
// ratios 1, 4 and 8, and D = 64, 80, 128.
TEST(AttentionSuiteCases, CoverOpsDtypesPoliciesAndEdges) {
    const engram_suite::Suite* suite = engram_suite::find_suite("attention");
    ASSERT_NE(nullptr, suite);
    const std::vector<Case> cases = suite->verify_cases("", 1, 0);
    std::set<std::string> ops;
    std::set<int> dtypes, policies;
    std::set<int64_t> ratios, dims;
    bool s1 = false, s_lt_w = false, wraps = false;
    for (const Case& c : cases) {
        ops.insert(c.op);
        dtypes.insert(int(c.dtype));
        policies.insert(int(c.option("policy", 0)));
        ratios.insert(c.dims.at("hq") / c.dims.at("hkv"));
        dims.insert(c.dims.at("d"));
        s1 |= c.dims.at("s") == 1;
        s_lt_w |= c.dims.at("s") < c.dims.at("w");
        wraps |= c.dims.at("s") > 10 * (c.dims.at("sink") + c.dims.at("w"));
    }
    EXPECT_EQ(suite->ops().size(), ops.size());
    EXPECT_EQ(3u, dtypes.size());
    EXPECT_EQ(4u, policies.size());
    for (int64_t r : {1, 4, 8}) EXPECT_EQ(1u, ratios.count(r)) << r;
    for (int64_t d : {64, 80, 128}) EXPECT_EQ(1u, dims.count(d)) << d;
    EXPECT_TRUE(s1 && s_lt_w && wraps);
    // The reduced shape keeps the group size, head dim, sinks and window, and
    // wraps the window.
    for (const auto& shape : suite->bench_shapes()) {
        const engram_suite::Dims r = suite->reduced(shape);
        EXPECT_EQ(shape.at("hq") / shape.at("hkv"), r.at("hq") / r.at("hkv"));
        EXPECT_EQ(shape.at("d"), r.at("d"));
        EXPECT_GT(r.at("s"), r.at("sink") + r.at("w"));
    }
}

// A case the library rejects (H_q not a multiple of H_kv) fails with its message.
TEST(AttentionSuiteCases, RejectedCaseFails) {
    const engram_suite::Suite* suite = engram_suite::find_suite("attention_decode");
    ASSERT_NE(nullptr, suite);
    Context ctx(ENGRAM_BACKEND_CPU);
    ASSERT_TRUE(ctx.ok());
    Case c = suite->verify_cases("attention_decode", 1, 4).back();
    c.dims["hq"] = c.dims.at("hkv") * 2 + 1;
    const Outcome o = suite->run(ctx.get(), c);
    EXPECT_FALSE(o.passed);
    EXPECT_NE(std::string::npos, o.error.find("q_heads")) << o.error;
}

}  // namespace
}  // namespace engram_test
