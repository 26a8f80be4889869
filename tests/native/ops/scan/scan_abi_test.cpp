// scan_abi_test.cpp — bad input to every scan entry point: the right status,
// a message that names the argument, no crash (the sanitizer build runs these
// too), and no output written. Also the registry and layout entries, and the
// CUDA refusal (the family has no CUDA backend yet).
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "scan_harness.hpp"

namespace engram_test {
namespace {

constexpr int64_t kB = 2, kT = 5, kH = 4, kHk = 2, kK = 3, kV = 6;

class ScanAbiTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(ctx_.ok()) << ctx_.error();
        ScanSpec s;
        s.batch = kB;
        s.t = kT;
        s.heads = kH;
        s.qk_heads = kHk;
        s.k_dim = kK;
        s.v_dim = kV;
        s.gate = ENGRAM_SCAN_GATE_SCALAR;
        s.initial_state = true;
        data_ = make_scan_data(s);
        q_ = ctx_.upload(data_.q_raw);
        k_ = ctx_.upload(data_.k_raw);
        v_ = ctx_.upload(data_.v_raw);
        g_ = ctx_.upload(data_.g);
        gk_ = ctx_.upload(std::vector<float>(size_t(kB * kT * kH * kK), -0.1f));
        s0_ = ctx_.upload(data_.s0);
        o_ = ctx_.output(size_t(kB * kT * kH * kV) * 4);
        fs_ = ctx_.output(size_t(kB * kH * kK * kV) * 4);
        reset();
    }

    void reset() {
        in = scan_inputs(data_, q_, k_, v_, g_, s0_);
        engram_scan_options_init(&opts);
        o = o_.get();
        fs = fs_.as<float>();
    }

    engram_status forward() { return engram_scan_linear_forward(ctx_.get(), &in, &opts, o, fs); }

    // `call` fails with `status` naming every needle, and writes nothing.
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
    ScanData data_;
    Buffer q_, k_, v_, g_, gk_, s0_, o_, fs_;
    engram_scan_inputs in{};
    engram_scan_options opts{};
    void* o = nullptr;
    float* fs = nullptr;
};

TEST_F(ScanAbiTest, ValidCallSucceeds) {
    EXPECT_OK(forward());
    EXPECT_STREQ("", engram_last_error());
}

TEST_F(ScanAbiTest, ForwardRejectsBadArguments) {
    auto fwd = [&] { return forward(); };
    const auto INV = ENGRAM_ERR_INVALID_ARGUMENT;
    expect_rejected("ctx NULL", [&] { return engram_scan_linear_forward(nullptr, &in, &opts, o, fs); }, INV, {"ctx"});
    expect_rejected("in NULL", [&] { return engram_scan_linear_forward(ctx_.get(), nullptr, &opts, o, fs); }, INV, {"in"});
    in.struct_size = 8;
    expect_rejected("in struct_size", fwd, INV, {"in->struct_size", "engram_scan_inputs_init"});
    opts.struct_size = 3;
    expect_rejected("opts struct_size", fwd, INV, {"opts->struct_size"});
    in.dtype = ENGRAM_DTYPE_I32;
    expect_rejected("dtype", fwd, ENGRAM_ERR_UNSUPPORTED, {"in->dtype"});
    in.gate = 3;
    expect_rejected("gate", fwd, INV, {"in->gate"});
    in.batch = 0;
    expect_rejected("batch 0", fwd, INV, {"in->batch"});
    in.t = -1;
    expect_rejected("t negative", fwd, INV, {"in->t"});
    in.heads = 0;
    expect_rejected("heads 0", fwd, INV, {"in->heads"});
    in.qk_heads = 3;
    expect_rejected("qk_heads not dividing", fwd, INV, {"in->qk_heads", "in->heads"});
    in.qk_heads = -2;
    expect_rejected("qk_heads negative", fwd, INV, {"in->qk_heads"});
    in.k_dim = ENGRAM_SCAN_MAX_HEAD_DIM + 1;
    expect_rejected("K above maximum", fwd, INV, {"in->k_dim", "256"});
    in.v_dim = ENGRAM_SCAN_MAX_HEAD_DIM + 1;
    expect_rejected("V above maximum", fwd, INV, {"in->v_dim", "256"});
    in.k_dim = 0;
    expect_rejected("K zero", fwd, INV, {"in->k_dim"});
    in.t = int64_t(1) << 40;
    expect_rejected("t beyond int32", fwd, INV, {"in->t"});
    in.batch = INT32_MAX;
    in.t = INT32_MAX;
    expect_rejected("sizes overflow", fwd, INV, {"in->q"});
    in.q = nullptr;
    expect_rejected("q NULL", fwd, INV, {"in->q"});
    in.k = nullptr;
    expect_rejected("k NULL", fwd, INV, {"in->k"});
    in.v = nullptr;
    expect_rejected("v NULL", fwd, INV, {"in->v"});
    in.g = nullptr;
    expect_rejected("g NULL with a gate", fwd, INV, {"in->g"});
    in.gate = ENGRAM_SCAN_GATE_NONE;
    expect_rejected("g set without a gate", fwd, INV, {"in->g", "NONE"});
    in.q = static_cast<const char*>(q_.get()) + 1;
    expect_rejected("q misaligned", fwd, INV, {"in->q", "aligned"});
    in.g = reinterpret_cast<const float*>(reinterpret_cast<const char*>(g_.get()) + 2);
    expect_rejected("g misaligned", fwd, INV, {"in->g", "aligned"});
    in.initial_state = reinterpret_cast<const float*>(reinterpret_cast<const char*>(s0_.get()) + 1);
    expect_rejected("initial_state misaligned", fwd, INV, {"in->initial_state", "aligned"});
    o = nullptr;
    expect_rejected("o NULL", fwd, INV, {"o"});
    o = static_cast<char*>(o_.get()) + 2;
    expect_rejected("o misaligned", fwd, INV, {"o", "aligned"});
    fs = reinterpret_cast<float*>(static_cast<char*>(fs_.get()) + 1);
    expect_rejected("final_state misaligned", fwd, INV, {"final_state", "aligned"});
    opts.chunk_size = -1;
    expect_rejected("chunk negative", fwd, INV, {"opts->chunk_size"});
    opts.chunk_size = ENGRAM_SCAN_MAX_CHUNK + 1;
    expect_rejected("chunk too large", fwd, INV, {"opts->chunk_size"});
    opts.scale = std::numeric_limits<float>::quiet_NaN();
    expect_rejected("scale NaN", fwd, INV, {"opts->scale"});
    opts.scale = std::numeric_limits<float>::infinity();
    expect_rejected("scale inf", fwd, INV, {"opts->scale"});
    opts.output_dtype = ENGRAM_DTYPE_BF16;  // inputs are f32
    expect_rejected("output dtype", fwd, ENGRAM_ERR_UNSUPPORTED, {"opts->output_dtype"});
    opts.output_dtype = 77;
    expect_rejected("output dtype unknown", fwd, ENGRAM_ERR_UNSUPPORTED, {"opts->output_dtype"});
}

TEST_F(ScanAbiTest, ForwardRejectsOverlaps) {
    auto fwd = [&] { return forward(); };
    const auto INV = ENGRAM_ERR_INVALID_ARGUMENT;
    // o over an input: q's buffer is big enough to pass as o only partly, so
    // use a fresh buffer holding both.
    Buffer big = ctx_.output(o_.bytes() + fs_.bytes());
    o = big.get();
    fs = reinterpret_cast<float*>(static_cast<char*>(big.get()) + 4);
    expect_rejected("final_state overlaps o", fwd, INV, {"overlaps", "final_state", "o"});
    in.q = o_.get();
    expect_rejected("o overlaps q", fwd, INV, {"overlaps", "in->q"});
    in.v = o_.get();
    expect_rejected("o overlaps v", fwd, INV, {"overlaps", "in->v"});
    in.g = fs_.as<float>();
    expect_rejected("final_state overlaps g", fwd, INV, {"overlaps", "in->g"});
    in.initial_state = fs_.as<float>();
    expect_rejected("final_state is initial_state", fwd, INV, {"overlaps", "in->initial_state"});
    // Inputs may overlap inputs: q and k the same tensor is fine.
    in.k = in.q;
    EXPECT_OK(forward());
}

TEST_F(ScanAbiTest, DecodeRejectsBadArguments) {
    const auto INV = ENGRAM_ERR_INVALID_ARGUMENT;
    auto dec = [&] { return engram_scan_linear_decode(ctx_.get(), &in, &opts, o, fs); };
    expect_rejected("t is not 1", dec, INV, {"in->t", "engram_scan_linear_forward"});
    in.t = 1;  // (buffers are larger than one token needs: fine)
    EXPECT_OK(dec());
    in.t = 1;
    fs = nullptr;
    expect_rejected("state_out NULL", dec, INV, {"state_out"});
    in.t = 1;
    in.gate = ENGRAM_SCAN_GATE_VECTOR;
    in.g = nullptr;
    expect_rejected("g NULL", dec, INV, {"in->g"});
    in.t = 1;
    in.initial_state = fs + 1;
    expect_rejected("state_out partly overlapping state in", dec, INV, {"overlaps", "in->initial_state"});
    in.t = 1;
    o = fs;
    expect_rejected("o over state_out", dec, INV, {"overlaps", "state_out"});
    // In place is allowed.
    in.t = 1;
    in.initial_state = fs;
    EXPECT_OK(dec());
}

TEST_F(ScanAbiTest, OptionsAndInputsInitRejectNull) {
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_scan_options_init(nullptr), "opts");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_scan_inputs_init(nullptr), "inputs");
    engram_scan_options o2;
    ASSERT_OK(engram_scan_options_init(&o2));
    EXPECT_EQ(sizeof o2, o2.struct_size);
    EXPECT_EQ(0, o2.chunk_size);
    EXPECT_EQ(0.0f, o2.scale);
    EXPECT_EQ(ENGRAM_SCAN_OUTPUT_DTYPE_INPUT, o2.output_dtype);
}

TEST_F(ScanAbiTest, NullOptionsMeanDefaults) {
    ASSERT_OK(engram_scan_linear_forward(ctx_.get(), &in, nullptr, o, fs));
    const std::vector<float> a = o_.floats();
    ASSERT_OK(forward());  // opts from engram_scan_options_init
    EXPECT_EQ(a, o_.floats());
}

TEST(ScanRegistry, OpsLayoutsAndCuda) {
    EXPECT_STREQ("scan_linear_forward", engram_op_name(ENGRAM_OP_SCAN_LINEAR_FORWARD));
    EXPECT_STREQ("scan_linear_decode", engram_op_name(ENGRAM_OP_SCAN_LINEAR_DECODE));
    EXPECT_STREQ("scan", engram_op_family(ENGRAM_OP_SCAN_LINEAR_FORWARD));
    for (engram_dtype dt : {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_F16, ENGRAM_DTYPE_BF16})
        EXPECT_OK(engram_op_supported(ENGRAM_BACKEND_CPU, ENGRAM_OP_SCAN_LINEAR_FORWARD, dt));
    EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED,
                  engram_op_supported(ENGRAM_BACKEND_CPU, ENGRAM_OP_SCAN_LINEAR_DECODE, ENGRAM_DTYPE_I32),
                  "scan_linear_decode");
    // CUDA: forward and decode where the backend is built (a device is
    // needed to run them); the backward is CPU-only.
    const engram_capabilities caps = capabilities();
    const engram_status cuda_st =
        engram_op_supported(ENGRAM_BACKEND_CUDA, ENGRAM_OP_SCAN_LINEAR_FORWARD, ENGRAM_DTYPE_F32);
    if (!caps.cuda_built)
        EXPECT_EQ(ENGRAM_ERR_UNSUPPORTED, cuda_st);
    else if (caps.cuda_device_count == 0)
        EXPECT_EQ(ENGRAM_ERR_NO_DEVICE, cuda_st);
    else
        EXPECT_EQ(ENGRAM_OK, cuda_st);
    EXPECT_EQ(ENGRAM_ERR_UNSUPPORTED,
              engram_op_supported(ENGRAM_BACKEND_CUDA, ENGRAM_OP_SCAN_LINEAR_BACKWARD, ENGRAM_DTYPE_F32));
    uint64_t value = 0;
    ASSERT_OK(engram_struct_layout("engram_scan_inputs", nullptr, &value));
    EXPECT_EQ(sizeof(engram_scan_inputs), value);
    ASSERT_OK(engram_struct_layout("engram_scan_inputs", "initial_state", &value));
    EXPECT_EQ(offsetof(engram_scan_inputs, initial_state), value);
    ASSERT_OK(engram_struct_layout("engram_scan_options", "output_dtype", &value));
    EXPECT_EQ(offsetof(engram_scan_options, output_dtype), value);
}

}  // namespace
}  // namespace engram_test
