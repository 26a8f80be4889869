// scan_suite.cpp — see scan_suite.hpp. Inputs: q, k, v ~ N(0, 1) rounded to
// the dtype; log-decays uniform in [g_lo, 0]; initial state ~ N(0, 1) fp32;
// upstream gradients ~ N(0, 1) (d_o rounded to o's dtype).
#include "scan_suite.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <random>
#include <stdexcept>

#include "scan_tolerance.hpp"
#include "suite_memory.hpp"
#include "suite_values.hpp"

namespace engram_suite {

using engram_test::ScanRefProblem;
using engram_test::ScanRefResult;

namespace {

// Forward shapes {b, t, h, hk, k, v, chunk}: T = 1, T not a multiple of the
// chunk, prime chunks, H = 1, K != V, K = 1, 16, 256, V = 256, grouped heads,
// and two long sequences (strong decay, no decay; see options_for).
constexpr int64_t kForward[][7] = {
    {1, 1, 1, 1, 4, 4, 0},      {2, 1, 3, 3, 5, 3, 0},     {1, 65, 1, 1, 16, 16, 0},
    {1, 67, 2, 1, 7, 9, 16},    {2, 30, 4, 2, 16, 8, 7},   {3, 17, 2, 2, 3, 5, 5},
    {1, 64, 1, 1, 1, 1, 64},    {1, 100, 1, 1, 256, 16, 0}, {1, 70, 2, 2, 16, 256, 32},
    {1, 1000, 1, 1, 8, 8, 0},   {1, 1000, 2, 1, 8, 8, 37}, {2, 129, 4, 4, 32, 32, 0},
};
// Decode shapes {b, h, hk, k, v}.
constexpr int64_t kDecode[][5] = {
    {1, 1, 1, 4, 4},  {3, 2, 1, 5, 7},      {2, 16, 16, 16, 16}, {1, 4, 2, 256, 16},
    {1, 1, 1, 16, 256}, {2, 3, 3, 128, 128}, {1, 32, 16, 8, 8},   {5, 1, 1, 1, 1},
};
// Backward shapes {b, t, h, hk, k, v, chunk}, small: the reference is finite
// differences (two recurrences per input entry).
constexpr int64_t kBackward[][7] = {
    {1, 1, 1, 1, 3, 2, 0}, {1, 5, 1, 1, 4, 3, 2},  {2, 7, 2, 1, 3, 4, 3}, {1, 13, 2, 2, 5, 3, 4},
    {1, 9, 1, 1, 2, 6, 64}, {1, 20, 1, 1, 4, 4, 7}, {2, 6, 4, 2, 3, 3, 5}, {1, 11, 1, 1, 1, 1, 3},
};

const engram_dtype kDtypes[] = {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_BF16, ENGRAM_DTYPE_F16};

struct Data {
    ScanRefProblem ref;  // the values the library reads
    engram_dtype dtype = ENGRAM_DTYPE_F32, out_dtype = ENGRAM_DTYPE_F32;
    int32_t chunk_option = 0;
    int64_t chunk = ENGRAM_SCAN_DEFAULT_CHUNK;  // resolved
    float scale_option = 0.0f;
    std::vector<uint8_t> q_raw, k_raw, v_raw;
    std::vector<float> g, s0;
};

int64_t dim(const Case& c, const char* name) {
    const auto it = c.dims.find(name);
    if (it == c.dims.end() || it->second < 1)
        throw std::runtime_error(std::string("dimension ") + name + " missing or < 1");
    return it->second;
}

Data make_data(const Case& c, bool force_s0) {
    Data x;
    ScanRefProblem& p = x.ref;
    p.batch = dim(c, "b");
    p.t = dim(c, "t");
    p.heads = dim(c, "h");
    p.qk_heads = c.dims.count("hk") ? dim(c, "hk") : p.heads;
    p.k_dim = dim(c, "k");
    p.v_dim = dim(c, "v");
    p.gate = int(c.option("gate", 0));
    x.dtype = c.dtype;
    x.out_dtype = c.option("out_f32", 0) != 0 ? ENGRAM_DTYPE_F32 : c.dtype;
    x.chunk_option = int32_t(c.option("chunk", 0));
    x.chunk = x.chunk_option > 0 ? x.chunk_option : ENGRAM_SCAN_DEFAULT_CHUNK;
    x.scale_option = float(c.option("scale", 0));
    p.scale = x.scale_option != 0.0f ? double(x.scale_option)
                                     : double(float(1.0 / std::sqrt(double(p.k_dim))));
    std::mt19937_64 rng(c.seed);
    const size_t nqk = size_t(p.batch * p.t * p.qk_heads * p.k_dim);
    const size_t nv = size_t(p.batch * p.t * p.heads * p.v_dim);
    const std::vector<float> q = normal_values(rng, nqk, x.dtype), k = normal_values(rng, nqk, x.dtype),
                             v = normal_values(rng, nv, x.dtype);
    x.q_raw = encode_as(x.dtype, q);
    x.k_raw = encode_as(x.dtype, k);
    x.v_raw = encode_as(x.dtype, v);
    p.q.assign(q.begin(), q.end());
    p.k.assign(k.begin(), k.end());
    p.v.assign(v.begin(), v.end());
    std::uniform_real_distribution<double> decay(c.option("g_lo", -0.5), 0.0);
    x.g.resize(size_t(p.batch * p.t * p.heads * p.gate_width()));
    for (float& e : x.g) e = float(decay(rng));
    p.g.assign(x.g.begin(), x.g.end());
    const size_t ns = size_t(p.batch * p.heads * p.k_dim * p.v_dim);
    if (c.option("s0", 0) != 0) x.s0 = normal_values(rng, ns, ENGRAM_DTYPE_F32);
    else if (force_s0) x.s0.assign(ns, 0.0f);
    p.s0.assign(x.s0.begin(), x.s0.end());
    return x;
}

void expect_ok(engram_status st, const char* call) {
    if (st != ENGRAM_OK)
        throw std::runtime_error(std::string(call) + " returned status " + std::to_string(int(st)) +
                                 ": " + engram_last_error());
}

struct Inputs {
    SuiteBuffer q, k, v, g, s0;
    engram_scan_inputs in{};
    engram_scan_options opts{};
};

Inputs upload_inputs(engram_context* ctx, const Data& x) {
    Inputs u;
    u.q = upload(ctx, x.q_raw);
    u.k = upload(ctx, x.k_raw);
    u.v = upload(ctx, x.v_raw);
    u.g = upload(ctx, x.g);
    u.s0 = upload(ctx, x.s0);
    engram_scan_inputs_init(&u.in);
    u.in.dtype = x.dtype;
    u.in.gate = x.ref.gate;
    u.in.batch = x.ref.batch;
    u.in.t = x.ref.t;
    u.in.heads = x.ref.heads;
    u.in.qk_heads = x.ref.qk_heads;
    u.in.k_dim = x.ref.k_dim;
    u.in.v_dim = x.ref.v_dim;
    u.in.q = u.q.get();
    u.in.k = u.k.get();
    u.in.v = u.v.get();
    u.in.g = u.g.f32();
    u.in.initial_state = u.s0.f32();
    engram_scan_options_init(&u.opts);
    u.opts.chunk_size = x.chunk_option;
    u.opts.scale = x.scale_option;
    u.opts.output_dtype = x.out_dtype;
    return u;
}

size_t o_count(const ScanRefProblem& p) { return size_t(p.batch * p.t * p.heads * p.v_dim); }
size_t state_count(const ScanRefProblem& p) { return size_t(p.batch * p.heads * p.k_dim * p.v_dim); }

void run_forward(Comparison& cmp, engram_context* ctx, const Case& c) {
    const Data x = make_data(c, false);
    Inputs u = upload_inputs(ctx, x);
    SuiteBuffer o = output(ctx, o_count(x.ref) * engram_dtype_size(x.out_dtype));
    SuiteBuffer fs = output(ctx, state_count(x.ref) * 4);
    expect_ok(engram_scan_linear_forward(ctx, &u.in, &u.opts, o.get(), fs.f32()),
              "engram_scan_linear_forward");
    const std::vector<float> got_o = o.floats(x.out_dtype), got_s = fs.floats();
    const ScanRefResult rec = engram_test::ref_scan_recurrent(x.ref);
    const ScanBounds b = scan_forward_bounds(x.ref, x.chunk, x.out_dtype);
    cmp.check("o", got_o, rec.o, b.o, x.ref.v_dim);
    cmp.check("final_state", got_s, rec.state, b.state, x.ref.v_dim);
    // The quadratic masked form, an independent formula, where affordable.
    if (x.ref.t <= 130) {
        const ScanRefResult quad = engram_test::ref_scan_quadratic(x.ref);
        cmp.check("o(quadratic)", got_o, quad.o, b.o, x.ref.v_dim);
        cmp.check("final_state(quadratic)", got_s, quad.state, b.state, x.ref.v_dim);
    }
}

void run_decode(Comparison& cmp, engram_context* ctx, const Case& c) {
    if (dim(c, "t") != 1) throw std::runtime_error("scan_linear_decode needs t = 1");
    const Data x = make_data(c, false);
    Inputs u = upload_inputs(ctx, x);
    SuiteBuffer o = output(ctx, o_count(x.ref) * engram_dtype_size(x.out_dtype));
    const bool in_place = c.option("in_place", 0) != 0 && !x.s0.empty();
    SuiteBuffer state = in_place ? SuiteBuffer() : output(ctx, state_count(x.ref) * 4);
    float* state_out = in_place ? u.s0.f32() : state.f32();
    expect_ok(engram_scan_linear_decode(ctx, &u.in, &u.opts, o.get(), state_out),
              "engram_scan_linear_decode");
    const ScanRefResult rec = engram_test::ref_scan_recurrent(x.ref);
    const ScanBounds b = scan_forward_bounds(x.ref, x.chunk, x.out_dtype);
    cmp.check("o", o.floats(x.out_dtype), rec.o, b.o, x.ref.v_dim);
    cmp.check("state_out", in_place ? u.s0.floats() : state.floats(), rec.state, b.state, x.ref.v_dim);
}

void run_backward(Comparison& cmp, engram_context* ctx, const Case& c) {
    const Data x = make_data(c, true);  // an initial state (zeros when s0 = 0), to check its gradient
    const ScanRefProblem& p = x.ref;
    Inputs u = upload_inputs(ctx, x);
    std::mt19937_64 rng(c.seed + 17);
    const std::vector<float> d_o = normal_values(rng, o_count(p), x.out_dtype);
    std::vector<float> d_state;
    if (c.option("grad_state", 0) != 0) d_state = normal_values(rng, state_count(p), ENGRAM_DTYPE_F32);
    SuiteBuffer go = upload(ctx, encode_as(x.out_dtype, d_o)), gs = upload(ctx, d_state);
    const engram_dtype gd = c.option("grad_f32", 0) != 0 ? ENGRAM_DTYPE_F32 : x.dtype;
    const size_t gsz = engram_dtype_size(gd), nqk = size_t(p.batch * p.t * p.qk_heads * p.k_dim);
    SuiteBuffer dq = output(ctx, nqk * gsz), dk = output(ctx, nqk * gsz), dv = output(ctx, o_count(p) * gsz);
    SuiteBuffer dg = output(ctx, x.g.size() * 4), ds0 = output(ctx, state_count(p) * 4);
    engram_scan_grads gr;
    engram_scan_grads_init(&gr);
    gr.dtype = gd;
    gr.dq = dq.get();
    gr.dk = dk.get();
    gr.dv = dv.get();
    gr.dg = dg.f32();
    gr.d_initial_state = ds0.f32();
    expect_ok(engram_scan_linear_backward(ctx, &u.in, &u.opts, go.get(), gs.f32(), &gr),
              "engram_scan_linear_backward");
    ScanUpstream up;
    up.d_o.assign(d_o.begin(), d_o.end());
    up.d_state.assign(d_state.begin(), d_state.end());
    auto check = [&](const char* what, const std::vector<float>& got,
                     std::vector<double> ScanRefProblem::*field, bool rounded, int64_t cols) {
        const ScanGradExpect e = scan_gradient(p, up, field, gd, rounded);
        cmp.check(what, got, e.want, e.bound, cols);
    };
    check("dq", dq.floats(gd), &ScanRefProblem::q, true, p.k_dim);
    check("dk", dk.floats(gd), &ScanRefProblem::k, true, p.k_dim);
    check("dv", dv.floats(gd), &ScanRefProblem::v, true, p.v_dim);
    if (p.gate != ENGRAM_SCAN_GATE_NONE) check("dg", dg.floats(), &ScanRefProblem::g, false, 0);
    check("d_initial_state", ds0.floats(), &ScanRefProblem::s0, false, p.v_dim);
}

Dims dims_of(int64_t b, int64_t t, int64_t h, int64_t hk, int64_t k, int64_t v) {
    return {{"b", b}, {"t", t}, {"h", h}, {"hk", hk}, {"k", k}, {"v", v}};
}

// Options of the k-th case of an op: gates, initial states, 16-bit or f32
// outputs and the op's own options vary with k.
Options options_for(const std::string& op, size_t k, int64_t chunk) {
    Options o;
    o["gate"] = double(k % 3);
    if (chunk > 0) o["chunk"] = double(chunk);
    o["s0"] = double(k % 2 == 1);
    o["out_f32"] = double(k % 4 == 2);
    if (k % 5 == 3) o["scale"] = 0.3;
    if (op == "scan_linear_decode") o["in_place"] = double(k % 4 == 1);
    if (op == "scan_linear_backward") {
        o["grad_state"] = double(k % 2 == 0);
        o["grad_f32"] = double(k % 3 == 1);
    }
    return o;
}

}  // namespace

std::string ScanSuite::summary() const {
    return "causal linear attention with a decay gate: chunked forward, decode step, backward";
}

std::vector<OpInfo> ScanSuite::ops() const {
    return {{"scan_linear_forward", "chunked forward: o and the final state"},
            {"scan_linear_decode", "one recurrent step: o and the next state"},
            {"scan_linear_backward", "dq, dk, dv, dg and d_initial_state"}};
}

std::vector<DimInfo> ScanSuite::dims() const {
    return {{"b", "sequences"},     {"t", "tokens per sequence"}, {"h", "value heads"},
            {"hk", "q/k heads (divides h)"}, {"k", "key dim"},    {"v", "value dim"}};
}

std::vector<Case> ScanSuite::verify_cases(const std::string& op, uint64_t seed, int max_per_op) const {
    std::vector<Case> cases;
    auto wanted = [&](const char* name) { return op.empty() || op == family() || op == name; };
    auto add = [&](const char* name, size_t k, size_t op_index, Dims dims, int64_t chunk) {
        if (max_per_op > 0 && int(k) >= max_per_op) return;
        Case c;
        c.op = name;
        c.dims = std::move(dims);
        c.dtype = kDtypes[(k + op_index) % 3];
        c.seed = seed * 1000 + k + 100 * op_index;
        c.options = options_for(name, k, chunk);
        cases.push_back(std::move(c));
    };
    if (wanted("scan_linear_forward")) {
        const size_t count = sizeof kForward / sizeof kForward[0];
        for (size_t k = 0; k < count; ++k) {
            const int64_t* s = kForward[k];
            add("scan_linear_forward", k, 0, dims_of(s[0], s[1], s[2], s[3], s[4], s[5]), s[6]);
        }
        // The two long sequences: strong decay (scalar gate, g in [-5, 0]: the
        // state underflows to exact zeros between tokens far apart) and none.
        for (Case& c : cases)
            if (c.op == "scan_linear_forward" && c.dims.at("t") == 1000) {
                const bool strong = c.dims.at("h") == 1;
                c.options["gate"] = strong ? 1.0 : 0.0;
                if (strong) c.options["g_lo"] = -5.0;
            }
    }
    if (wanted("scan_linear_decode")) {
        const size_t count = sizeof kDecode / sizeof kDecode[0];
        for (size_t k = 0; k < count; ++k) {
            const int64_t* s = kDecode[k];
            add("scan_linear_decode", k, 1, dims_of(s[0], 1, s[1], s[2], s[3], s[4]), 0);
        }
    }
    if (wanted("scan_linear_backward")) {
        const size_t count = sizeof kBackward / sizeof kBackward[0];
        for (size_t k = 0; k < count; ++k) {
            const int64_t* s = kBackward[k];
            add("scan_linear_backward", k, 2, dims_of(s[0], s[1], s[2], s[3], s[4], s[5]), s[6]);
        }
    }
    return cases;
}

std::vector<Dims> ScanSuite::bench_shapes() const {
    return {dims_of(1, 8192, 16, 16, 128, 128), dims_of(1, 1024, 16, 16, 128, 128),
            dims_of(1, 32768, 16, 16, 128, 128)};
}

Dims ScanSuite::reduced(const Dims& bench) const {
    // Several full chunks of the default size plus a remainder, more heads
    // than cores, the benchmark's own K and V.
    const int64_t h = std::min<int64_t>(bench.at("h"), 3);
    const int64_t hk = bench.count("hk") && bench.at("hk") < bench.at("h") ? 1 : h;
    return dims_of(1, std::min<int64_t>(bench.at("t"), 300), h, hk, bench.at("k"), bench.at("v"));
}

Outcome ScanSuite::run(engram_context* ctx, const Case& c) const {
    Comparison cmp;
    try {
        if (c.op == "scan_linear_forward") run_forward(cmp, ctx, c);
        else if (c.op == "scan_linear_decode") run_decode(cmp, ctx, c);
        else if (c.op == "scan_linear_backward") run_backward(cmp, ctx, c);
        else throw std::runtime_error("unknown op " + c.op);
    } catch (const std::exception& e) {
        cmp.fail(e.what());
    }
    return cmp.outcome();
}

}  // namespace engram_suite
