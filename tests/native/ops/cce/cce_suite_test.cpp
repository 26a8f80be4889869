// cce_suite_test.cpp — the CCE case suite's awkward cases (the very cases
// `engram-bench verify` and `engram verify` run) on every backend, one test
// per op, plus checks that the suite's comparison can fail.
#include <set>

#include "registry.hpp"
#include "test_util.hpp"

namespace engram_test {
namespace {

using engram_suite::Case;
using engram_suite::Comparison;
using engram_suite::Outcome;

class CceSuiteTest : public BackendTest {
protected:
    void run_op(const char* op) {
        const engram_suite::Suite* suite = engram_suite::find_suite(op);
        ASSERT_NE(nullptr, suite) << op;
        const std::vector<Case> cases = suite->verify_cases(op, 1, 0);
        ASSERT_FALSE(cases.empty());
        for (const Case& c : cases) {
            const Outcome o = suite->run(ctx().get(), c);
            EXPECT_TRUE(o.passed) << c.label() << "\n" << o.error;
            EXPECT_GT(o.compared, 0) << c.label();
            if (verbose())
                std::printf("[ verbose  ] %-60s worst |err|/bound %.3g at %s\n", c.label().c_str(),
                            o.worst_ratio, o.worst_at.c_str());
        }
    }
};

TEST_P(CceSuiteTest, Forward) { run_op("cce_forward"); }
TEST_P(CceSuiteTest, Backward) { run_op("cce_backward"); }
TEST_P(CceSuiteTest, ForwardBackward) { run_op("cce_forward_backward"); }
TEST_P(CceSuiteTest, ShardForward) { run_op("cce_shard_forward"); }
TEST_P(CceSuiteTest, ShardCombine) { run_op("cce_shard_combine"); }

ENGRAM_INSTANTIATE_BACKENDS(CceSuiteTest);

// The verify list covers every op, every dtype and the size-1 edge in each dim.
TEST(CceSuiteCases, CoverOpsDtypesAndOnes) {
    const engram_suite::Suite* suite = engram_suite::find_suite("cce");
    ASSERT_NE(nullptr, suite);
    const std::vector<Case> cases = suite->verify_cases("", 1, 0);
    std::set<std::string> ops;
    std::set<int> dtypes;
    std::set<std::string> ones;
    for (const Case& c : cases) {
        ops.insert(c.op);
        dtypes.insert(int(c.dtype));
        for (const auto& [name, value] : c.dims)
            if (value == 1) ones.insert(name);
    }
    EXPECT_EQ(suite->ops().size(), ops.size());
    EXPECT_EQ(3u, dtypes.size());
    EXPECT_EQ((std::set<std::string>{"n", "v", "d"}), ones);
    // --cases N keeps the first N of each op.
    EXPECT_EQ(2 * suite->ops().size(), suite->verify_cases("", 1, 2).size());
    EXPECT_EQ(2u, suite->verify_cases("cce_backward", 1, 2).size());
}

// A value just outside its bound, a NaN, and a missing output all fail.
TEST(CceSuiteCases, ComparisonFailsOnWrongValues) {
    {
        Comparison cmp;
        cmp.check("x", {1.0f, 2.0f}, {1.0, 2.0}, {0.0, 0.0});
        EXPECT_TRUE(cmp.outcome().passed);
    }
    {
        Comparison cmp;
        cmp.check("x", {1.0f, 2.5f}, {1.0, 2.0}, {0.1, 0.4});
        const Outcome o = cmp.outcome();
        EXPECT_FALSE(o.passed);
        EXPECT_EQ(1, o.mismatches);
        EXPECT_NE(std::string::npos, o.error.find("x[1]"));
    }
    {
        Comparison cmp;
        cmp.check("x", {NAN}, {1.0}, {1e9});
        EXPECT_FALSE(cmp.outcome().passed);
    }
    {
        Comparison cmp;
        cmp.check("x", {}, {1.0}, {1.0});
        EXPECT_FALSE(cmp.outcome().passed);
    }
}

// A case the library rejects is a failure with the library's message.
TEST(CceSuiteCases, RejectedCaseFails) {
    const engram_suite::Suite* suite = engram_suite::find_suite("cce_forward");
    ASSERT_NE(nullptr, suite);
    Context ctx(ENGRAM_BACKEND_CPU);
    ASSERT_TRUE(ctx.ok());
    Case c = suite->verify_cases("cce_forward", 1, 1).front();
    c.options["reduction"] = 7;  // not an engram_reduction
    const Outcome o = suite->run(ctx.get(), c);
    EXPECT_FALSE(o.passed);
    EXPECT_NE(std::string::npos, o.error.find("reduction")) << o.error;
}

}  // namespace
}  // namespace engram_test
