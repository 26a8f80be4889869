// qmatmul_suite_test.cpp — the 2-bit weight case suite's awkward cases (the
// very cases `engram-bench verify qmatmul` runs) on the CPU backend (the
// family has no CUDA backend yet), one test per op, plus checks that the
// suite's cases cover what issue 9 asks for and that a wrong case fails.
#include <set>

#include "registry.hpp"
#include "test_util.hpp"

namespace engram_test {
namespace {

using engram_suite::Case;
using engram_suite::Outcome;

void run_op(const char* op, int threads) {
    const engram_suite::Suite* suite = engram_suite::find_suite(op);
    ASSERT_NE(nullptr, suite) << op;
    ASSERT_EQ("qmatmul", suite->family());
    Context ctx(ENGRAM_BACKEND_CPU);
    ASSERT_TRUE(ctx.ok());
    ASSERT_EQ(ENGRAM_OK, engram_context_set_threads(ctx.get(), threads));
    const std::vector<Case> cases = suite->verify_cases(op, 1, 0);
    ASSERT_FALSE(cases.empty());
    for (const Case& c : cases) {
        if (c.op != op) continue;
        const Outcome o = suite->run(ctx.get(), c);
        EXPECT_TRUE(o.passed) << c.label() << "\n" << o.error;
        EXPECT_GT(o.compared, 0) << c.label();
        if (verbose())
            std::printf("[ verbose  ] %-70s worst |err|/bound %.3g at %s\n", c.label().c_str(),
                        o.worst_ratio, o.worst_at.c_str());
    }
}

TEST(QmatmulSuite, Product) { run_op("qmatmul", 0); }
TEST(QmatmulSuite, ProductOneThread) { run_op("qmatmul", 1); }
TEST(QmatmulSuite, QuantizeRtn) { run_op("qmatmul_quantize_rtn", 0); }
TEST(QmatmulSuite, QuantizeRefine) { run_op("qmatmul_quantize_refine", 0); }
TEST(QmatmulSuite, Pack) { run_op("qmatmul_pack", 0); }
TEST(QmatmulSuite, Unpack) { run_op("qmatmul_unpack", 0); }
TEST(QmatmulSuite, Prepare) { run_op("qmatmul_prepare", 0); }
TEST(QmatmulSuite, Unprepare) { run_op("qmatmul_unprepare", 0); }
TEST(QmatmulSuite, Bitstack) { run_op("qmatmul_bitstack", 0); }

// The product's cases cover m = 1..17, n = 1, k not a multiple of G, both
// layouts, both scale dtypes, every activation dtype and every value kind.
TEST(QmatmulSuiteCases, CoverTheIssuesShapes) {
    const engram_suite::Suite* suite = engram_suite::find_suite("qmatmul");
    ASSERT_NE(nullptr, suite);
    std::set<int64_t> ms;
    std::set<int> dtypes, layouts, scales, values;
    bool n1 = false, reject = false, large = false;
    // ("qmatmul" is also the family's name: its cases are every op's.)
    for (const Case& c : suite->verify_cases("qmatmul", 1, 0)) {
        if (c.op != "qmatmul") continue;
        ms.insert(c.dims.at("m"));
        dtypes.insert(int(c.dtype));
        layouts.insert(int(c.option("layout", 0)));
        scales.insert(int(c.option("scale_f16", 0)));
        values.insert(int(c.option("values", 0)));
        n1 = n1 || c.dims.at("n") == 1;
        reject = reject || c.dims.at("k") % c.dims.at("g") != 0;
        large = large || c.dims.at("m") > 16;
    }
    for (int64_t m = 1; m <= 17; ++m) EXPECT_EQ(1u, ms.count(m)) << "m = " << m;
    EXPECT_EQ(3u, dtypes.size());
    EXPECT_EQ(2u, layouts.size());
    EXPECT_EQ(2u, scales.size());
    EXPECT_EQ(4u, values.size());
    EXPECT_TRUE(n1 && reject && large);
    // Every op has cases; --cases N keeps N per op.
    EXPECT_EQ(2 * suite->ops().size(), suite->verify_cases("", 1, 2).size());
    // The reduced shape of each bench shape keeps the path of its m.
    for (int64_t m : {1, 8, 512}) {
        engram_suite::Dims b = suite->bench_shapes().front();
        b["m"] = m;
        const engram_suite::Dims r = suite->reduced(b);
        EXPECT_EQ(m > 16, r.at("m") > 16);
        EXPECT_EQ(0, r.at("k") % r.at("g"));
    }
}

// A case whose data the library would reject for another reason than the
// one the suite expects fails, naming the library's complaint.
TEST(QmatmulSuiteCases, WrongCaseFails) {
    const engram_suite::Suite* suite = engram_suite::find_suite("qmatmul");
    ASSERT_NE(nullptr, suite);
    Context ctx(ENGRAM_BACKEND_CPU);
    ASSERT_TRUE(ctx.ok());
    Case c = suite->verify_cases("qmatmul", 1, 1).front();
    c.dims["g"] = 48;  // not a group size
    const Outcome o = suite->run(ctx.get(), c);
    EXPECT_FALSE(o.passed);
    EXPECT_NE(std::string::npos, o.error.find("group")) << o.error;
}

}  // namespace
}  // namespace engram_test
