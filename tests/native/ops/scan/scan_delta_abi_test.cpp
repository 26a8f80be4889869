// scan_delta_abi_test.cpp — bad input to the delta-rule entry points (ops
// 203-205): the right status, a message naming the argument (and the bad
// value), no crash, nothing written. cu_seqlens faults, overlaps, the
// registry and layout entries, and the CUDA refusal.
#include <cmath>
#include <cstddef>
#include <cstring>
#include <functional>
#include <limits>

#include "scan_delta_harness.hpp"

namespace engram_test {
namespace {

constexpr int64_t kB = 2, kT = 5, kH = 4, kHk = 2, kK = 3, kV = 6;

class ScanDeltaAbiTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(ctx_.ok()) << ctx_.error();
        DeltaSpec s;
        s.batch = kB;
        s.t = kT;
        s.heads = kH;
        s.qk_heads = kHk;
        s.k_dim = kK;
        s.v_dim = kV;
        s.gated = true;
        s.initial_state = true;
        data_ = make_delta_data(s);
        bufs_ = std::make_unique<DeltaBuffers>(ctx_, data_);
        cu32_ = ctx_.upload(std::vector<int32_t>{0, 3, 4, 10});
        cu64_ = ctx_.upload(std::vector<int64_t>{0, 3, 4, 10});
        o_ = ctx_.output(size_t(kB * kT * kH * kV) * 4);
        fs_ = ctx_.output(size_t(3 * kH * kK * kV) * 4);  // room for the 3 varlen sequences
        reset();
    }

    void reset() {
        in = bufs_->inputs(data_);
        engram_scan_options_init(&opts);
        o = o_.get();
        fs = fs_.as<float>();
    }
    // Turns `in` into a valid varlen call: batch 1, 10 tokens in 3 sequences.
    void varlen(bool wide) {
        in.batch = 1;
        in.t = kB * kT;
        in.num_seqs = 3;
        in.cu_seqlens = wide ? cu64_.get() : cu32_.get();
        in.cu_seqlens_dtype = wide ? ENGRAM_DTYPE_I64 : ENGRAM_DTYPE_I32;
        in.initial_state = nullptr;  // s0_ holds only B = 2 states
    }

    engram_status forward() { return engram_scan_delta_forward(ctx_.get(), &in, &opts, o, fs); }

    void expect_rejected(const char* what, const std::function<engram_status()>& call,
                         engram_status status, std::vector<const char*> needles) {
        SCOPED_TRACE(what);
        o_.fill(0xFF);
        fs_.fill(0xFF);
        const std::vector<uint8_t> before_o = bytes(o_), before_fs = bytes(fs_);
        const engram_status st = call();
        const std::string msg = engram_last_error();
        EXPECT_EQ(status_text(status), status_text(st)) << msg;
        for (const char* n : needles)
            EXPECT_NE(std::string::npos, msg.find(n)) << "message \"" << msg << "\" lacks \"" << n << "\"";
        EXPECT_EQ(before_o, bytes(o_)) << "o was written";
        EXPECT_EQ(before_fs, bytes(fs_)) << "final_state was written";
        reset();
    }
    static std::vector<uint8_t> bytes(const Buffer& b) {
        std::vector<uint8_t> r(b.bytes());
        b.download(r.data(), r.size());
        return r;
    }

    Context ctx_{ENGRAM_BACKEND_CPU};
    DeltaData data_;
    std::unique_ptr<DeltaBuffers> bufs_;
    Buffer cu32_, cu64_, o_, fs_;
    engram_scan_delta_inputs in{};
    engram_scan_options opts{};
    void* o = nullptr;
    float* fs = nullptr;
};

TEST_F(ScanDeltaAbiTest, ValidCallsSucceed) {
    EXPECT_OK(forward());
    EXPECT_STREQ("", engram_last_error());
    for (bool wide : {false, true}) {
        varlen(wide);
        EXPECT_OK(forward());
        reset();
    }
}

TEST_F(ScanDeltaAbiTest, ForwardRejectsBadArguments) {
    auto fwd = [&] { return forward(); };
    const auto INV = ENGRAM_ERR_INVALID_ARGUMENT;
    expect_rejected("ctx NULL", [&] { return engram_scan_delta_forward(nullptr, &in, &opts, o, fs); }, INV, {"ctx"});
    expect_rejected("in NULL", [&] { return engram_scan_delta_forward(ctx_.get(), nullptr, &opts, o, fs); }, INV, {"in"});
    in.struct_size = 8;
    expect_rejected("in struct_size", fwd, INV, {"in->struct_size", "engram_scan_delta_inputs_init"});
    opts.struct_size = 3;
    expect_rejected("opts struct_size", fwd, INV, {"opts->struct_size"});
    in.dtype = ENGRAM_DTYPE_I32;
    expect_rejected("dtype", fwd, ENGRAM_ERR_UNSUPPORTED, {"in->dtype"});
    in.qk_l2norm = 2;
    expect_rejected("qk_l2norm", fwd, INV, {"in->qk_l2norm", "2"});
    in.batch = 0;
    expect_rejected("batch 0", fwd, INV, {"in->batch"});
    in.t = -1;
    expect_rejected("t negative", fwd, INV, {"in->t"});
    in.heads = 0;
    expect_rejected("heads 0", fwd, INV, {"in->heads"});
    in.qk_heads = 3;
    expect_rejected("qk_heads not dividing", fwd, INV, {"in->qk_heads", "in->heads"});
    in.k_dim = ENGRAM_SCAN_MAX_HEAD_DIM + 1;
    expect_rejected("K above maximum", fwd, INV, {"in->k_dim", "256"});
    in.v_dim = ENGRAM_SCAN_MAX_HEAD_DIM + 1;
    expect_rejected("V above maximum", fwd, INV, {"in->v_dim", "256"});
    in.batch = INT32_MAX;
    in.t = INT32_MAX;
    expect_rejected("sizes overflow", fwd, INV, {"in->q"});
    in.q = nullptr;
    expect_rejected("q NULL", fwd, INV, {"in->q"});
    in.k = nullptr;
    expect_rejected("k NULL", fwd, INV, {"in->k"});
    in.v = nullptr;
    expect_rejected("v NULL", fwd, INV, {"in->v"});
    in.beta = nullptr;
    expect_rejected("beta NULL", fwd, INV, {"in->beta"});
    in.beta = reinterpret_cast<const float*>(reinterpret_cast<const char*>(in.beta) + 2);
    expect_rejected("beta misaligned", fwd, INV, {"in->beta", "aligned"});
    in.q = static_cast<const char*>(in.q) + 1;
    expect_rejected("q misaligned", fwd, INV, {"in->q", "aligned"});
    in.g = reinterpret_cast<const float*>(reinterpret_cast<const char*>(in.g) + 2);
    expect_rejected("g misaligned", fwd, INV, {"in->g", "aligned"});
    o = nullptr;
    expect_rejected("o NULL", fwd, INV, {"o"});
    o = static_cast<char*>(o_.get()) + 2;
    expect_rejected("o misaligned", fwd, INV, {"o", "aligned"});
    opts.chunk_size = ENGRAM_SCAN_MAX_CHUNK + 1;
    expect_rejected("chunk too large", fwd, INV, {"opts->chunk_size"});
    opts.scale = std::numeric_limits<float>::quiet_NaN();
    expect_rejected("scale NaN", fwd, INV, {"opts->scale"});
    opts.output_dtype = ENGRAM_DTYPE_BF16;
    expect_rejected("output dtype", fwd, ENGRAM_ERR_UNSUPPORTED, {"opts->output_dtype"});
}

TEST_F(ScanDeltaAbiTest, BadCuSeqlensRejected) {
    auto fwd = [&] { return forward(); };
    const auto INV = ENGRAM_ERR_INVALID_ARGUMENT;
    in.num_seqs = 2;
    expect_rejected("num_seqs without cu_seqlens", fwd, INV, {"in->num_seqs", "cu_seqlens"});
    varlen(false);
    in.batch = 2;
    in.t = kT;
    expect_rejected("cu_seqlens with batch 2", fwd, INV, {"in->batch", "cu_seqlens"});
    varlen(false);
    in.num_seqs = 0;
    expect_rejected("num_seqs 0", fwd, INV, {"in->num_seqs"});
    varlen(false);
    in.num_seqs = 11;
    expect_rejected("num_seqs above t", fwd, INV, {"in->num_seqs", "in->t"});
    varlen(false);
    in.cu_seqlens_dtype = ENGRAM_DTYPE_F32;
    expect_rejected("cu_seqlens dtype", fwd, ENGRAM_ERR_UNSUPPORTED, {"in->cu_seqlens_dtype"});
    varlen(true);
    in.cu_seqlens = static_cast<const char*>(in.cu_seqlens) + 4;
    expect_rejected("cu_seqlens misaligned", fwd, INV, {"in->cu_seqlens", "aligned"});
    struct Case {
        std::vector<int64_t> cu;
        std::vector<const char*> needles;
    };
    for (const Case& c : {Case{{1, 3, 4, 10}, {"cu_seqlens[0] = 1", "start at 0"}},
                          Case{{0, 4, 3, 10}, {"cu_seqlens[2] = 3", "strictly increasing"}},
                          Case{{0, 3, 3, 10}, {"cu_seqlens[2] = 3", "strictly increasing"}},
                          Case{{0, 3, 4, 9}, {"cu_seqlens[3] = 9", "in->t = 10"}},
                          Case{{0, 3, 4, 11}, {"cu_seqlens[3] = 11", "in->t = 10"}}}) {
        for (bool wide : {false, true}) {
            Buffer bad = wide ? ctx_.upload(c.cu)
                              : ctx_.upload(std::vector<int32_t>(c.cu.begin(), c.cu.end()));
            varlen(wide);
            in.cu_seqlens = bad.get();
            expect_rejected("bad offsets", fwd, INV, c.needles);
        }
    }
    varlen(false);
    in.initial_state = fs_.as<float>();  // [3, H, K, V] within final_state: overlap
    expect_rejected("initial_state overlaps final_state", fwd, INV, {"overlaps", "in->initial_state"});
    // o over cu_seqlens: valid offsets at byte 16 of a buffer passed as o.
    std::vector<int32_t> host(size_t(kB * kT * kH * kV), 0);
    const int32_t offs[] = {0, 3, 4, 10};
    std::memcpy(host.data() + 4, offs, sizeof offs);
    Buffer shared = ctx_.upload(host);
    varlen(false);
    in.cu_seqlens = static_cast<const char*>(shared.get()) + 16;
    o = shared.get();
    expect_rejected("o overlaps cu_seqlens", fwd, INV, {"overlaps", "in->cu_seqlens"});
}

TEST_F(ScanDeltaAbiTest, ForwardRejectsOverlaps) {
    auto fwd = [&] { return forward(); };
    const auto INV = ENGRAM_ERR_INVALID_ARGUMENT;
    Buffer big = ctx_.output(o_.bytes() + fs_.bytes());
    o = big.get();
    fs = reinterpret_cast<float*>(static_cast<char*>(big.get()) + 4);
    expect_rejected("final_state overlaps o", fwd, INV, {"overlaps", "final_state", "o"});
    in.q = o_.get();
    expect_rejected("o overlaps q", fwd, INV, {"overlaps", "in->q"});
    in.beta = fs_.as<float>();
    expect_rejected("final_state overlaps beta", fwd, INV, {"overlaps", "in->beta"});
    in.initial_state = fs_.as<float>();
    expect_rejected("final_state is initial_state", fwd, INV, {"overlaps", "in->initial_state"});
}

TEST_F(ScanDeltaAbiTest, DecodeRejectsBadArguments) {
    const auto INV = ENGRAM_ERR_INVALID_ARGUMENT;
    auto dec = [&] { return engram_scan_delta_decode(ctx_.get(), &in, &opts, o, fs); };
    expect_rejected("t is not 1", dec, INV, {"in->t", "engram_scan_delta_forward"});
    in.t = 1;
    EXPECT_OK(dec());
    in.t = 1;
    fs = nullptr;
    expect_rejected("state_out NULL", dec, INV, {"state_out"});
    varlen(false);
    expect_rejected("decode with cu_seqlens", dec, INV, {"in->cu_seqlens", "decode"});
    in.t = 1;
    in.initial_state = fs + 1;
    expect_rejected("state_out partly overlapping state in", dec, INV, {"overlaps", "in->initial_state"});
    in.t = 1;
    o = fs;
    expect_rejected("o over state_out", dec, INV, {"overlaps", "state_out"});
    in.t = 1;
    in.initial_state = fs;
    EXPECT_OK(dec());  // in place
}

TEST_F(ScanDeltaAbiTest, BackwardRejectsBadArguments) {
    const auto INV = ENGRAM_ERR_INVALID_ARGUMENT;
    Buffer go = ctx_.upload(std::vector<float>(size_t(kB * kT * kH * kV), 1.0f));
    Buffer dq = ctx_.output(data_.q.size() * 4), dg = ctx_.output(data_.g.size() * 4);
    engram_scan_delta_grads gr;
    auto bwd = [&] { return engram_scan_delta_backward(ctx_.get(), &in, &opts, go.get(), nullptr, &gr); };
    auto fresh = [&] {
        engram_scan_delta_grads_init(&gr);
        gr.dq = o_.get();  // the checked outputs: a gradient written would show
        gr.d_initial_state = fs_.as<float>();
    };
    fresh();
    EXPECT_OK(bwd());
    fresh();
    expect_rejected("grads NULL", [&] { return engram_scan_delta_backward(ctx_.get(), &in, &opts, go.get(), nullptr, nullptr); }, INV, {"grads"});
    gr.struct_size = 4;
    expect_rejected("grads struct_size", bwd, INV, {"grads->struct_size", "engram_scan_delta_grads_init"});
    fresh();
    gr.dtype = ENGRAM_DTYPE_BF16;
    expect_rejected("grads dtype", bwd, ENGRAM_ERR_UNSUPPORTED, {"grads->dtype"});
    fresh();
    gr.dq = nullptr;
    gr.d_initial_state = nullptr;
    expect_rejected("no gradient", bwd, INV, {"grads", "at least one"});
    fresh();
    gr.dg = dg.as<float>();
    in.g = nullptr;
    expect_rejected("dg with the plain rule", bwd, INV, {"grads->dg", "in->g"});
    fresh();
    expect_rejected("grad_o NULL", [&] { return engram_scan_delta_backward(ctx_.get(), &in, &opts, nullptr, nullptr, &gr); }, INV, {"grad_o"});
    fresh();
    gr.dbeta = reinterpret_cast<float*>(static_cast<char*>(dg.get()) + 1);
    expect_rejected("dbeta misaligned", bwd, INV, {"grads->dbeta", "aligned"});
    fresh();
    gr.dk = const_cast<void*>(in.k);
    expect_rejected("dk over k", bwd, INV, {"overlaps", "grads->dk", "in->k"});
    fresh();
    gr.dg = fs_.as<float>();
    expect_rejected("dg over d_initial_state", bwd, INV, {"overlaps", "grads->dg"});
    fresh();
    varlen(false);
    in.cu_seqlens = nullptr;  // num_seqs left set
    expect_rejected("backward num_seqs without cu_seqlens", bwd, INV, {"in->num_seqs"});
    (void)dq;
}

TEST(ScanDeltaRegistry, OpsLayoutsInitAndCuda) {
    EXPECT_STREQ("scan_delta_forward", engram_op_name(ENGRAM_OP_SCAN_DELTA_FORWARD));
    EXPECT_STREQ("scan_delta_decode", engram_op_name(ENGRAM_OP_SCAN_DELTA_DECODE));
    EXPECT_STREQ("scan_delta_backward", engram_op_name(ENGRAM_OP_SCAN_DELTA_BACKWARD));
    EXPECT_STREQ("scan", engram_op_family(ENGRAM_OP_SCAN_DELTA_BACKWARD));
    for (engram_dtype dt : {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16})
        EXPECT_OK(engram_op_supported(ENGRAM_BACKEND_CPU, ENGRAM_OP_SCAN_DELTA_FORWARD, dt));
    EXPECT_EQ(ENGRAM_ERR_UNSUPPORTED,
              engram_op_supported(ENGRAM_BACKEND_CUDA, ENGRAM_OP_SCAN_DELTA_FORWARD, ENGRAM_DTYPE_F32));
    uint64_t value = 0;
    ASSERT_OK(engram_struct_layout("engram_scan_delta_inputs", nullptr, &value));
    EXPECT_EQ(sizeof(engram_scan_delta_inputs), value);
    ASSERT_OK(engram_struct_layout("engram_scan_delta_inputs", "cu_seqlens", &value));
    EXPECT_EQ(offsetof(engram_scan_delta_inputs, cu_seqlens), value);
    ASSERT_OK(engram_struct_layout("engram_scan_delta_grads", "dbeta", &value));
    EXPECT_EQ(offsetof(engram_scan_delta_grads, dbeta), value);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_scan_delta_inputs_init(nullptr), "inputs");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_scan_delta_grads_init(nullptr), "grads");
    engram_scan_delta_inputs in;
    ASSERT_OK(engram_scan_delta_inputs_init(&in));
    EXPECT_EQ(sizeof in, in.struct_size);
    EXPECT_EQ(0, in.qk_l2norm);
    EXPECT_EQ(nullptr, in.cu_seqlens);
}

}  // namespace
}  // namespace engram_test
