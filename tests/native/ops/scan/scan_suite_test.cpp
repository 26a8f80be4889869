// scan_suite_test.cpp — the scan case suite's awkward cases (the very cases
// `engram-bench verify scan` and `engram verify` run) on every backend that
// supports the op, one test per op, plus checks of the case list itself and
// that a wrong or rejected case fails.
#include <set>

#include "registry.hpp"
#include "test_util.hpp"

namespace engram_test {
namespace {

using engram_suite::Case;
using engram_suite::Outcome;

const engram_op kOpIds[] = {ENGRAM_OP_SCAN_LINEAR_FORWARD, ENGRAM_OP_SCAN_LINEAR_DECODE,
                            ENGRAM_OP_SCAN_LINEAR_BACKWARD};

class ScanSuiteTest : public BackendTest {
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

TEST_P(ScanSuiteTest, Forward) { run_op("scan_linear_forward", kOpIds[0]); }
TEST_P(ScanSuiteTest, Decode) { run_op("scan_linear_decode", kOpIds[1]); }
TEST_P(ScanSuiteTest, Backward) { run_op("scan_linear_backward", kOpIds[2]); }

ENGRAM_INSTANTIATE_BACKENDS(ScanSuiteTest);

// The verify list covers every op, dtype and gate, T = 1, H = 1, K != V,
// grouped heads, and a size-1 K and V.
TEST(ScanSuiteCases, CoverOpsDtypesGatesAndEdges) {
    const engram_suite::Suite* suite = engram_suite::find_suite("scan");
    ASSERT_NE(nullptr, suite);
    const std::vector<Case> cases = suite->verify_cases("", 1, 0);
    std::set<std::string> ops;
    std::set<int> dtypes, gates;
    bool t1 = false, h1 = false, k_ne_v = false, grouped = false, kv1 = false, strong = false;
    for (const Case& c : cases) {
        ops.insert(c.op);
        dtypes.insert(int(c.dtype));
        gates.insert(int(c.option("gate", 0)));
        t1 |= c.dims.at("t") == 1;
        h1 |= c.dims.at("h") == 1;
        k_ne_v |= c.dims.at("k") != c.dims.at("v");
        grouped |= c.dims.at("hk") < c.dims.at("h");
        kv1 |= c.dims.at("k") == 1 && c.dims.at("v") == 1;
        strong |= c.option("g_lo", -0.5) <= -5.0;
    }
    EXPECT_EQ(suite->ops().size(), ops.size());
    EXPECT_EQ(3u, dtypes.size());
    EXPECT_EQ(3u, gates.size());
    EXPECT_TRUE(t1 && h1 && k_ne_v && grouped && kv1 && strong);
    EXPECT_EQ(2 * suite->ops().size(), suite->verify_cases("", 1, 2).size());
    // The reduced shape of every bench shape keeps K and V and spans chunks.
    for (const auto& shape : suite->bench_shapes()) {
        const engram_suite::Dims r = suite->reduced(shape);
        EXPECT_EQ(shape.at("k"), r.at("k"));
        EXPECT_GT(r.at("t"), 2 * ENGRAM_SCAN_DEFAULT_CHUNK);
    }
}

// A case the library rejects fails with the library's message; so does a
// decode case with T != 1.
TEST(ScanSuiteCases, RejectedCaseFails) {
    const engram_suite::Suite* suite = engram_suite::find_suite("scan_linear_forward");
    ASSERT_NE(nullptr, suite);
    Context ctx(ENGRAM_BACKEND_CPU);
    ASSERT_TRUE(ctx.ok());
    Case c = suite->verify_cases("scan_linear_forward", 1, 1).front();
    c.options["chunk"] = 1000;  // above ENGRAM_SCAN_MAX_CHUNK
    Outcome o = suite->run(ctx.get(), c);
    EXPECT_FALSE(o.passed);
    EXPECT_NE(std::string::npos, o.error.find("chunk")) << o.error;
    c = suite->verify_cases("scan_linear_decode", 1, 1).front();
    c.dims["t"] = 2;
    o = suite->run(ctx.get(), c);
    EXPECT_FALSE(o.passed);
}

}  // namespace
}  // namespace engram_test
