// scan_mom_abi_test.cpp — bad input to every Mixture-of-Memories entry point:
// the documented status, a message naming the argument (and value), and no
// output written. Also the registry and struct layout entries, the *_init
// defaults, and the CUDA refusal.
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "scan_mom_harness.hpp"

namespace engram_test {
namespace {

constexpr int64_t kB = 2, kT = 5, kM = 4, kK = 2, kD = 3, kN = kB * kT;

class ScanMomAbiTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(ctx_.ok()) << ctx_.error();
        spec_ = MomSpec{kB, kT, kM, kK, 0.0f};
        const std::vector<float> z = mom_logits(spec_);
        rt_ = run_mom_route(ctx_, spec_, z);
        logits_ = ctx_.upload(z);
        idx_ = ctx_.upload(rt_.indices);
        slots_ = ctx_.upload(rt_.slots);
        gi_ = ctx_.upload(rt_.gather_index);
        w_ = ctx_.upload(rt_.weights);
        x_ = ctx_.upload(std::vector<float>(size_t(kN * kD), 1.0f));
        packed_in_ = ctx_.upload(std::vector<float>(size_t(kN * kK * kD), 1.0f));
        // Outputs: every entry point writes only into these.
        o_idx_ = ctx_.output(size_t(kN * kK) * 4);
        o_w_ = ctx_.output(size_t(kN * kK) * 4);
        o_sl_ = ctx_.output(size_t(kN * kK) * 4);
        o_off_ = ctx_.output(size_t(kB * kM + 1) * 4);
        o_gi_ = ctx_.output(size_t(kN * kK) * 4);
        o_rows_ = ctx_.output(size_t(kN * kK * kD) * 4);
        o_tok_ = ctx_.output(size_t(kN * kD) * 4);
        o_dz_ = ctx_.output(size_t(kN * kM) * 4);
        reset();
    }
    void reset() {
        routing = mom_routing(spec_, logits_);
        engram_scan_mom_route_out_init(&out);
        out.indices = o_idx_.as<int32_t>();
        out.weights = o_w_.as<float>();
        out.slots = o_sl_.as<int32_t>();
        out.offsets = o_off_.as<int32_t>();
        out.gather_index = o_gi_.as<int32_t>();
        rows = mom_rows(ENGRAM_DTYPE_F32, kN, kK, kD);
    }
    std::vector<Buffer*> outputs() {
        return {&o_idx_, &o_w_, &o_sl_, &o_off_, &o_gi_, &o_rows_, &o_tok_, &o_dz_};
    }
    void expect_rejected(const char* what, const std::function<engram_status()>& call,
                         engram_status status, std::vector<const char*> needles) {
        SCOPED_TRACE(what);
        std::vector<std::vector<uint8_t>> before;
        for (Buffer* b : outputs()) {
            b->fill(0xA5);
            before.push_back(bytes(*b));
        }
        const engram_status st = call();
        const std::string msg = engram_last_error();
        EXPECT_EQ(status_text(status), status_text(st)) << msg;
        for (const char* n : needles)
            EXPECT_NE(std::string::npos, msg.find(n)) << "message \"" << msg << "\" lacks \"" << n << "\"";
        for (size_t i = 0; i < before.size(); ++i) EXPECT_EQ(before[i], bytes(*outputs()[i])) << "output " << i << " written";
        reset();
    }
    static std::vector<uint8_t> bytes(const Buffer& b) {
        std::vector<uint8_t> r(b.bytes());
        b.download(r.data(), r.size());
        return r;
    }
    engram_status route() { return engram_scan_mom_route(ctx_.get(), &routing, &out); }

    Context ctx_{ENGRAM_BACKEND_CPU};
    MomSpec spec_;
    MomRouteResult rt_;
    Buffer logits_, idx_, slots_, gi_, w_, x_, packed_in_;
    Buffer o_idx_, o_w_, o_sl_, o_off_, o_gi_, o_rows_, o_tok_, o_dz_;
    engram_scan_mom_routing routing{};
    engram_scan_mom_route_out out{};
    engram_scan_mom_rows rows{};
};

constexpr auto INV = ENGRAM_ERR_INVALID_ARGUMENT;

TEST_F(ScanMomAbiTest, RouteRejectsBadInput) {
    expect_rejected("ctx", [&] { return engram_scan_mom_route(nullptr, &routing, &out); }, INV, {"ctx"});
    expect_rejected("routing NULL", [&] { return engram_scan_mom_route(ctx_.get(), nullptr, &out); }, INV, {"routing"});
    expect_rejected("out NULL", [&] { return engram_scan_mom_route(ctx_.get(), &routing, nullptr); }, INV, {"out"});
    expect_rejected("struct_size", [&] { routing.struct_size = 8; return route(); }, INV, {"routing->struct_size"});
    expect_rejected("out struct_size", [&] { out.struct_size = 0; return route(); }, INV, {"out->struct_size"});
    expect_rejected("dtype", [&] { routing.dtype = ENGRAM_DTYPE_I32; return route(); }, ENGRAM_ERR_UNSUPPORTED, {"routing->dtype"});
    expect_rejected("top_k > M", [&] { routing.top_k = kM + 1; return route(); }, INV, {"routing->top_k = 5", "routing->memories = 4"});
    expect_rejected("top_k 0", [&] { routing.top_k = 0; return route(); }, INV, {"routing->top_k"});
    expect_rejected("memories", [&] { routing.memories = ENGRAM_SCAN_MOM_MAX_MEMORIES + 1; return route(); }, INV, {"routing->memories"});
    expect_rejected("batch", [&] { routing.batch = -1; return route(); }, INV, {"routing->batch"});
    expect_rejected("t", [&] { routing.t = int64_t(1) << 31; return route(); }, INV, {"routing->t"});
    expect_rejected("int32 count", [&] { routing.batch = 1 << 20; routing.t = 1 << 20; return route(); }, INV, {"B * T * top_k"});
    for (float cf : {-1.0f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()})
        expect_rejected("capacity", [&] { routing.capacity_factor = cf; return route(); }, INV, {"routing->capacity_factor"});
    expect_rejected("logits NULL", [&] { routing.logits = nullptr; return route(); }, INV, {"routing->logits"});
    expect_rejected("logits misaligned", [&] { routing.logits = logits_.as<char>() + 2; return route(); }, INV, {"routing->logits"});
    expect_rejected("indices NULL", [&] { out.indices = nullptr; return route(); }, INV, {"out->indices"});
    expect_rejected("weights NULL", [&] { out.weights = nullptr; return route(); }, INV, {"out->weights"});
    expect_rejected("offsets misaligned", [&] { out.offsets = reinterpret_cast<int32_t*>(o_off_.as<char>() + 1); return route(); }, INV, {"out->offsets"});
    expect_rejected("slots over indices", [&] { out.slots = out.indices; return route(); }, INV, {"overlaps"});
    expect_rejected("output over logits", [&] { out.gather_index = const_cast<int32_t*>(logits_.as<int32_t>()); return route(); }, INV, {"out->gather_index", "routing->logits"});
}

TEST_F(ScanMomAbiTest, RowOpsRejectBadInput) {
    auto gather = [&](const int32_t* gi) {
        return engram_scan_mom_gather(ctx_.get(), &rows, x_.get(), gi, o_rows_.get());
    };
    expect_rejected("rows NULL", [&] { return engram_scan_mom_gather(ctx_.get(), nullptr, x_.get(), gi_.as<int32_t>(), o_rows_.get()); }, INV, {"rows"});
    expect_rejected("rows struct", [&] { rows.struct_size = 3; return gather(gi_.as<int32_t>()); }, INV, {"rows->struct_size"});
    expect_rejected("rows dtype", [&] { rows.dtype = 7; return gather(gi_.as<int32_t>()); }, ENGRAM_ERR_UNSUPPORTED, {"rows->dtype"});
    expect_rejected("rows width", [&] { rows.width = 0; return gather(gi_.as<int32_t>()); }, INV, {"rows->width"});
    expect_rejected("x NULL", [&] { return engram_scan_mom_gather(ctx_.get(), &rows, nullptr, gi_.as<int32_t>(), o_rows_.get()); }, INV, {"x"});
    expect_rejected("packed over x", [&] { return engram_scan_mom_gather(ctx_.get(), &rows, o_rows_.get(), gi_.as<int32_t>(), o_rows_.get()); }, INV, {"packed", "x"});
    std::vector<int32_t> bad = rt_.gather_index;
    bad[3] = int32_t(kN);
    Buffer badb = ctx_.upload(bad);
    expect_rejected("gather_index out of range", [&] { return gather(badb.as<int32_t>()); }, INV, {"gather_index[3] = 10", "[-1, 10)"});

    auto combine = [&](const int32_t* sl, const float* w) {
        return engram_scan_mom_combine(ctx_.get(), &rows, packed_in_.get(), sl, w, nullptr, o_tok_.get());
    };
    std::vector<int32_t> bad_sl = rt_.slots;
    bad_sl[5] = -2;
    Buffer bsl = ctx_.upload(bad_sl);
    expect_rejected("slots < -1", [&] { return combine(bsl.as<int32_t>(), w_.as<float>()); }, INV, {"slots[5] = -2"});
    expect_rejected("weights NULL", [&] { return combine(slots_.as<int32_t>(), nullptr); }, INV, {"weights"});
    expect_rejected("y over mem_out", [&] { return engram_scan_mom_combine(ctx_.get(), &rows, o_rows_.get(), slots_.as<int32_t>(), w_.as<float>(), nullptr, o_rows_.get()); }, INV, {"overlaps"});
    expect_rejected("combine_backward nothing", [&] { return engram_scan_mom_combine_backward(ctx_.get(), &rows, x_.get(), packed_in_.get(), slots_.as<int32_t>(), w_.as<float>(), nullptr, nullptr); }, INV, {"d_mem_out", "d_weights"});
    std::vector<int32_t> dup = rt_.slots;
    int32_t first = -1;
    for (int32_t& s : dup)
        if (s >= 0) { if (first < 0) first = s; else { s = first; break; } }
    Buffer dupb = ctx_.upload(dup);
    expect_rejected("repeated slot", [&] { return engram_scan_mom_combine_backward(ctx_.get(), &rows, x_.get(), packed_in_.get(), dupb.as<int32_t>(), w_.as<float>(), o_rows_.get(), o_w_.as<float>()); }, INV, {"repeats"});
    expect_rejected("gather_backward slots", [&] { return engram_scan_mom_gather_backward(ctx_.get(), &rows, packed_in_.get(), bsl.as<int32_t>(), o_tok_.get()); }, INV, {"slots[5] = -2"});
    expect_rejected("gather_backward d_x NULL", [&] { return engram_scan_mom_gather_backward(ctx_.get(), &rows, packed_in_.get(), slots_.as<int32_t>(), nullptr); }, INV, {"d_x"});
}

TEST_F(ScanMomAbiTest, RouteBackwardRejectsBadInput) {
    auto call = [&](const int32_t* idx) {
        return engram_scan_mom_route_backward(ctx_.get(), &routing, idx, slots_.as<int32_t>(), w_.as<float>(), o_dz_.as<float>());
    };
    std::vector<int32_t> bad = rt_.indices;
    bad[4] = kM;
    Buffer b1 = ctx_.upload(bad);
    expect_rejected("index >= M", [&] { return call(b1.as<int32_t>()); }, INV, {"indices[4] = 4"});
    bad = rt_.indices;
    bad[3] = bad[2];
    Buffer b2 = ctx_.upload(bad);
    expect_rejected("repeated memory", [&] { return call(b2.as<int32_t>()); }, INV, {"indices[3]", "repeats"});
    expect_rejected("top_k > M", [&] { routing.top_k = kM + 3; return call(idx_.as<int32_t>()); }, INV, {"routing->top_k"});
    expect_rejected("d_logits NULL", [&] { return engram_scan_mom_route_backward(ctx_.get(), &routing, idx_.as<int32_t>(), slots_.as<int32_t>(), w_.as<float>(), nullptr); }, INV, {"d_logits"});
    expect_rejected("d_logits over logits", [&] { return engram_scan_mom_route_backward(ctx_.get(), &routing, idx_.as<int32_t>(), slots_.as<int32_t>(), w_.as<float>(), const_cast<float*>(logits_.as<float>())); }, INV, {"d_logits", "routing->logits"});
}

TEST_F(ScanMomAbiTest, DecodeRejectsBadInput) {
    const int64_t H = 2, K = 3, V = 2;
    Buffer lg = ctx_.upload(std::vector<float>(size_t(kB * kM), 0.5f));
    Buffer q = ctx_.upload(std::vector<float>(size_t(kB * H * K), 0.1f));
    Buffer k = ctx_.upload(std::vector<float>(size_t(kB * kM * H * K), 0.1f));
    Buffer v = ctx_.upload(std::vector<float>(size_t(kB * kM * H * V), 0.1f));
    Buffer st = ctx_.output(size_t(kB * kM * H * K * V) * 4);
    engram_scan_mom_decode_inputs in;
    auto init = [&] {
        engram_scan_mom_decode_inputs_init(&in);
        in.batch = kB; in.memories = kM; in.top_k = kK; in.heads = H; in.k_dim = K; in.v_dim = V;
        in.logits = lg.get(); in.q = q.get(); in.k = k.get(); in.v = v.get();
    };
    auto call = [&] { return engram_scan_mom_decode(ctx_.get(), &in, nullptr, st.as<float>(), o_tok_.get(), nullptr, nullptr); };
    init();
    st.fill(0);
    ASSERT_OK(call());
    struct Bad { const char* what; std::function<void()> set; engram_status st; const char* needle; };
    const Bad cases[] = {
        {"top_k > M", [&] { in.top_k = kM + 1; }, INV, "in->top_k = 5"},
        {"shared 2", [&] { in.shared_memory = 2; }, INV, "in->shared_memory"},
        {"gate", [&] { in.gate = 9; }, INV, "in->gate"},
        {"g without gate", [&] { in.g = q.as<float>(); }, INV, "in->g"},
        {"g missing", [&] { in.gate = 1; }, INV, "in->g"},
        {"K", [&] { in.k_dim = 300; }, INV, "in->k_dim"},
        {"qk_heads", [&] { in.qk_heads = 3; }, INV, "in->qk_heads"},
        {"logits NULL", [&] { in.logits = nullptr; }, INV, "in->logits"},
        {"dtype", [&] { in.dtype = 4; }, ENGRAM_ERR_UNSUPPORTED, "in->dtype"},
        {"struct", [&] { in.struct_size = 1; }, INV, "in->struct_size"},
    };
    for (const Bad& b : cases) {
        init();
        b.set();
        expect_rejected(b.what, call, b.st, {b.needle});
    }
    init();
    expect_rejected("states NULL", [&] { return engram_scan_mom_decode(ctx_.get(), &in, nullptr, nullptr, o_tok_.get(), nullptr, nullptr); }, INV, {"states"});
    expect_rejected("o over states", [&] { return engram_scan_mom_decode(ctx_.get(), &in, nullptr, o_rows_.as<float>(), o_rows_.get(), nullptr, nullptr); }, INV, {"overlaps"});
    engram_scan_options opts;
    engram_scan_options_init(&opts);
    opts.scale = std::numeric_limits<float>::quiet_NaN();
    expect_rejected("scale", [&] { return engram_scan_mom_decode(ctx_.get(), &in, &opts, st.as<float>(), o_tok_.get(), nullptr, nullptr); }, INV, {"opts->scale"});
}

TEST(ScanMomAbi, RegistryLayoutInitAndCuda) {
    for (engram_op op : {ENGRAM_OP_SCAN_MOM_ROUTE, ENGRAM_OP_SCAN_MOM_GATHER, ENGRAM_OP_SCAN_MOM_COMBINE,
                         ENGRAM_OP_SCAN_MOM_ROUTE_BACKWARD, ENGRAM_OP_SCAN_MOM_GATHER_BACKWARD,
                         ENGRAM_OP_SCAN_MOM_COMBINE_BACKWARD, ENGRAM_OP_SCAN_MOM_DECODE}) {
        EXPECT_OK(engram_op_supported(ENGRAM_BACKEND_CPU, op, ENGRAM_DTYPE_BF16));
        EXPECT_EQ(ENGRAM_ERR_UNSUPPORTED, engram_op_supported(ENGRAM_BACKEND_CUDA, op, ENGRAM_DTYPE_F32));
    }
    EXPECT_STREQ("scan_mom_route", engram_op_name(ENGRAM_OP_SCAN_MOM_ROUTE));
    EXPECT_STREQ("scan_mom_decode", engram_op_name(ENGRAM_OP_SCAN_MOM_DECODE));
    EXPECT_STREQ("scan", engram_op_family(ENGRAM_OP_SCAN_MOM_COMBINE_BACKWARD));
    uint64_t value = 0;
    ASSERT_OK(engram_struct_layout("engram_scan_mom_routing", nullptr, &value));
    EXPECT_EQ(sizeof(engram_scan_mom_routing), value);
    ASSERT_OK(engram_struct_layout("engram_scan_mom_routing", "capacity_factor", &value));
    EXPECT_EQ(offsetof(engram_scan_mom_routing, capacity_factor), value);
    ASSERT_OK(engram_struct_layout("engram_scan_mom_route_out", "gather_index", &value));
    EXPECT_EQ(offsetof(engram_scan_mom_route_out, gather_index), value);
    ASSERT_OK(engram_struct_layout("engram_scan_mom_rows", "width", &value));
    EXPECT_EQ(offsetof(engram_scan_mom_rows, width), value);
    ASSERT_OK(engram_struct_layout("engram_scan_mom_decode_inputs", "g", &value));
    EXPECT_EQ(offsetof(engram_scan_mom_decode_inputs, g), value);
    engram_scan_mom_routing r;
    std::memset(&r, 0xAB, sizeof r);
    ASSERT_OK(engram_scan_mom_routing_init(&r));
    EXPECT_EQ(0.0f, r.capacity_factor);
    EXPECT_EQ(nullptr, r.logits);
    EXPECT_EQ(ENGRAM_ERR_INVALID_ARGUMENT, engram_scan_mom_rows_init(nullptr));
    EXPECT_EQ(ENGRAM_ERR_INVALID_ARGUMENT, engram_scan_mom_route_out_init(nullptr));
    EXPECT_EQ(ENGRAM_ERR_INVALID_ARGUMENT, engram_scan_mom_decode_inputs_init(nullptr));
}

}  // namespace
}  // namespace engram_test
