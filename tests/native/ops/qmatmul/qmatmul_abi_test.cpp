// qmatmul_abi_test.cpp — bad input to every entry point of the 2-bit weight
// family: each is rejected with a status and a message naming the argument,
// and writes nothing (outputs keep their fill bytes).
#include <gtest/gtest.h>

#include <cstring>

#include "ops/qmatmul/qmatmul_harness.hpp"
#include "test_util.hpp"

using namespace engram_test;

namespace {

class QmatmulAbi : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_OK(engram_context_create(ENGRAM_BACKEND_CPU, 0, &ctx));
        QSpec s;
        s.n_out = 6;
        s.k = 128;
        s.group = 32;
        s.m = 3;
        d = make_qdata(s);
        w = d.qweight();
        y.assign(size_t(s.m * s.n_out) + 64, 0x5A);  // + slack for overlap cases
    }
    void TearDown() override { engram_context_destroy(ctx); }

    engram_status call(const engram_qweight* wp, int64_t m = 3,
                       engram_dtype xd = ENGRAM_DTYPE_F32, const void* x = nullptr,
                       engram_dtype yd = ENGRAM_DTYPE_F32, void* yp = nullptr) {
        return engram_qmatmul(ctx, wp, m, xd, x ? x : d.x_raw.data(), yd, yp ? yp : y.data());
    }
    bool y_untouched() const {
        for (uint8_t b : y)
            if (b != 0x5A) return false;
        return true;
    }

    engram_context* ctx = nullptr;
    QData d;
    engram_qweight w{};
    std::vector<uint8_t> y;
};

}  // namespace

TEST_F(QmatmulAbi, ValidCallSucceeds) {
    EXPECT_OK(call(&w));
    EXPECT_FALSE(y_untouched());
}

TEST_F(QmatmulAbi, RejectsBadWeight) {
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul(nullptr, &w, 3, ENGRAM_DTYPE_F32,
                                                             d.x_raw.data(), ENGRAM_DTYPE_F32, y.data()),
                  "ctx");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, call(nullptr), "w");
    struct Case {
        const char* needle;
        engram_status status;
        void (*edit)(engram_qweight&);
    };
    const Case cases[] = {
        {"w->struct_size", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_qweight& q) { q.struct_size -= 8; }},
        {"w->code_dtype", ENGRAM_ERR_UNSUPPORTED, [](engram_qweight& q) { q.code_dtype = ENGRAM_DTYPE_I32; }},
        {"w->scale_dtype", ENGRAM_ERR_UNSUPPORTED, [](engram_qweight& q) { q.scale_dtype = ENGRAM_DTYPE_BF16; }},
        {"w->scale_dtype", ENGRAM_ERR_UNSUPPORTED, [](engram_qweight& q) { q.scale_dtype = 77; }},
        {"w->layout", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_qweight& q) { q.layout = 2; }},
        {"w->reserved", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_qweight& q) { q.reserved = 1; }},
        {"w->n_out", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_qweight& q) { q.n_out = 0; }},
        {"w->k", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_qweight& q) { q.k = -32; }},
        {"w->group_size", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_qweight& q) { q.group_size = 16; }},
        {"w->group_size", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_qweight& q) { q.group_size = 48; }},
        // G not dividing k (k = 96 with G = 64): rejected, never padded.
        {"not a multiple of w->group_size", ENGRAM_ERR_INVALID_ARGUMENT,
         [](engram_qweight& q) { q.k = 96; q.group_size = 64; }},
        {"w->codes", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_qweight& q) { q.codes = nullptr; }},
        {"w->scales", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_qweight& q) { q.scales = nullptr; }},
        {"w->zeros", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_qweight& q) { q.zeros = nullptr; }},
        // Wrong packed length, short and long, and the prepared length given
        // for a plain matrix (n_out = 6 pads to 8 rows).
        {"w->code_words", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_qweight& q) { q.code_words -= 1; }},
        {"w->code_words", ENGRAM_ERR_INVALID_ARGUMENT, [](engram_qweight& q) { q.code_words += 1; }},
        {"w->code_words", ENGRAM_ERR_INVALID_ARGUMENT,
         [](engram_qweight& q) { q.layout = ENGRAM_QLAYOUT_CPU_PREPARED; }},
        {"w->codes", ENGRAM_ERR_INVALID_ARGUMENT,
         [](engram_qweight& q) { q.codes = reinterpret_cast<const uint32_t*>(reinterpret_cast<const char*>(q.codes) + 1); }},
        {"w->scales", ENGRAM_ERR_INVALID_ARGUMENT,
         [](engram_qweight& q) { q.scales = static_cast<const char*>(q.scales) + 2; }},
    };
    for (const Case& c : cases) {
        engram_qweight bad = w;
        c.edit(bad);
        EXPECT_STATUS(c.status, call(&bad), c.needle);
        EXPECT_TRUE(y_untouched()) << c.needle;
    }
}

TEST_F(QmatmulAbi, RejectsBadActivationsAndOutput) {
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, call(&w, 0), "m");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, call(&w, int64_t(1) << 40), "m");
    EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED, call(&w, 3, ENGRAM_DTYPE_I32), "x_dtype", "i32");
    EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED, call(&w, 3, ENGRAM_DTYPE_U2), "x_dtype");
    EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED, call(&w, 3, engram_dtype(42)), "x_dtype");
    EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED, call(&w, 3, ENGRAM_DTYPE_F32, nullptr, ENGRAM_DTYPE_I64), "y_dtype");
    EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED, call(&w, 3, ENGRAM_DTYPE_F32, nullptr, ENGRAM_DTYPE_F16), "y_dtype");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_qmatmul(ctx, &w, 3, ENGRAM_DTYPE_F32, nullptr, ENGRAM_DTYPE_F32, y.data()), "x");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_qmatmul(ctx, &w, 3, ENGRAM_DTYPE_F32, d.x_raw.data(), ENGRAM_DTYPE_F32, nullptr), "y");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, call(&w, 3, ENGRAM_DTYPE_F32, d.x_raw.data() + 1), "x", "aligned");
    // y.data() is 64-byte aligned by neither guarantee; find a misaligned spot.
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  call(&w, 3, ENGRAM_DTYPE_F32, nullptr, ENGRAM_DTYPE_F32, y.data() + 2), "y", "aligned");
    EXPECT_TRUE(y_untouched());
}

TEST_F(QmatmulAbi, RejectsOverlaps) {
    // y over x, over the codes, over the scales, over the zeros.
    std::vector<uint8_t> x_copy = d.x_raw;
    x_copy.resize(x_copy.size() + 256, 0);
    const std::vector<uint8_t> x_before = x_copy;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_qmatmul(ctx, &w, 3, ENGRAM_DTYPE_F32, x_copy.data(), ENGRAM_DTYPE_F32,
                                 x_copy.data() + 8),
                  "y overlaps x");
    EXPECT_EQ(x_before, x_copy);
    const std::vector<uint32_t> codes_before = d.words;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_qmatmul(ctx, &w, 1, ENGRAM_DTYPE_F32, d.x_raw.data(), ENGRAM_DTYPE_F32,
                                 d.words.data()),
                  "y overlaps w->codes");
    EXPECT_EQ(codes_before, d.words);
    const std::vector<uint8_t> s_before = d.scales_raw;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_qmatmul(ctx, &w, 1, ENGRAM_DTYPE_F32, d.x_raw.data(), ENGRAM_DTYPE_F32,
                                 d.scales_raw.data()),
                  "y overlaps w->scales");
    EXPECT_EQ(s_before, d.scales_raw);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_qmatmul(ctx, &w, 1, ENGRAM_DTYPE_F32, d.x_raw.data(), ENGRAM_DTYPE_F32,
                                 const_cast<uint8_t*>(d.zeros_raw.data()) + 4),
                  "y overlaps w->zeros");
}

TEST_F(QmatmulAbi, CodeWordsQuery) {
    uint64_t words = 0;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_qmatmul_code_words(4, 16, ENGRAM_QLAYOUT_PLAIN, nullptr), "words");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_qmatmul_code_words(4, 24, ENGRAM_QLAYOUT_PLAIN, &words), "k", "16");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_qmatmul_code_words(0, 16, ENGRAM_QLAYOUT_PLAIN, &words), "n_out");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_code_words(4, 16, engram_qlayout(9), &words),
                  "layout");
    EXPECT_EQ(0u, words);
}

TEST_F(QmatmulAbi, QuantizeRejectsBadInput) {
    const int64_t n = 4, k = 64;
    std::vector<float> wv(size_t(n * k), 1.0f);
    std::vector<uint32_t> codes(size_t(n * k / 16), 0x5A5A5A5Au);
    std::vector<float> s(size_t(n * 2), 7.0f), z(size_t(n * 2), 7.0f);
    auto q = [&](int64_t n_out, int64_t kk, engram_dtype wd, const void* wp, int32_t g,
                 engram_dtype sd, uint32_t* cp, uint64_t cw, void* sp, void* zp) {
        return engram_qmatmul_quantize_rtn(ctx, n_out, kk, wd, wp, g, sd, cp, cw, sp, zp);
    };
    const auto F = ENGRAM_DTYPE_F32;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, q(0, k, F, wv.data(), 32, F, codes.data(), 16, s.data(), z.data()), "n_out");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, q(n, 48, F, wv.data(), 32, F, codes.data(), 16, s.data(), z.data()),
                  "k = 48", "group_size = 32");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, q(n, k, F, wv.data(), 100, F, codes.data(), 16, s.data(), z.data()), "group_size");
    EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED, q(n, k, ENGRAM_DTYPE_I64, wv.data(), 32, F, codes.data(), 16, s.data(), z.data()), "w_dtype");
    EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED, q(n, k, F, wv.data(), 32, ENGRAM_DTYPE_BF16, codes.data(), 16, s.data(), z.data()), "scale_dtype");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, q(n, k, F, nullptr, 32, F, codes.data(), 16, s.data(), z.data()), "w");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, q(n, k, F, wv.data(), 32, F, nullptr, 16, s.data(), z.data()), "codes");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, q(n, k, F, wv.data(), 32, F, codes.data(), 16, nullptr, z.data()), "scales");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, q(n, k, F, wv.data(), 32, F, codes.data(), 16, s.data(), nullptr), "zeros");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, q(n, k, F, wv.data(), 32, F, codes.data(), 15, s.data(), z.data()), "code_words");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, q(n, k, F, wv.data(), 32, F, codes.data(), 16, s.data(), s.data() + 1),
                  "scales overlaps zeros");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  q(n, k, F, wv.data(), 32, F, reinterpret_cast<uint32_t*>(wv.data()), 16, s.data(), z.data()),
                  "codes overlaps w");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  q(n, k, F, wv.data(), 32, F, codes.data(), 16, reinterpret_cast<uint8_t*>(s.data()) + 1, z.data()),
                  "scales", "aligned");
    for (uint32_t c : codes) EXPECT_EQ(0x5A5A5A5Au, c);
    for (float v : s) EXPECT_EQ(7.0f, v);
    for (float v : z) EXPECT_EQ(7.0f, v);
    for (float v : wv) EXPECT_EQ(1.0f, v);
}

TEST_F(QmatmulAbi, LayoutOpsRejectBadInput) {
    std::vector<uint8_t> codes(6 * 32, 1);
    std::vector<uint32_t> plain(12, 0x11111111u), prep(16, 0x22222222u);
    // pack
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_pack(ctx, 6, 24, codes.data(), plain.data(), 9), "k");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_pack(ctx, 6, 32, codes.data(), plain.data(), 11), "code_words");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_pack(ctx, 6, 32, nullptr, plain.data(), 12), "codes");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_pack(ctx, 6, 32, codes.data(), nullptr, 12), "words");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_qmatmul_pack(ctx, 6, 32, codes.data(), reinterpret_cast<uint32_t*>(codes.data()), 12),
                  "words overlaps codes");
    codes[37] = 4;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_pack(ctx, 6, 32, codes.data(), plain.data(), 12),
                  "codes[37]", "row 1, column 5");
    for (uint32_t v : plain) EXPECT_EQ(0x11111111u, v);
    // unpack
    std::vector<uint8_t> out(6 * 32, 9);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_unpack(ctx, 6, 32, plain.data(), 13, out.data()), "code_words");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_unpack(ctx, 6, 32, nullptr, 12, out.data()), "words");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_unpack(ctx, 6, 32, plain.data(), 12, nullptr), "codes");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_qmatmul_unpack(ctx, 6, 32, plain.data(), 12, reinterpret_cast<uint8_t*>(plain.data()) + 4),
                  "codes overlaps words");
    for (uint8_t v : out) EXPECT_EQ(9, v);
    // prepare / unprepare
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_prepare(ctx, 6, 32, plain.data(), 12, prep.data(), 12),
                  "prepared_words", "16");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_prepare(ctx, 6, 32, plain.data(), 16, prep.data(), 16),
                  "plain_words");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_prepare(ctx, 6, 32, plain.data(), 12, plain.data() + 2, 16),
                  "prepared overlaps plain");
    for (uint32_t v : prep) EXPECT_EQ(0x22222222u, v);
    // prep holds nonzero padding rows (rows 6 and 7 of 8): not a prepared 6-row matrix.
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_unprepare(ctx, 6, 32, prep.data(), 16, plain.data(), 12),
                  "padding row 6");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qmatmul_unprepare(ctx, 6, 32, prep.data(), 16, nullptr, 12),
                  "plain");
    for (uint32_t v : plain) EXPECT_EQ(0x11111111u, v);
}

TEST_F(QmatmulAbi, RegistryAndLayout) {
    EXPECT_STREQ("qmatmul", engram_op_name(ENGRAM_OP_QMATMUL));
    EXPECT_STREQ("qmatmul", engram_op_family(ENGRAM_OP_QMATMUL_UNPREPARE));
    EXPECT_STREQ("qmatmul_quantize_rtn", engram_op_name(ENGRAM_OP_QMATMUL_QUANTIZE_RTN));
    EXPECT_OK(engram_op_supported(ENGRAM_BACKEND_CPU, ENGRAM_OP_QMATMUL, ENGRAM_DTYPE_BF16));
    EXPECT_OK(engram_op_supported(ENGRAM_BACKEND_CPU, ENGRAM_OP_QMATMUL_PACK, ENGRAM_DTYPE_U2));
    EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED,
                  engram_op_supported(ENGRAM_BACKEND_CPU, ENGRAM_OP_QMATMUL, ENGRAM_DTYPE_I32), "qmatmul");
    // CUDA: the product where the backend is built (a device is needed to
    // run it); the quantizers and layout ops are host-only.
    const engram_capabilities caps = capabilities();
    const engram_status cuda_st =
        engram_op_supported(ENGRAM_BACKEND_CUDA, ENGRAM_OP_QMATMUL, ENGRAM_DTYPE_F16);
    const std::string cuda_msg = engram_last_error();
    if (!caps.cuda_built)
        EXPECT_EQ(ENGRAM_ERR_UNSUPPORTED, cuda_st) << cuda_msg;
    else if (caps.cuda_device_count == 0)
        EXPECT_EQ(ENGRAM_ERR_NO_DEVICE, cuda_st) << cuda_msg;
    else
        EXPECT_EQ(ENGRAM_OK, cuda_st) << cuda_msg;
    EXPECT_NE(std::string::npos, cuda_msg.find("qmatmul")) << cuda_msg;
    EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED,
                  engram_op_supported(ENGRAM_BACKEND_CUDA, ENGRAM_OP_QMATMUL_QUANTIZE_RTN, ENGRAM_DTYPE_F32),
                  "qmatmul_quantize_rtn", "cuda");
    uint64_t v = 0;
    ASSERT_OK(engram_struct_layout("engram_qweight", nullptr, &v));
    EXPECT_EQ(sizeof(engram_qweight), v);
    ASSERT_OK(engram_struct_layout("engram_qweight", "zeros", &v));
    EXPECT_EQ(offsetof(engram_qweight, zeros), v);
    engram_qweight q;
    std::memset(&q, 0x7F, sizeof q);
    ASSERT_OK(engram_qweight_init(&q));
    EXPECT_EQ(sizeof q, q.struct_size);
    EXPECT_EQ(ENGRAM_DTYPE_U2, q.code_dtype);
    EXPECT_EQ(128, q.group_size);
    EXPECT_EQ(nullptr, q.codes);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_qweight_init(nullptr), "w");
}
