// cce_suite.cpp — see cce_suite.hpp. Inputs: e ~ N(0, 1), c ~ N(0, 4 / d) (so
// logits have a standard deviation of about 2), targets uniform over the
// vocabulary, bias ~ N(0, 1); every value rounded to the dtype first, so the
// float64 reference sees exactly what the library reads.
#include "cce_suite.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <numeric>
#include <random>

#include "cce_tolerance.hpp"
#include "shared/half.h"
#include "suite_memory.hpp"

namespace engram_suite {

using engram_test::RefProblem;

namespace {

// Awkward shapes {n, v, d}: 1s, primes, sizes just past powers of two and
// tile widths, more tokens than vocabulary and the reverse.
constexpr int64_t kAwkward[][3] = {
    {1, 1, 1},    {1, 7, 3},     {3, 1, 5},      {2, 2, 1},    {5, 33, 17},   {17, 257, 31},
    {7, 1000, 65}, {33, 129, 130}, {64, 4097, 17}, {13, 515, 257}, {100, 63, 9}, {129, 31, 16},
};

const char* const kOps[] = {"cce_forward", "cce_backward", "cce_forward_backward",
                            "cce_shard_forward", "cce_shard_combine"};

struct Data {
    RefProblem ref;
    engram_dtype dtype = ENGRAM_DTYPE_F32, target_dtype = ENGRAM_DTYPE_I64;
    std::vector<uint8_t> e_raw, c_raw, bias_raw, targets_raw;
    std::vector<float> grad_loss;  // empty: NULL
};

float round_to(engram_dtype dt, float x) {
    if (dt == ENGRAM_DTYPE_BF16) return engram::bf16_to_f32(engram::f32_to_bf16(x));
    if (dt == ENGRAM_DTYPE_F16) return engram::f16_to_f32(engram::f32_to_f16(x));
    return x;
}

// Rounds values to the dtype in place and returns their bytes.
std::vector<uint8_t> encode(engram_dtype dt, std::vector<double>& values) {
    const size_t size = engram_dtype_size(dt);
    std::vector<uint8_t> raw(values.size() * size);
    for (size_t i = 0; i < values.size(); ++i) {
        const float x = round_to(dt, float(values[i]));
        values[i] = x;
        if (dt == ENGRAM_DTYPE_F32) {
            std::copy_n(reinterpret_cast<const uint8_t*>(&x), 4, &raw[4 * i]);
        } else {
            const uint16_t h = dt == ENGRAM_DTYPE_BF16 ? engram::f32_to_bf16(x) : engram::f32_to_f16(x);
            std::copy_n(reinterpret_cast<const uint8_t*>(&h), 2, &raw[2 * i]);
        }
    }
    return raw;
}

Data make_data(const Case& c) {
    Data x;
    RefProblem& p = x.ref;
    p.n = c.dims.at("n");
    p.v = c.dims.at("v");
    p.d = c.dims.at("d");
    x.dtype = c.dtype;
    x.target_dtype = c.option("target_i32", 0) != 0 ? ENGRAM_DTYPE_I32 : ENGRAM_DTYPE_I64;
    p.opts.reduction = int(c.option("reduction", ENGRAM_REDUCTION_MEAN));
    p.opts.softcap = float(c.option("softcap", 0));
    p.opts.smoothing = float(c.option("smoothing", 0));
    p.opts.z_loss = float(c.option("z_loss", 0));
    std::mt19937_64 rng(c.seed);
    std::normal_distribution<double> normal(0.0, 1.0);
    const auto n = size_t(p.n), v = size_t(p.v), d = size_t(p.d);
    const double c_std = 2.0 / std::sqrt(double(p.d));
    p.e.resize(n * d);
    for (double& y : p.e) y = normal(rng);
    p.c.resize(v * d);
    for (double& y : p.c) y = normal(rng) * c_std;
    if (c.option("bias", 0) != 0) {
        p.bias.resize(v);
        for (double& y : p.bias) y = normal(rng);
    }
    p.targets.resize(n);
    for (int64_t& t : p.targets) t = int64_t(rng() % v);
    // Exactly round(ignore_frac * n) ignored tokens, at random positions.
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), size_t(0));
    std::shuffle(order.begin(), order.end(), rng);
    const auto ignored = std::min(n, size_t(std::llround(c.option("ignore_frac", 0) * double(n))));
    for (size_t k = 0; k < ignored; ++k) p.targets[order[k]] = p.opts.ignore_index;
    if (c.option("grad_loss", 0) != 0) {
        x.grad_loss.resize(p.opts.reduction == ENGRAM_REDUCTION_NONE ? n : 1);
        for (float& g : x.grad_loss) g = float(0.5 + std::fabs(normal(rng)));
    }
    x.e_raw = encode(x.dtype, p.e);
    x.c_raw = encode(x.dtype, p.c);
    x.bias_raw = encode(x.dtype, p.bias);
    x.targets_raw.resize(n * engram_dtype_size(x.target_dtype));
    for (size_t i = 0; i < n; ++i) {
        if (x.target_dtype == ENGRAM_DTYPE_I32) {
            const int32_t t = int32_t(p.targets[i]);
            std::copy_n(reinterpret_cast<const uint8_t*>(&t), 4, &x.targets_raw[4 * i]);
        } else {
            std::copy_n(reinterpret_cast<const uint8_t*>(&p.targets[i]), 8, &x.targets_raw[8 * i]);
        }
    }
    return x;
}

engram_cce_options options_of(const Case& c, const Data& x) {
    engram_cce_options o;
    engram_cce_options_init(&o);
    o.reduction = x.ref.opts.reduction;
    o.ignore_index = x.ref.opts.ignore_index;
    o.softcap = float(x.ref.opts.softcap);
    o.label_smoothing = float(x.ref.opts.smoothing);
    o.z_loss = float(x.ref.opts.z_loss);
    o.filter_eps = float(c.option("filter_eps", 0));
    return o;
}

// Inputs on the backend, columns [begin, end) of the classifier (a shard when
// not the whole vocabulary).
struct Inputs {
    SuiteBuffer e, c, bias, targets;
    engram_cce_inputs in{};
};

Inputs upload_inputs(engram_context* ctx, const Data& x, int64_t begin, int64_t end) {
    const size_t es = engram_dtype_size(x.dtype), d = size_t(x.ref.d);
    Inputs u;
    u.e = upload(ctx, x.e_raw);
    u.c = upload(ctx, x.c_raw.data() + size_t(begin) * d * es, size_t(end - begin) * d * es);
    if (!x.ref.bias.empty())
        u.bias = upload(ctx, x.bias_raw.data() + size_t(begin) * es, size_t(end - begin) * es);
    u.targets = upload(ctx, x.targets_raw);
    engram_cce_inputs_init(&u.in);
    u.in.dtype = x.dtype;
    u.in.target_dtype = x.target_dtype;
    u.in.n = x.ref.n;
    u.in.d = x.ref.d;
    u.in.v = end - begin;
    const bool shard = begin != 0 || end != x.ref.v;
    u.in.vocab_start = begin;
    u.in.vocab_total = shard ? x.ref.v : 0;
    u.in.e = u.e.get();
    u.in.c = u.c.get();
    u.in.bias = u.bias.get();
    u.in.targets = u.targets.get();
    return u;
}

size_t loss_count(const Data& x) {
    return x.ref.opts.reduction == ENGRAM_REDUCTION_NONE ? size_t(x.ref.n) : 1;
}

void expect_ok(engram_status st, const char* call) {
    if (st != ENGRAM_OK)
        throw std::runtime_error(std::string(call) + " returned status " + std::to_string(int(st)) +
                                 ": " + engram_last_error());
}

engram_backend backend_of(engram_context* ctx) {
    engram_backend b = ENGRAM_BACKEND_CPU;
    engram_context_get_backend(ctx, &b);
    return b;
}

struct Grads {
    SuiteBuffer e, c, bias;
    engram_cce_grads g{};
    engram_dtype dtype = ENGRAM_DTYPE_F32;
};

Grads grad_outputs(engram_context* ctx, const Case& cs, const Data& x, int64_t v) {
    Grads g;
    g.dtype = cs.option("grad_input_dtype", 0) != 0 ? x.dtype : ENGRAM_DTYPE_F32;
    const size_t gs = engram_dtype_size(g.dtype), n = size_t(x.ref.n), d = size_t(x.ref.d);
    g.e = output(ctx, n * d * gs);
    g.c = output(ctx, size_t(v) * d * gs);
    if (!x.ref.bias.empty()) g.bias = output(ctx, size_t(v) * gs);
    engram_cce_grads_init(&g.g);
    g.g.dtype = g.dtype;
    g.g.grad_e = g.e.get();
    g.g.grad_c = g.c.get();
    g.g.grad_bias = g.bias.get();
    return g;
}

void check_grads(Comparison& cmp, engram_context* ctx, const Case& cs, const Data& x,
                 const ExpectedForward& fwd, const Grads& g) {
    const engram_cce_options o = options_of(cs, x);
    const double eps = o.filter_eps < 0 ? auto_filter_eps(x.dtype) : double(o.filter_eps);
    const ExpectedGrads eg =
        expect_grads(x.ref, fwd, backend_of(ctx), x.dtype, g.dtype, x.grad_loss, eps);
    cmp.check("grad_e", g.e.floats(g.dtype), eg.grad_e, eg.grad_e_bound, x.ref.d);
    cmp.check("grad_c", g.c.floats(g.dtype), eg.grad_c, eg.grad_c_bound, x.ref.d);
    if (!x.ref.bias.empty()) cmp.check("grad_bias", g.bias.floats(g.dtype), eg.grad_bias, eg.grad_bias_bound);
}

void run_forward(Comparison& cmp, engram_context* ctx, const Case& cs, const Data& x) {
    const engram_cce_options o = options_of(cs, x);
    Inputs u = upload_inputs(ctx, x, 0, x.ref.v);
    SuiteBuffer loss = output(ctx, loss_count(x) * 4), lse = output(ctx, size_t(x.ref.n) * 4);
    expect_ok(engram_cce_forward(ctx, &u.in, &o, loss.f32(), lse.f32()), "engram_cce_forward");
    const ExpectedForward f = expect_forward(x.ref);
    cmp.check("loss", loss.floats(), f.loss, f.loss_bound);
    cmp.check("lse", lse.floats(), f.lse, f.lse_bound);
}

// Backward with the lse the library's forward computed (as training does).
void run_backward(Comparison& cmp, engram_context* ctx, const Case& cs, const Data& x) {
    const engram_cce_options o = options_of(cs, x);
    Inputs u = upload_inputs(ctx, x, 0, x.ref.v);
    SuiteBuffer loss = output(ctx, loss_count(x) * 4), lse = output(ctx, size_t(x.ref.n) * 4);
    expect_ok(engram_cce_forward(ctx, &u.in, &o, loss.f32(), lse.f32()), "engram_cce_forward");
    SuiteBuffer gl = upload(ctx, x.grad_loss);
    Grads g = grad_outputs(ctx, cs, x, x.ref.v);
    expect_ok(engram_cce_backward(ctx, &u.in, &o, lse.f32(), gl.f32(), &g.g), "engram_cce_backward");
    check_grads(cmp, ctx, cs, x, expect_forward(x.ref), g);
}

void run_forward_backward(Comparison& cmp, engram_context* ctx, const Case& cs, const Data& x) {
    const engram_cce_options o = options_of(cs, x);
    Inputs u = upload_inputs(ctx, x, 0, x.ref.v);
    SuiteBuffer loss = output(ctx, loss_count(x) * 4), lse = output(ctx, size_t(x.ref.n) * 4);
    SuiteBuffer gl = upload(ctx, x.grad_loss);
    Grads g = grad_outputs(ctx, cs, x, x.ref.v);
    expect_ok(engram_cce_forward_backward(ctx, &u.in, &o, gl.f32(), loss.f32(), lse.f32(), &g.g),
              "engram_cce_forward_backward");
    const ExpectedForward f = expect_forward(x.ref);
    cmp.check("loss", loss.floats(), f.loss, f.loss_bound);
    cmp.check("lse", lse.floats(), f.lse, f.lse_bound);
    check_grads(cmp, ctx, cs, x, f, g);
}

// Shard k of `shards` equal column ranges (the last takes the remainder).
std::pair<int64_t, int64_t> shard_range(int64_t v, int64_t shards, int64_t k) {
    const int64_t w = v / shards;
    return {k * w, k + 1 == shards ? v : (k + 1) * w};
}

int64_t shard_count(const Case& cs, int64_t v) {
    return std::max<int64_t>(1, std::min<int64_t>(v, int64_t(cs.option("shards", 3))));
}

void run_shard_forward(Comparison& cmp, engram_context* ctx, const Case& cs, const Data& x) {
    const engram_cce_options o = options_of(cs, x);
    const ExpectedForward f = expect_forward(x.ref);
    const int64_t shards = shard_count(cs, x.ref.v);
    const size_t n = size_t(x.ref.n);
    for (int64_t k = 0; k < shards; ++k) {
        const auto [begin, end] = shard_range(x.ref.v, shards, k);
        Inputs u = upload_inputs(ctx, x, begin, end);
        if (shards == 1) u.in.vocab_total = x.ref.v;  // still called as a shard
        SuiteBuffer sl = output(ctx, n * 4), tl = output(ctx, n * 4), ls = output(ctx, n * 4);
        expect_ok(engram_cce_shard_forward(ctx, &u.in, &o, sl.f32(), tl.f32(), ls.f32()),
                  "engram_cce_shard_forward");
        const ExpectedShard s = expect_shard(x.ref, f, begin, end);
        const std::string at = "[" + std::to_string(begin) + ", " + std::to_string(end) + ")";
        cmp.check(("shard_lse" + at).c_str(), sl.floats(), s.ref.shard_lse, s.shard_lse_bound);
        cmp.check(("target_logit" + at).c_str(), tl.floats(), s.ref.target_logit, s.target_logit_bound);
        cmp.check(("logit_sum" + at).c_str(), ls.floats(), s.ref.logit_sum, s.logit_sum_bound);
    }
}

// The combine step on the reference's shard statistics rounded to fp32 (as
// the shards would send them), against the whole-vocabulary reference.
void run_shard_combine(Comparison& cmp, engram_context* ctx, const Case& cs, const Data& x) {
    const engram_cce_options o = options_of(cs, x);
    const ExpectedForward f = expect_forward(x.ref);
    const int64_t shards = shard_count(cs, x.ref.v);
    const size_t n = size_t(x.ref.n);
    std::vector<float> shard_lse(size_t(shards) * n), target_logit(n, 0.0f), logit_sum(n, 0.0f);
    std::vector<double> tl(n, 0.0), ls(n, 0.0);
    for (int64_t k = 0; k < shards; ++k) {
        const auto [begin, end] = shard_range(x.ref.v, shards, k);
        const engram_test::RefShard s = engram_test::ref_cce_shard_forward(x.ref, begin, end);
        for (size_t i = 0; i < n; ++i) {
            shard_lse[size_t(k) * n + i] = float(s.shard_lse[i]);
            tl[i] += s.target_logit[i];
            ls[i] += s.logit_sum[i];
        }
    }
    for (size_t i = 0; i < n; ++i) {
        target_logit[i] = float(tl[i]);
        logit_sum[i] = float(ls[i]);
    }
    SuiteBuffer sl_b = upload(ctx, shard_lse), tl_b = upload(ctx, target_logit),
                ls_b = upload(ctx, logit_sum), t_b = upload(ctx, x.targets_raw);
    SuiteBuffer loss = output(ctx, loss_count(x) * 4), lse = output(ctx, n * 4);
    expect_ok(engram_cce_shard_combine(ctx, x.ref.n, shards, x.ref.v, sl_b.f32(), tl_b.f32(),
                                       ls_b.f32(), t_b.get(), x.target_dtype, &o, loss.f32(),
                                       lse.f32()),
              "engram_cce_shard_combine");
    const ExpectedCombine e = expect_combine(x.ref, f, shards);
    cmp.check("loss", loss.floats(), e.loss, e.loss_bound);
    cmp.check("lse", lse.floats(), e.lse, e.lse_bound);
}

// The options of the k-th awkward case: every option appears on several
// shapes and dtypes, in combinations that change with k.
Options options_for(const std::string& op, size_t k) {
    Options o;
    o["bias"] = double(k % 2);
    o["reduction"] = double(k % 3);
    if (k % 4 == 1) o["softcap"] = 5.0;
    if (k % 5 == 2) o["smoothing"] = 0.1;
    if (k % 4 == 3) o["z_loss"] = 1e-3;
    if (k % 3 == 2) o["ignore_frac"] = 0.25;
    o["target_i32"] = double((k / 2) % 2);
    const bool backward = op == "cce_backward" || op == "cce_forward_backward";
    if (backward) {
        o["grad_input_dtype"] = double(k % 3 == 1);
        o["grad_loss"] = double(k % 2 == 0);
        if (k % 4 == 2) o["filter_eps"] = -1.0;  // AUTO: exact for f32, filtered for 16-bit
    }
    if (op == "cce_shard_forward" || op == "cce_shard_combine") o["shards"] = double(1 + k % 4);
    return o;
}

}  // namespace

std::string CceSuite::summary() const {
    return "fused linear cross-entropy: loss of softmax(e c^T + bias) without the n x v logits";
}

std::vector<OpInfo> CceSuite::ops() const {
    return {{"cce_forward", "loss and lse"},
            {"cce_backward", "grad_e, grad_c, grad_bias from the forward's lse"},
            {"cce_forward_backward", "loss, lse and gradients in one pass"},
            {"cce_shard_forward", "per-shard lse, target logit and logit sum of a vocabulary shard"},
            {"cce_shard_combine", "loss and global lse from gathered shard statistics"}};
}

std::vector<DimInfo> CceSuite::dims() const {
    return {{"n", "tokens"}, {"v", "vocabulary (classifier rows)"}, {"d", "hidden size"}};
}

std::vector<Case> CceSuite::verify_cases(const std::string& op, uint64_t seed, int max_per_op) const {
    const engram_dtype dtypes[] = {ENGRAM_DTYPE_F32, ENGRAM_DTYPE_BF16, ENGRAM_DTYPE_F16};
    std::vector<Case> cases;
    size_t op_index = 0;
    for (const char* name : kOps) {
        ++op_index;
        if (!op.empty() && op != family() && op != name) continue;
        const size_t count = sizeof kAwkward / sizeof kAwkward[0];
        for (size_t k = 0; k < count && (max_per_op <= 0 || int(k) < max_per_op); ++k) {
            Case c;
            c.op = name;
            c.dims = {{"n", kAwkward[k][0]}, {"v", kAwkward[k][1]}, {"d", kAwkward[k][2]}};
            c.dtype = dtypes[(k + op_index) % 3];
            c.seed = seed * 1000 + k;
            c.options = options_for(name, k);
            cases.push_back(std::move(c));
        }
    }
    return cases;
}

std::vector<Dims> CceSuite::bench_shapes() const {
    return {{{"n", 4096}, {"v", 32768}, {"d", 1024}},
            {{"n", 1024}, {"v", 8192}, {"d", 512}},
            {{"n", 8192}, {"v", 256000}, {"d", 2304}}};
}

Dims CceSuite::reduced(const Dims& bench) const {
    // Several token panels, vocabulary blocks and worker chunks, with
    // remainders everywhere, at a cost of about 10^8 reference multiply-adds.
    return {{"n", std::min<int64_t>(bench.at("n"), 67)},
            {"v", std::min<int64_t>(bench.at("v"), 2053)},
            {"d", std::min<int64_t>(bench.at("d"), 259)}};
}

Outcome CceSuite::run(engram_context* ctx, const Case& c) const {
    Comparison cmp;
    try {
        for (const char* dim : {"n", "v", "d"})
            if (c.dims.count(dim) == 0 || c.dims.at(dim) < 1)
                throw std::runtime_error(std::string("dimension ") + dim + " missing or < 1");
        const Data x = make_data(c);
        if (c.op == "cce_forward") run_forward(cmp, ctx, c, x);
        else if (c.op == "cce_backward") run_backward(cmp, ctx, c, x);
        else if (c.op == "cce_forward_backward") run_forward_backward(cmp, ctx, c, x);
        else if (c.op == "cce_shard_forward") run_shard_forward(cmp, ctx, c, x);
        else if (c.op == "cce_shard_combine") run_shard_combine(cmp, ctx, c, x);
        else throw std::runtime_error("unknown op " + c.op);
    } catch (const std::exception& e) {
        cmp.fail(e.what());
    }
    return cmp.outcome();
}

}  // namespace engram_suite
