// cce_abi_test.cpp — bad input to every CCE entry point (forward, backward,
// forward_backward, shard_forward, shard_combine): the right status, a message
// that names the argument, no crash (the sanitizer build runs these too), and
// no output written. Runs on every backend that exists here.
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "../../common/c_callers.h"
#include "cce_harness.hpp"

namespace engram_test {
namespace {

constexpr int64_t kN = 6, kD = 5, kV = 7;

class CceAbiTest : public BackendTest {
protected:
    void SetUp() override {
        BackendTest::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        CceSpec s;
        s.n = kN;
        s.d = kD;
        s.v = kV;
        s.bias = true;
        data_ = make_cce_data(s);
        inputs_ = upload_inputs(ctx(), data_);
        loss_ = ctx().output(kN * 4);
        lse_ = ctx().output(kN * 4);
        lse_in_ = ctx().upload(std::vector<float>(kN, 2.0f));
        grad_loss_ = ctx().upload(std::vector<float>(kN, 1.0f));
        ge_ = ctx().output(kN * kD * 4);
        gc_ = ctx().output(kV * kD * 4);
        gb_ = ctx().output(kV * 4);
        shard_lse_ = ctx().upload(std::vector<float>(2 * kN, 1.0f));
        target_logit_ = ctx().upload(std::vector<float>(kN, 0.5f));
        logit_sum_ = ctx().upload(std::vector<float>(kN, 0.25f));
        reset();
    }

    // Every argument back to a valid call.
    void reset() {
        in = inputs_.in;
        engram_cce_options_init(&opts);
        opts.filter_eps = 0.0f;
        engram_cce_grads_init(&grads);
        grads.grad_e = ge_.get();
        grads.grad_c = gc_.get();
        grads.grad_bias = gb_.get();
        loss = loss_.as<float>();
        lse = lse_.as<float>();
        lse_in = lse_in_.as<float>();
        grad_loss = grad_loss_.as<float>();
        shard_lse = shard_lse_.as<float>();
        target_logit = target_logit_.as<float>();
        logit_sum = logit_sum_.as<float>();
        combine_n = kN;
        combine_shards = 2;
        combine_vocab = kV;
        combine_targets = inputs_.targets.get();
        combine_target_dtype = data_.spec.target_dtype;
        refill();
    }
    // Outputs back to the 0xFF pattern that expect_outputs_untouched looks for.
    void refill() {
        for (Buffer* b : {&loss_, &lse_, &ge_, &gc_, &gb_}) b->fill(0xFF);
    }

    engram_context* c() { return ctx().get(); }
    engram_status forward() { return engram_cce_forward(c(), &in, &opts, loss, lse); }
    engram_status backward() { return engram_cce_backward(c(), &in, &opts, lse_in, grad_loss, &grads); }
    engram_status forward_backward() {
        return engram_cce_forward_backward(c(), &in, &opts, grad_loss, loss, lse, &grads);
    }
    engram_status shard_forward() {
        return engram_cce_shard_forward(c(), &in, &opts, lse, loss, ge_.as<float>());
    }
    engram_status combine() {
        return engram_cce_shard_combine(c(), combine_n, combine_shards, combine_vocab, shard_lse,
                                        target_logit, logit_sum, combine_targets,
                                        combine_target_dtype, &opts, loss, lse);
    }

    // The ops that take engram_cce_inputs, by name.
    std::vector<std::pair<const char*, std::function<engram_status()>>> input_ops() {
        return {{"engram_cce_forward", [this] { return forward(); }},
                {"engram_cce_backward", [this] { return backward(); }},
                {"engram_cce_forward_backward", [this] { return forward_backward(); }},
                {"engram_cce_shard_forward", [this] { return shard_forward(); }}};
    }
    std::vector<std::pair<const char*, std::function<engram_status()>>> all_ops() {
        auto ops = input_ops();
        ops.push_back({"engram_cce_shard_combine", [this] { return combine(); }});
        return ops;
    }

    // No output may change when a call fails.
    void expect_outputs_untouched() {
        for (const Buffer* b : {&loss_, &lse_, &ge_, &gc_, &gb_}) {
            std::vector<uint8_t> bytes(b->bytes());
            b->download(bytes.data(), bytes.size());
            for (size_t i = 0; i < bytes.size(); ++i)
                if (bytes[i] != 0xFF) {
                    ADD_FAILURE() << "a failed call wrote an output (byte " << i << ")";
                    return;
                }
        }
    }

    // Targets replaced by `values` (n entries) in `dtype`.
    void set_targets(engram_dtype dtype, const std::vector<int64_t>& values) {
        targets_ = ctx().upload(encode_ints(dtype, values));
        in.targets = targets_.get();
        in.target_dtype = dtype;
        combine_targets = targets_.get();
        combine_target_dtype = dtype;
        combine_n = int64_t(values.size());
        in.n = int64_t(values.size());
    }

    // A copy of `bytes` that starts `offset` bytes into a larger buffer.
    void* shifted(const std::vector<uint8_t>& bytes, size_t offset) {
        scratch_.push_back(ctx().output(bytes.size() + 16, 0));
        scratch_.back().upload(bytes.data(), bytes.size(), offset);
        return static_cast<char*>(scratch_.back().get()) + offset;
    }
    void* arena(size_t bytes) {
        scratch_.push_back(ctx().output(bytes, 0));
        return scratch_.back().get();
    }

    CceData data_;
    CceBackendInputs inputs_;
    Buffer loss_, lse_, lse_in_, grad_loss_, ge_, gc_, gb_, shard_lse_, target_logit_, logit_sum_,
        targets_;
    std::vector<Buffer> scratch_;

    engram_cce_inputs in{};
    engram_cce_options opts{};
    engram_cce_grads grads{};
    float *loss = nullptr, *lse = nullptr, *shard_lse = nullptr, *target_logit = nullptr,
          *logit_sum = nullptr;
    const float *lse_in = nullptr, *grad_loss = nullptr;
    int64_t combine_n = 0, combine_shards = 0, combine_vocab = 0;
    const void* combine_targets = nullptr;
    engram_dtype combine_target_dtype = ENGRAM_DTYPE_I64;
};

// A needle as `op` spells it: engram_cce_shard_forward names its inputs
// argument `shard`, so "in->e" there reads "shard->e".
std::string needle_for(const std::string& op, const std::string& needle) {
    if (op == "engram_cce_shard_forward" && needle.rfind("in->", 0) == 0)
        return "shard" + needle.substr(2);
    return needle;
}

// Each op in `ops` must fail with `status` and name every needle.
#define EXPECT_OPS_FAIL(ops, status, ...)                                                     \
    for (auto& op_ : (ops)) {                                                                 \
        SCOPED_TRACE(op_.first);                                                              \
        refill();                                                                             \
        const engram_status st_ = op_.second();                                               \
        const std::string msg_ = engram_last_error();                                         \
        EXPECT_EQ(status_text(status), status_text(st_)) << "message: " << msg_;              \
        for (const char* needle_ : std::vector<const char*>{__VA_ARGS__}) {                   \
            const std::string n_ = needle_for(op_.first, needle_);                            \
            EXPECT_NE(msg_.find(n_), std::string::npos)                                       \
                << "message \"" << msg_ << "\" does not mention \"" << n_ << "\"";            \
        }                                                                                     \
        expect_outputs_untouched();                                                           \
    }

TEST_P(CceAbiTest, ValidCallsSucceed) {
    for (auto& op : all_ops()) {
        SCOPED_TRACE(op.first);
        EXPECT_OK(op.second());
        EXPECT_STREQ("", engram_last_error());
    }
}

TEST_P(CceAbiTest, NullContext) {
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_cce_forward(nullptr, &in, &opts, loss, lse), "ctx");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_cce_backward(nullptr, &in, &opts, lse_in, grad_loss, &grads), "ctx");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_cce_forward_backward(nullptr, &in, &opts, grad_loss, loss, lse, &grads), "ctx");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_cce_shard_forward(nullptr, &in, &opts, lse, loss, nullptr), "ctx");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_cce_shard_combine(nullptr, kN, 2, kV, shard_lse, target_logit, logit_sum,
                                           combine_targets, combine_target_dtype, &opts, loss, lse),
                  "ctx");
    expect_outputs_untouched();
}

TEST_P(CceAbiTest, NullInputs) {
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_cce_forward(c(), nullptr, &opts, loss, lse), "in");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_cce_backward(c(), nullptr, &opts, lse_in, grad_loss, &grads), "in");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_cce_forward_backward(c(), nullptr, &opts, grad_loss, loss, lse, &grads), "in");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_cce_shard_forward(c(), nullptr, &opts, lse, loss, nullptr), "shard is NULL");
    expect_outputs_untouched();
}

TEST_P(CceAbiTest, NullTensors) {
    in.e = nullptr;
    EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_INVALID_ARGUMENT, "in->e");
    reset();
    in.c = nullptr;
    EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_INVALID_ARGUMENT, "in->c");
    reset();
    in.targets = nullptr;
    EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_INVALID_ARGUMENT, "in->targets");
    reset();
    combine_targets = nullptr;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, combine(), "targets");
}

TEST_P(CceAbiTest, NullBiasMeansNoBias) {
    in.bias = nullptr;
    grads.grad_bias = nullptr;
    for (auto& op : input_ops()) {
        SCOPED_TRACE(op.first);
        EXPECT_OK(op.second());
    }
}

TEST_P(CceAbiTest, NullOutputs) {
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, engram_cce_forward(c(), &in, &opts, nullptr, lse), "loss");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_cce_forward_backward(c(), &in, &opts, grad_loss, nullptr, lse, &grads), "loss");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_cce_backward(c(), &in, &opts, lse_in, grad_loss, nullptr), "grads");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_cce_forward_backward(c(), &in, &opts, grad_loss, loss, lse, nullptr), "grads");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_cce_shard_forward(c(), &in, &opts, nullptr, loss, nullptr), "shard_lse");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_cce_shard_forward(c(), &in, &opts, lse, nullptr, nullptr), "target_logit");
    shard_lse = nullptr;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, combine(), "shard_lse");
    reset();
    target_logit = nullptr;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, combine(), "target_logit");
    reset();
    loss = nullptr;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, combine(), "loss");
    reset();
    expect_outputs_untouched();
}

TEST_P(CceAbiTest, OptionalOutputsMayBeNull) {
    lse = nullptr;
    grad_loss = nullptr;
    lse_in = nullptr;
    EXPECT_OK(forward());
    EXPECT_OK(backward());
    EXPECT_OK(forward_backward());
    logit_sum = nullptr;  // no label smoothing
    EXPECT_OK(combine());
    EXPECT_OK(engram_cce_shard_forward(c(), &in, &opts, loss_.as<float>(), ge_.as<float>(), nullptr));
}

TEST_P(CceAbiTest, NullOptionsMeansDefaults) {
    EXPECT_OK(engram_cce_forward(c(), &in, nullptr, loss, lse));
    EXPECT_OK(engram_cce_backward(c(), &in, nullptr, lse_in, grad_loss, &grads));
    EXPECT_OK(engram_cce_forward_backward(c(), &in, nullptr, grad_loss, loss, lse, &grads));
    EXPECT_OK(engram_cce_shard_forward(c(), &in, nullptr, lse, loss, nullptr));
    EXPECT_OK(engram_cce_shard_combine(c(), kN, 2, kV, shard_lse, target_logit, nullptr,
                                       combine_targets, combine_target_dtype, nullptr, loss, lse));
}

TEST_P(CceAbiTest, LogitSumRequiredWithLabelSmoothing) {
    opts.label_smoothing = 0.1f;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_cce_shard_forward(c(), &in, &opts, lse, loss, nullptr), "logit_sum");
    logit_sum = nullptr;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, combine(), "logit_sum");
    expect_outputs_untouched();
}

TEST_P(CceAbiTest, WrongStructSizes) {
    for (uint32_t size : {0u, uint32_t(sizeof(engram_cce_inputs) - 8), uint32_t(sizeof(engram_cce_inputs) + 8)}) {
        reset();
        in.struct_size = size;
        EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_INVALID_ARGUMENT, "in->struct_size");
    }
    for (uint32_t size : {0u, uint32_t(sizeof(engram_cce_options) - 4), uint32_t(sizeof(engram_cce_options) + 8)}) {
        reset();
        opts.struct_size = size;
        EXPECT_OPS_FAIL(all_ops(), ENGRAM_ERR_INVALID_ARGUMENT, "opts->struct_size");
    }
    for (uint32_t size : {0u, uint32_t(sizeof(engram_cce_grads) - 8), uint32_t(sizeof(engram_cce_grads) + 8)}) {
        reset();
        grads.struct_size = size;
        EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, backward(), "grads->struct_size");
        EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, forward_backward(), "grads->struct_size");
        expect_outputs_untouched();
    }
}

TEST_P(CceAbiTest, NonPositiveSizes) {
    for (int64_t bad : {int64_t(0), int64_t(-1), std::numeric_limits<int64_t>::min()}) {
        reset();
        in.n = bad;
        EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_INVALID_ARGUMENT, "in->n");
        reset();
        in.d = bad;
        EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_INVALID_ARGUMENT, "in->d");
        reset();
        in.v = bad;
        EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_INVALID_ARGUMENT, "in->v");
        reset();
        combine_n = bad;
        EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, combine(), ": n ");
        reset();
        combine_shards = bad;
        EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, combine(), "num_shards");
        reset();
        combine_vocab = bad;
        EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, combine(), "vocab_total");
        expect_outputs_untouched();
    }
}

TEST_P(CceAbiTest, SizesAbove2To31Minus1) {
    for (int64_t bad : {int64_t(1) << 31, std::numeric_limits<int64_t>::max()}) {
        reset();
        in.n = bad;
        EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_INVALID_ARGUMENT, "in->n");
        reset();
        in.d = bad;
        EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_INVALID_ARGUMENT, "in->d");
        reset();
        in.v = bad;
        in.vocab_total = 0;
        EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_INVALID_ARGUMENT, "in->v");
        reset();
        in.vocab_total = bad;
        EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_INVALID_ARGUMENT, "in->vocab_total");
        reset();
        combine_n = bad;
        EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, combine(), ": n ");
        reset();
        combine_vocab = bad;
        EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, combine(), "vocab_total");
        reset();
        combine_shards = bad;
        EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, combine(), "num_shards");
    }
    // The largest allowed value is not rejected as too large (it fails later,
    // on the vocabulary shard check, which names vocab_start).
    reset();
    in.vocab_total = std::numeric_limits<int32_t>::max();
    in.vocab_start = std::numeric_limits<int32_t>::max();
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, backward(), "in->vocab_start");
}

TEST_P(CceAbiTest, OverflowingByteCounts) {
    const int64_t big = std::numeric_limits<int32_t>::max();
    in.n = big;
    in.d = big;  // n * d * 4 > 2^62
    EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_INVALID_ARGUMENT, "in->e");
    reset();
    in.v = big;
    in.d = big;  // v * d * 4 > 2^62, n * d fine
    EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_INVALID_ARGUMENT, "in->c");
}

TEST_P(CceAbiTest, InconsistentVocabularyShard) {
    in.vocab_total = kV - 1;  // smaller than the rows held
    EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_INVALID_ARGUMENT, "in->vocab_total");
    reset();
    in.vocab_total = -5;
    EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_INVALID_ARGUMENT, "in->vocab_total");
    reset();
    in.vocab_total = 2 * kV;
    in.vocab_start = -1;
    EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_INVALID_ARGUMENT, "in->vocab_start");
    reset();
    in.vocab_total = 2 * kV;
    in.vocab_start = kV + 1;  // [8, 15) not inside [0, 14)
    EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_INVALID_ARGUMENT, "in->vocab_start");
    reset();
    in.vocab_total = 0;  // means v: no room for a start
    in.vocab_start = 1;
    EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_INVALID_ARGUMENT, "in->vocab_start");
    reset();
    combine_shards = kV + 1;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, combine(), "num_shards", "vocab_total");
    expect_outputs_untouched();
}

TEST_P(CceAbiTest, ShardedInputsAreRejectedByTheUnshardedOps) {
    for (int64_t start : {int64_t(0), kV}) {
        reset();
        in.vocab_total = 2 * kV;
        in.vocab_start = start;
        EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, forward(), "engram_cce_shard_forward");
        EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, forward_backward(), "engram_cce_shard_forward");
        expect_outputs_untouched();
        // The shard ops accept them.
        EXPECT_OK(shard_forward());
        EXPECT_OK(backward());
    }
}

TEST_P(CceAbiTest, ShardedBackwardNeedsTheGlobalLse) {
    in.vocab_total = 3 * kV;
    in.vocab_start = kV;
    lse_in = nullptr;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, backward(), "lse");
    expect_outputs_untouched();
}

TEST_P(CceAbiTest, ExplicitVocabTotalEqualToVIsUnsharded) {
    in.vocab_total = kV;
    EXPECT_OK(forward());
    EXPECT_OK(forward_backward());
}

// --- target ids ------------------------------------------------------------------------

struct BadTarget {
    int64_t value;
    const char* text;
};

TEST_P(CceAbiTest, TargetOutOfRangeI64) {
    for (BadTarget bad : {BadTarget{kV, "7"}, BadTarget{-1, "-1"}, BadTarget{-101, "-101"},
                          BadTarget{(int64_t(1) << 32) + 3, "4294967299"},
                          BadTarget{std::numeric_limits<int64_t>::min(), "-9223372036854775808"}}) {
        reset();
        set_targets(ENGRAM_DTYPE_I64, {0, 1, 2, bad.value, 4, -100});
        SCOPED_TRACE(bad.text);
        EXPECT_OPS_FAIL(all_ops(), ENGRAM_ERR_OUT_OF_RANGE, "targets[3]", bad.text);
    }
}

TEST_P(CceAbiTest, TargetOutOfRangeI32) {
    for (BadTarget bad : {BadTarget{kV, "7"}, BadTarget{-1, "-1"}, BadTarget{1000000, "1000000"},
                          BadTarget{std::numeric_limits<int32_t>::min(), "-2147483648"}}) {
        reset();
        set_targets(ENGRAM_DTYPE_I32, {6, -100, 0, 1, 2, bad.value});
        SCOPED_TRACE(bad.text);
        EXPECT_OPS_FAIL(all_ops(), ENGRAM_ERR_OUT_OF_RANGE, "targets[5]", bad.text);
    }
}

TEST_P(CceAbiTest, DefaultIgnoreIndexIsOutOfRangeUnderAnother) {
    set_targets(ENGRAM_DTYPE_I64, {0, -100, 2, 3, 4, 5});
    opts.ignore_index = -1;
    EXPECT_OPS_FAIL(all_ops(), ENGRAM_ERR_OUT_OF_RANGE, "targets[1]", "-100");
}

TEST_P(CceAbiTest, IgnoreIndexIsAccepted) {
    set_targets(ENGRAM_DTYPE_I64, {-100, -100, -100, -100, -100, -100});
    for (auto& op : all_ops()) {
        SCOPED_TRACE(op.first);
        EXPECT_OK(op.second());
    }
    reset();
    opts.ignore_index = int64_t(1) << 40;
    set_targets(ENGRAM_DTYPE_I64, {int64_t(1) << 40, 1, 2, int64_t(1) << 40, 4, 5});
    for (auto& op : all_ops()) {
        SCOPED_TRACE(op.first);
        EXPECT_OK(op.second());
    }
    reset();
    opts.ignore_index = -7;
    set_targets(ENGRAM_DTYPE_I32, {-7, 1, 2, -7, 4, 6});
    for (auto& op : all_ops()) {
        SCOPED_TRACE(op.first);
        EXPECT_OK(op.second());
    }
}

TEST_P(CceAbiTest, ShardTargetsAreGlobalIds) {
    // A shard holding rows [7, 14) of 21: targets anywhere in [0, 21) are valid.
    in.vocab_start = kV;
    in.vocab_total = 3 * kV;
    set_targets(ENGRAM_DTYPE_I64, {0, 7, 13, 14, 20, -100});
    EXPECT_OK(shard_forward());
    EXPECT_OK(backward());
    refill();
    set_targets(ENGRAM_DTYPE_I64, {0, 7, 13, 14, 21, -100});
    EXPECT_STATUS(ENGRAM_ERR_OUT_OF_RANGE, shard_forward(), "targets[4]", "21");
    EXPECT_STATUS(ENGRAM_ERR_OUT_OF_RANGE, backward(), "targets[4]", "21");
    expect_outputs_untouched();
}

// check_targets = 0 trusts the ids; an id outside the vocabulary then counts
// as "in another shard" — including INT64_MIN/MAX, whose distance to
// vocab_start does not fit in 64 bits (found by the fuzzer: UBSan overflow).
TEST_P(CceAbiTest, UncheckedExtremeTargetsAreInAnotherShard) {
    in.vocab_start = kV;
    in.vocab_total = 3 * kV;
    opts.check_targets = 0;
    set_targets(ENGRAM_DTYPE_I64, {INT64_MIN, INT64_MAX, 8, -1, 3 * kV, -100});
    EXPECT_OK(shard_forward());
    // target_logit (written into loss_ here) is 0 for every id outside [7, 14).
    std::vector<float> tl(kN);
    loss_.download(tl.data(), tl.size() * 4);
    for (int i : {0, 1, 3, 4, 5}) EXPECT_EQ(0.0f, tl[size_t(i)]) << i;
    EXPECT_NE(0.0f, tl[2]);
    EXPECT_OK(backward());
}

// --- dtypes -------------------------------------------------------------------------------

TEST_P(CceAbiTest, UnsupportedInputDtypes) {
    for (int dt : {int(ENGRAM_DTYPE_I32), int(ENGRAM_DTYPE_I64), 5, -1, 99}) {
        reset();
        in.dtype = dt;
        SCOPED_TRACE(dt);
        EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_UNSUPPORTED, "in->dtype");
    }
}

TEST_P(CceAbiTest, UnsupportedTargetDtypes) {
    for (int dt : {int(ENGRAM_DTYPE_F32), int(ENGRAM_DTYPE_F16), int(ENGRAM_DTYPE_BF16), 5, -1}) {
        reset();
        in.target_dtype = dt;
        SCOPED_TRACE(dt);
        EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_UNSUPPORTED, "in->target_dtype");
        // The combine step takes the dtype as an enum argument: passed from C.
        EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED,
                      c_shard_combine(c(), combine_n, combine_shards, combine_vocab, shard_lse,
                                      target_logit, logit_sum, combine_targets, dt, &opts, loss, lse),
                      "target_dtype");
        expect_outputs_untouched();
    }
}

TEST_P(CceAbiTest, UnsupportedGradientDtypes) {
    // f32 inputs: gradients F32 only; 16-bit inputs: F32 or that dtype.
    for (int dt : {int(ENGRAM_DTYPE_F16), int(ENGRAM_DTYPE_BF16), int(ENGRAM_DTYPE_I32), 99, -1}) {
        reset();
        grads.dtype = dt;
        SCOPED_TRACE(dt);
        EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED, backward(), "grads->dtype");
        EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED, forward_backward(), "grads->dtype");
        expect_outputs_untouched();
    }
    // bf16 inputs with f16 gradients.
    CceSpec s = data_.spec;
    s.dtype = ENGRAM_DTYPE_BF16;
    const CceData half = make_cce_data(s);
    auto hin = upload_inputs(ctx(), half);
    reset();
    in = hin.in;
    grads.dtype = ENGRAM_DTYPE_F16;
    EXPECT_STATUS(ENGRAM_ERR_UNSUPPORTED, backward(), "grads->dtype");
    grads.dtype = ENGRAM_DTYPE_BF16;
    EXPECT_OK(backward());
    grads.dtype = ENGRAM_DTYPE_F32;
    EXPECT_OK(backward());
}

// --- alignment ----------------------------------------------------------------------------

TEST_P(CceAbiTest, MisalignedInputs) {
    for (size_t off : {size_t(1), size_t(2), size_t(3)}) {
        SCOPED_TRACE("offset " + std::to_string(off));
        reset();
        in.e = shifted(data_.e_raw, off);
        EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_INVALID_ARGUMENT, "in->e");
        reset();
        in.c = shifted(data_.c_raw, off);
        EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_INVALID_ARGUMENT, "in->c");
        reset();
        in.bias = shifted(data_.bias_raw, off);
        EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_INVALID_ARGUMENT, "in->bias");
    }
    for (size_t off : {size_t(1), size_t(4)}) {  // i64 targets need 8-byte alignment
        SCOPED_TRACE("targets offset " + std::to_string(off));
        reset();
        in.targets = shifted(data_.targets_raw, off);
        EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_INVALID_ARGUMENT, "in->targets");
        combine_targets = in.targets;
        EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, combine(), "targets");
    }
}

TEST_P(CceAbiTest, Misaligned16BitInputs) {
    CceSpec s = data_.spec;
    s.dtype = ENGRAM_DTYPE_F16;
    const CceData half = make_cce_data(s);
    auto hin = upload_inputs(ctx(), half);
    reset();
    in = hin.in;
    EXPECT_OK(forward());
    refill();
    in.e = shifted(half.e_raw, 1);
    EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_INVALID_ARGUMENT, "in->e");
    in = hin.in;
    in.c = shifted(half.c_raw, 1);
    EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_INVALID_ARGUMENT, "in->c");
    in = hin.in;
    in.bias = shifted(half.bias_raw, 1);
    EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_INVALID_ARGUMENT, "in->bias");
    in = hin.in;
    in.e = shifted(half.e_raw, 2);  // 2-byte aligned is fine for 16-bit inputs
    EXPECT_OK(forward());
}

TEST_P(CceAbiTest, MisalignedOutputs) {
    auto bytes = [](size_t count) { return std::vector<uint8_t>(count * 4, 0); };
    loss = static_cast<float*>(shifted(bytes(kN), 2));
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, forward(), "loss");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, forward_backward(), "loss");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, combine(), "loss");
    reset();
    lse = static_cast<float*>(shifted(bytes(kN), 1));
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, forward(), "lse");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, forward_backward(), "lse");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, combine(), "lse");
    reset();
    lse_in = static_cast<float*>(shifted(bytes(kN), 3));
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, backward(), "lse");
    reset();
    grad_loss = static_cast<float*>(shifted(bytes(kN), 1));
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, backward(), "grad_loss");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, forward_backward(), "grad_loss");
    reset();
    grads.grad_e = shifted(bytes(kN * kD), 2);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, backward(), "grads->grad_e");
    reset();
    grads.grad_c = shifted(bytes(kV * kD), 1);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, backward(), "grads->grad_c");
    reset();
    grads.grad_bias = shifted(bytes(kV), 3);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, forward_backward(), "grads->grad_bias");
    reset();
    shard_lse = static_cast<float*>(shifted(bytes(2 * kN), 1));
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, combine(), "shard_lse");
    reset();
    target_logit = static_cast<float*>(shifted(bytes(kN), 1));
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, combine(), "target_logit");
    reset();
    logit_sum = static_cast<float*>(shifted(bytes(kN), 1));
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, combine(), "logit_sum");
    reset();
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_cce_shard_forward(c(), &in, &opts, static_cast<float*>(shifted(bytes(kN), 1)),
                                           loss, nullptr),
                  "shard_lse");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  engram_cce_shard_forward(c(), &in, &opts, lse, static_cast<float*>(shifted(bytes(kN), 2)),
                                           nullptr),
                  "target_logit");
    expect_outputs_untouched();
}

// --- gradient outputs ----------------------------------------------------------------

TEST_P(CceAbiTest, GradsWithNoOutput) {
    grads.grad_e = grads.grad_c = grads.grad_bias = nullptr;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, backward(), "grads");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, forward_backward(), "grads");
    expect_outputs_untouched();
}

TEST_P(CceAbiTest, GradBiasWithoutBias) {
    in.bias = nullptr;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, backward(), "grad_bias", "bias");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, forward_backward(), "grad_bias", "bias");
    expect_outputs_untouched();
}

TEST_P(CceAbiTest, GradientsAliasingInputs) {
    grads.grad_e = const_cast<void*>(in.e);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, backward(), "grads->grad_e", "in->e");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, forward_backward(), "grads->grad_e", "in->e");
    reset();
    grads.grad_c = const_cast<void*>(in.c);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, backward(), "grads->grad_c", "in->c");
    reset();
    grads.grad_bias = const_cast<void*>(in.bias);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, backward(), "grads->grad_bias", "in->bias");
    reset();
    // grad_e over c (a different tensor).
    grads.grad_e = const_cast<void*>(in.c);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, backward(), "grads->grad_e", "in->c");
    expect_outputs_untouched();
    reset();
    // Partial overlap: grad_c starts at c's last element, inside one arena.
    {
        const size_t cb = kV * kD * 4;
        char* a = static_cast<char*>(arena(2 * cb));
        scratch_.back().upload(data_.c_raw.data(), cb);
        in.c = a;
        grads.grad_c = a + cb - 4;
        EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, backward(), "grads->grad_c", "in->c");
        expect_outputs_untouched();
        grads.grad_c = a + cb;  // adjacent, not overlapping: fine
        EXPECT_OK(backward());
    }
}

TEST_P(CceAbiTest, GradientsAliasingEachOther) {
    const size_t eb = kN * kD * 4, cb = kV * kD * 4, bb = kV * 4;
    char* a = static_cast<char*>(arena(eb + cb + bb));
    grads.grad_e = a;
    grads.grad_c = a + eb - 4;  // one element shared
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, backward(), "grads->grad_e", "grads->grad_c");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, forward_backward(), "grads->grad_e", "grads->grad_c");
    grads.grad_c = a + eb;
    grads.grad_bias = a + eb + 8;  // inside grad_c
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, backward(), "grads->grad_c", "grads->grad_bias");
    grads.grad_bias = a;  // same as grad_e
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, backward(), "grads->grad_e", "grads->grad_bias");
    grads.grad_bias = a + eb + cb;  // all three adjacent: fine
    EXPECT_OK(backward());
}

TEST_P(CceAbiTest, SixteenBitGradientsAliasingInputs) {
    CceSpec s = data_.spec;
    s.dtype = ENGRAM_DTYPE_BF16;
    const CceData half = make_cce_data(s);
    auto hin = upload_inputs(ctx(), half);
    in = hin.in;
    grads.dtype = ENGRAM_DTYPE_BF16;
    grads.grad_e = const_cast<void*>(in.e);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, backward(), "grads->grad_e", "in->e");
    grads.grad_e = ge_.get();
    grads.grad_c = static_cast<char*>(const_cast<void*>(in.c)) + 2;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, backward(), "grads->grad_c", "in->c");
}

// --- options ------------------------------------------------------------------------------

struct BadOption {
    const char* what;
    std::function<void(engram_cce_options&)> set;
    const char* needle;
};

TEST_P(CceAbiTest, OptionsOutOfRange) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    const std::vector<BadOption> bad = {
        {"reduction 7", [](auto& o) { o.reduction = 7; }, "opts->reduction"},
        {"reduction 3", [](auto& o) { o.reduction = 3; }, "opts->reduction"},
        {"reduction -1", [](auto& o) { o.reduction = -1; }, "opts->reduction"},
        {"softcap -1", [](auto& o) { o.softcap = -1.0f; }, "opts->softcap"},
        {"softcap NaN", [=](auto& o) { o.softcap = nan; }, "opts->softcap"},
        {"softcap inf", [=](auto& o) { o.softcap = inf; }, "opts->softcap"},
        {"z_loss -0.1", [](auto& o) { o.z_loss = -0.1f; }, "opts->z_loss"},
        {"z_loss NaN", [=](auto& o) { o.z_loss = nan; }, "opts->z_loss"},
        {"z_loss inf", [=](auto& o) { o.z_loss = inf; }, "opts->z_loss"},
        {"label_smoothing 1.0", [](auto& o) { o.label_smoothing = 1.0f; }, "opts->label_smoothing"},
        {"label_smoothing 1.5", [](auto& o) { o.label_smoothing = 1.5f; }, "opts->label_smoothing"},
        {"label_smoothing -0.1", [](auto& o) { o.label_smoothing = -0.1f; }, "opts->label_smoothing"},
        {"label_smoothing NaN", [=](auto& o) { o.label_smoothing = nan; }, "opts->label_smoothing"},
        {"label_smoothing -inf", [=](auto& o) { o.label_smoothing = -inf; }, "opts->label_smoothing"},
        {"filter_eps NaN", [=](auto& o) { o.filter_eps = nan; }, "opts->filter_eps"},
        {"filter_eps inf", [=](auto& o) { o.filter_eps = inf; }, "opts->filter_eps"},
        {"filter_eps -inf", [=](auto& o) { o.filter_eps = -inf; }, "opts->filter_eps"},
        {"check_targets 2", [](auto& o) { o.check_targets = 2; }, "opts->check_targets"},
        {"check_targets -1", [](auto& o) { o.check_targets = -1; }, "opts->check_targets"},
    };
    for (const BadOption& b : bad) {
        SCOPED_TRACE(b.what);
        reset();
        b.set(opts);
        EXPECT_OPS_FAIL(all_ops(), ENGRAM_ERR_INVALID_ARGUMENT, b.needle);
    }
}

TEST_P(CceAbiTest, OptionsAtTheEdgesOfTheirRange) {
    const std::vector<std::pair<const char*, std::function<void(engram_cce_options&)>>> good = {
        {"reduction NONE", [](auto& o) { o.reduction = ENGRAM_REDUCTION_NONE; }},
        {"reduction SUM", [](auto& o) { o.reduction = ENGRAM_REDUCTION_SUM; }},
        {"softcap tiny", [](auto& o) { o.softcap = 1e-3f; }},
        {"softcap -0", [](auto& o) { o.softcap = -0.0f; }},
        {"label_smoothing just below 1", [](auto& o) { o.label_smoothing = 0.99999f; }},
        {"z_loss large", [](auto& o) { o.z_loss = 1e3f; }},
        {"filter_eps AUTO", [](auto& o) { o.filter_eps = ENGRAM_FILTER_EPS_AUTO; }},
        {"filter_eps -1000", [](auto& o) { o.filter_eps = -1000.0f; }},
        {"filter_eps 10", [](auto& o) { o.filter_eps = 10.0f; }},
        {"check_targets 0", [](auto& o) { o.check_targets = 0; }},
        {"ignore_index INT64_MIN", [](auto& o) { o.ignore_index = std::numeric_limits<int64_t>::min(); }},
    };
    for (const auto& [what, set] : good) {
        SCOPED_TRACE(what);
        reset();
        set(opts);
        for (auto& op : all_ops()) {
            SCOPED_TRACE(op.first);
            EXPECT_OK(op.second());
        }
    }
}

// --- where the buffers live (CUDA) ---------------------------------------------------------

TEST_P(CceAbiTest, HostPointersOnACudaContext) {
    if (backend() != ENGRAM_BACKEND_CUDA) GTEST_SKIP() << "CUDA contexts only";
    std::vector<uint8_t> host_e(data_.e_raw);
    in.e = host_e.data();
    EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_WRONG_BACKEND, "in->e");
    reset();
    std::vector<float> host_loss(kN);
    loss = host_loss.data();
    EXPECT_STATUS(ENGRAM_ERR_WRONG_BACKEND, forward(), "loss");
}

TEST_P(CceAbiTest, UndersizedDeviceBuffers) {
    if (backend() != ENGRAM_BACKEND_CUDA) GTEST_SKIP() << "CUDA contexts only";
    Buffer small = ctx().output(size_t(kN * kD * 4 - 4));
    in.e = small.get();
    EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_INVALID_ARGUMENT, "in->e");
    reset();
    Buffer small_gc = ctx().output(size_t(kV * kD * 4 - 4));
    grads.grad_c = small_gc.get();
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, backward(), "grads->grad_c");
}

TEST_P(CceAbiTest, DevicePointersOnACpuContext) {
    if (backend() != ENGRAM_BACKEND_CPU) GTEST_SKIP() << "CPU contexts only";
    const std::string why = backend_unavailable_reason(ENGRAM_BACKEND_CUDA);
    if (!why.empty()) GTEST_SKIP() << why;
    Context cuda(ENGRAM_BACKEND_CUDA);
    ASSERT_TRUE(cuda.ok()) << cuda.error();
    Buffer dev = cuda.upload(data_.e_raw);
    in.e = dev.get();
    EXPECT_OPS_FAIL(input_ops(), ENGRAM_ERR_WRONG_BACKEND, "in->e");
}

TEST_P(CceAbiTest, ForwardBackwardGradLossMustNotAliasOutputs) {
    // grad_loss is read while loss and lse are written.
    opts.reduction = ENGRAM_REDUCTION_NONE;
    grad_loss = loss;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, forward_backward(), "loss overlaps grad_loss");
    reset();
    opts.reduction = ENGRAM_REDUCTION_NONE;
    grad_loss = lse;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, forward_backward(), "lse overlaps grad_loss");
}

// Every pair of outputs, and every output against every input, is checked by
// byte range on every entry point (outputs are zeroed or written while inputs
// are still being read).
TEST_P(CceAbiTest, ForwardOutputsMustNotOverlap) {
    opts.reduction = ENGRAM_REDUCTION_NONE;
    lse = loss;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, forward(), "loss overlaps lse");
    lse = loss + 3;  // partial overlap
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, forward(), "loss overlaps lse");
    expect_outputs_untouched();
    reset();
    loss = static_cast<float*>(const_cast<void*>(in.e));
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, forward(), "loss overlaps in->e");
    reset();
    lse = static_cast<float*>(const_cast<void*>(in.targets));
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, forward(), "lse overlaps in->targets");
    reset();
    lse = static_cast<float*>(const_cast<void*>(in.bias));
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, forward(), "lse overlaps in->bias");
}

TEST_P(CceAbiTest, ForwardBackwardOutputsMustNotOverlap) {
    lse = ge_.as<float>() + 2;  // lse inside grad_e
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, forward_backward(), "lse", "grads->grad_e");
    expect_outputs_untouched();
    reset();
    loss = gb_.as<float>();
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, forward_backward(), "loss", "grads->grad_bias");
    reset();
    grads.grad_c = lse;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, forward_backward(), "lse", "grads->grad_c");
    reset();
    loss = static_cast<float*>(const_cast<void*>(in.c));
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, forward_backward(), "loss overlaps in->c");
    expect_outputs_untouched();
}

TEST_P(CceAbiTest, BackwardGradientsMustNotOverlapItsInputs) {
    grads.grad_e = const_cast<float*>(lse_in);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, backward(), "grads->grad_e overlaps lse");
    reset();
    grads.grad_bias = const_cast<float*>(grad_loss);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, backward(), "grads->grad_bias overlaps grad_loss");
    reset();
    grads.grad_c = const_cast<void*>(in.targets);
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, backward(), "grads->grad_c overlaps in->targets");
    expect_outputs_untouched();
}

TEST_P(CceAbiTest, ShardForwardOutputsMustNotOverlap) {
    auto shard = [&](float* a, float* b, float* s) {
        return engram_cce_shard_forward(c(), &in, &opts, a, b, s);
    };
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, shard(lse, lse, nullptr), "shard_lse overlaps target_logit");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, shard(lse, loss, loss + 1), "target_logit overlaps logit_sum");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, shard(lse, loss, lse + kN - 1), "shard_lse overlaps logit_sum");
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT,
                  shard(static_cast<float*>(const_cast<void*>(in.e)), loss, nullptr),
                  "shard_lse overlaps shard->e");
    expect_outputs_untouched();
}

TEST_P(CceAbiTest, ShardCombineOutputsMustNotOverlap) {
    opts.reduction = ENGRAM_REDUCTION_NONE;
    lse = loss;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, combine(), "loss overlaps lse");
    reset();
    loss = shard_lse;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, combine(), "loss overlaps shard_lse");
    reset();
    lse = target_logit;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, combine(), "lse overlaps target_logit");
    reset();
    lse = logit_sum;
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, combine(), "lse overlaps logit_sum");
    reset();
    lse = static_cast<float*>(const_cast<void*>(combine_targets));
    EXPECT_STATUS(ENGRAM_ERR_INVALID_ARGUMENT, combine(), "lse overlaps targets");
    expect_outputs_untouched();
}

ENGRAM_INSTANTIATE_BACKENDS(CceAbiTest);

}  // namespace
}  // namespace engram_test
