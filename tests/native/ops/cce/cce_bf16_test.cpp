// cce_bf16_test.cpp — the bf16 path of the CPU CCE (VDPBF16PS logits product,
// ENGRAM_CPU_ISA_AVX512_BF16) against the float64 reference, on the shapes
// that stress its packing: hidden sizes that are odd (a half pair at the end),
// 1, and on either side of the 512-element (256-pair) chunk of depth; token
// counts on either side of the unpacked/packed kernel switch (32 tokens) and
// of the 512-token blocks; vocabularies that are not multiples of the 12-row
// micro-tile or the 96-row tile. Also: the ISA is detected where the CPU has
// it, results are bit-identical run to run, and NaN stays where it belongs.
// Tolerances are the f32 error model of cce_harness.hpp: bf16 products are
// exact in fp32, so the bf16 path gets no extra allowance. The suite also runs
// with each lower ISA forced (CMakeLists.txt), where bf16 takes the f32 path.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "cce_harness.hpp"

namespace engram_test {
namespace {

class CceBf16Test : public BackendTest {
protected:
    // Forward, backward with the forward's lse, and forward_backward, against
    // the reference (gradients in bf16 too when grad16).
    void check_all(const CceSpec& spec, bool grad16 = false) {
        SCOPED_TRACE(spec.label());
        const CceData data = make_cce_data(spec);
        const engram_cce_options opts = data.options();
        const ExpectedForward xf = expect_forward(data);
        GradRequest req;
        if (grad16) req.dtype = ENGRAM_DTYPE_BF16;
        const CceResult f = run_forward(ctx(), data, opts);
        ASSERT_RUN_OK(f);
        {
            SCOPED_TRACE("engram_cce_forward");
            check_forward(f, xf);
        }
        const std::vector<float> none;
        const ExpectedGrads xg =
            expect_grads(data, xf, backend(), req.dtype, none, double(spec.filter_eps));
        const CceResult b = run_backward(ctx(), data, opts, &f.lse, nullptr, req);
        ASSERT_RUN_OK(b);
        {
            SCOPED_TRACE("engram_cce_backward");
            check_grads(b, xg, data, req);
        }
        const CceResult fb = run_forward_backward(ctx(), data, opts, nullptr, req);
        ASSERT_RUN_OK(fb);
        {
            SCOPED_TRACE("engram_cce_forward_backward");
            check_forward(fb, xf);
            check_grads(fb, xg, data, req);
        }
    }
};

CceSpec bf16_shape(int64_t n, int64_t d, int64_t v, uint64_t seed) {
    CceSpec s;
    s.n = n;
    s.d = d;
    s.v = v;
    s.seed = seed;
    s.dtype = ENGRAM_DTYPE_BF16;
    return s;
}

bool cpu_has_avx512_bf16() {
    std::ifstream info("/proc/cpuinfo");
    std::string line;
    while (std::getline(info, line))
        if (line.rfind("flags", 0) == 0) return line.find(" avx512_bf16") != std::string::npos;
    return false;
}

// Where the CPU has AVX512_BF16 and nothing lowers the ISA, the library must
// pick it (else the rest of this suite would not test the bf16 kernels).
TEST(CceBf16Isa, DetectedWhereTheCpuHasIt) {
    if (std::getenv("ENGRAM_CPU_ISA")) GTEST_SKIP() << "ENGRAM_CPU_ISA forces an ISA";
    const engram_capabilities caps = capabilities();
    if (cpu_has_avx512_bf16())
        EXPECT_EQ(int(ENGRAM_CPU_ISA_AVX512_BF16), caps.cpu_isa);
    else
        EXPECT_NE(int(ENGRAM_CPU_ISA_AVX512_BF16), caps.cpu_isa);
}

// Odd d ends in a half pair; 511/512/513 and 1025 sit around the 512-element
// chunk of depth (1025: the last chunk is a lone half pair).
TEST_P(CceBf16Test, HiddenSizes) {
    uint64_t seed = 100;
    for (int64_t d : {1, 2, 3, 7, 31, 33, 511, 512, 513, 1025}) check_all(bf16_shape(19, d, 67, ++seed));
}

// 1..32 tokens use the kernel that reads classifier rows in place, 33 and
// more the packed one; 600 tokens span two forward blocks and two gradient
// blocks with a ragged tail.
TEST_P(CceBf16Test, TokenCounts) {
    uint64_t seed = 200;
    for (int64_t n : {1, 5, 31, 32, 33, 64, 600}) check_all(bf16_shape(n, 37, 131, ++seed));
}

TEST_P(CceBf16Test, VocabularySizes) {
    uint64_t seed = 300;
    for (int64_t v : {1, 2, 11, 12, 13, 95, 97, 1009}) check_all(bf16_shape(45, 24, v, ++seed));
}

TEST_P(CceBf16Test, AllOptionsAndBf16Gradients) {
    CceSpec s = bf16_shape(77, 129, 517, 400);
    s.bias = true;
    s.logit_std = 6.0;
    s.softcap = 12.0f;
    s.smoothing = 0.1f;
    s.z_loss = 1e-3f;
    s.ignore_frac = 0.3;
    check_all(s, true);
    s.reduction = ENGRAM_REDUCTION_NONE;
    check_all(s, false);
}

TEST_P(CceBf16Test, FilteredGradients) {
    CceSpec s = bf16_shape(96, 65, 700, 500);
    s.peak = 12.0;
    s.filter_eps = float(auto_filter_eps(ENGRAM_DTYPE_BF16));
    check_all(s);
}

// Static work assignment: the same call twice gives the same bits.
TEST_P(CceBf16Test, BitIdenticalRunToRun) {
    CceSpec s = bf16_shape(150, 203, 1500, 600);
    s.bias = true;
    s.reduction = ENGRAM_REDUCTION_NONE;
    const CceData data = make_cce_data(s);
    const engram_cce_options opts = data.options();
    const CceResult a = run_forward_backward(ctx(), data, opts, nullptr);
    const CceResult b = run_forward_backward(ctx(), data, opts, nullptr);
    ASSERT_RUN_OK(a);
    ASSERT_RUN_OK(b);
    auto same = [](const std::vector<float>& x, const std::vector<float>& y) {
        return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
    };
    EXPECT_TRUE(same(a.loss, b.loss));
    EXPECT_TRUE(same(a.lse, b.lse));
    EXPECT_TRUE(same(a.grad_e, b.grad_e));
    EXPECT_TRUE(same(a.grad_c, b.grad_c));
    EXPECT_TRUE(same(a.grad_bias, b.grad_bias));
}

constexpr uint16_t kBf16Nan = 0x7fc0;

void set_bf16(std::vector<uint8_t>& raw, size_t index, uint16_t bits) {
    std::memcpy(raw.data() + 2 * index, &bits, 2);
}

// A NaN in one token's hidden state (in the half pair of an odd d, and in a
// whole pair) makes that token's loss and gradient row NaN and no other's.
TEST_P(CceBf16Test, NanInOneTokenStaysInThatToken) {
    for (int64_t k : {int64_t(0), int64_t(32)}) {  // k = 32: the last (half) pair of d = 33
        CceSpec s = bf16_shape(40, 33, 150, 700);
        s.reduction = ENGRAM_REDUCTION_NONE;
        CceData data = make_cce_data(s);
        const int64_t tok = 21;
        set_bf16(data.e_raw, size_t(tok * s.d + k), kBf16Nan);
        data.e[size_t(tok * s.d + k)] = NAN;
        const CceResult r = run_forward_backward(ctx(), data, data.options(), nullptr);
        ASSERT_RUN_OK(r);
        for (int64_t i = 0; i < s.n; ++i) {
            EXPECT_EQ(i == tok, std::isnan(r.loss[size_t(i)])) << "token " << i << " k " << k;
            for (int64_t j = 0; j < s.d; ++j)
                ASSERT_EQ(i == tok, std::isnan(r.grad_e[size_t(i * s.d + j)])) << "token " << i << " k " << k;
        }
    }
}

// A NaN in one classifier row reaches every token's lse.
TEST_P(CceBf16Test, NanInOneClassifierRowReachesEveryToken) {
    CceSpec s = bf16_shape(40, 33, 150, 800);
    s.reduction = ENGRAM_REDUCTION_NONE;
    CceData data = make_cce_data(s);
    set_bf16(data.c_raw, size_t(77 * s.d + 32), kBf16Nan);
    data.c[size_t(77 * s.d + 32)] = NAN;
    const CceResult r = run_forward(ctx(), data, data.options());
    ASSERT_RUN_OK(r);
    for (int64_t i = 0; i < s.n; ++i) EXPECT_TRUE(std::isnan(r.lse[size_t(i)])) << i;
}

ENGRAM_INSTANTIATE_BACKENDS(CceBf16Test);

}  // namespace
}  // namespace engram_test
