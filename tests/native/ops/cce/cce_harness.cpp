// cce_harness.cpp — see cce_harness.hpp (the error model is described there).
#include "cce_harness.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <numeric>
#include <sstream>

namespace engram_test {

namespace {

constexpr double kU = 5.9604644775390625e-08;  // 2^-24, fp32 unit roundoff
constexpr double kTiny = 4.0 * FLT_MIN;        // flush-to-zero of fp32 denormals

double sum_factor(double terms) { return 8.0 + 2.0 * std::sqrt(std::max(terms, 1.0)); }

// Rounding of a 16-bit value, relative (half an ulp, with margin) and absolute
// (f16 subnormals).
double out_rtol(engram_dtype dtype) {
    switch (dtype) {
        case ENGRAM_DTYPE_BF16: return 1.0 / 256.0;   // 2^-8
        case ENGRAM_DTYPE_F16: return 1.0 / 2048.0;   // 2^-11
        default: return 0.0;
    }
}
double out_atol(engram_dtype dtype) { return dtype == ENGRAM_DTYPE_F16 ? 2.98023223876953125e-08 : 0.0; }

size_t loss_count(int reduction, int64_t n) { return reduction == ENGRAM_REDUCTION_NONE ? size_t(n) : 1; }

engram_op_stats read_op_stats(Context& ctx) {
    engram_op_stats st;
    engram_op_stats_init(&st);
    engram_context_get_op_stats(ctx.get(), &st);
    return st;
}

void finish(CceResult& r, engram_status status, Context& ctx) {
    r.status = status;
    r.error = engram_last_error();
    r.stats = read_op_stats(ctx);
}

struct GradBuffers {
    Buffer e, c, bias;
    engram_cce_grads grads{};
};

GradBuffers grad_outputs(Context& ctx, const CceData& data, int64_t v, const GradRequest& req) {
    GradBuffers g;
    engram_cce_grads_init(&g.grads);
    g.grads.dtype = req.dtype;
    const size_t gs = engram_dtype_size(req.dtype);
    const auto n = size_t(data.spec.n), d = size_t(data.spec.d);
    if (req.e) g.e = ctx.output(n * d * gs);
    if (req.c) g.c = ctx.output(size_t(v) * d * gs);
    if (req.bias && data.spec.bias) g.bias = ctx.output(size_t(v) * gs);
    g.grads.grad_e = g.e.get();
    g.grads.grad_c = g.c.get();
    g.grads.grad_bias = g.bias.get();
    return g;
}

void read_grads(CceResult& r, const GradBuffers& g, engram_dtype dtype) {
    if (g.e) r.grad_e = g.e.floats(dtype);
    if (g.c) r.grad_c = g.c.floats(dtype);
    if (g.bias) r.grad_bias = g.bias.floats(dtype);
}

}  // namespace

std::string CceSpec::label() const {
    std::ostringstream s;
    s << "n=" << n << " d=" << d << " v=" << v << " " << dtype_label(dtype) << "/"
      << dtype_label(target_dtype) << " reduction=" << reduction << " seed=" << seed;
    if (bias) s << " bias(shift " << bias_shift << ")";
    if (logit_std != 2.0) s << " logit_std=" << logit_std;
    if (ignore_frac > 0) s << " ignored=" << ignore_frac;
    if (ignore_index != -100) s << " ignore_index=" << ignore_index;
    if (softcap > 0) s << " softcap=" << softcap;
    if (smoothing > 0) s << " smoothing=" << smoothing;
    if (z_loss > 0) s << " z_loss=" << z_loss;
    if (filter_eps != 0) s << " filter_eps=" << filter_eps;
    if (peak > 0) s << " peak=" << peak << " peak_offset=" << peak_offset << " target_range=" << target_range;
    return s.str();
}

RefProblem CceData::ref() const {
    RefProblem p;
    p.n = spec.n;
    p.d = spec.d;
    p.v = spec.v;
    p.e.assign(e.begin(), e.end());
    p.c.assign(c.begin(), c.end());
    p.bias.assign(bias.begin(), bias.end());
    p.targets = targets;
    p.opts.reduction = spec.reduction;
    p.opts.ignore_index = spec.ignore_index;
    p.opts.softcap = spec.softcap;
    p.opts.smoothing = spec.smoothing;
    p.opts.z_loss = spec.z_loss;
    return p;
}

engram_cce_options CceData::options() const {
    engram_cce_options o;
    engram_cce_options_init(&o);
    o.reduction = spec.reduction;
    o.ignore_index = spec.ignore_index;
    o.softcap = spec.softcap;
    o.label_smoothing = spec.smoothing;
    o.z_loss = spec.z_loss;
    o.filter_eps = spec.filter_eps;
    return o;
}

int64_t CceData::valid() const {
    return std::count_if(targets.begin(), targets.end(),
                         [&](int64_t t) { return t != spec.ignore_index; });
}

CceData make_cce_data(const CceSpec& s) {
    CceData data;
    data.spec = s;
    Rng rng(s.seed);
    const auto n = size_t(s.n), d = size_t(s.d), v = size_t(s.v);
    const double c_std = s.logit_std / std::sqrt(double(s.d));
    data.c.resize(v * d);
    for (auto& x : data.c) x = float(rng.normal() * c_std);
    const int64_t range = s.target_range > 0 ? std::min(s.target_range, s.v) : s.v;
    data.targets.resize(n);
    for (auto& t : data.targets) t = rng.integer(0, range - 1);
    if (s.peak > 0 && range > 1) {
        // The rows of the possible targets are similar (cos^2 = 0.97), so the
        // probability spreads over them and the target's own gradient term
        // stays significant while the rest of the vocabulary is negligible.
        std::vector<double> a(d);
        for (auto& x : a) x = rng.normal() * c_std;
        for (int64_t j = 0; j < range; ++j)
            for (size_t k = 0; k < d; ++k)
                data.c[size_t(j) * d + k] =
                    float(std::sqrt(0.97) * a[k] + std::sqrt(0.03) * data.c[size_t(j) * d + k]);
    }
    data.e.resize(n * d);
    for (size_t i = 0; i < n; ++i) {
        if (s.peak > 0) {
            // e[i] = peak * c[r] / |c[r]|^2 + small noise (r = the target, or
            // peak_offset away from it): z[i, r] ~ peak, unrelated logits
            // ~ peak * cos(angle) |c[j]| / |c[r]|, a very peaked softmax.
            const int64_t r = (data.targets[i] + s.peak_offset) % s.v;
            const float* ct = &data.c[size_t(r) * d];
            double norm2 = 0;
            for (size_t k = 0; k < d; ++k) norm2 += double(ct[k]) * ct[k];
            for (size_t k = 0; k < d; ++k)
                data.e[i * d + k] = float(s.peak * ct[k] / norm2 + 0.05 * rng.normal());
        } else {
            for (size_t k = 0; k < d; ++k) data.e[i * d + k] = float(rng.normal());
        }
    }
    if (s.bias) {
        data.bias.resize(v);
        for (auto& b : data.bias) b = float(rng.normal() * s.bias_std + s.bias_shift);
    }
    // Exactly round(ignore_frac * n) ignored tokens, at random positions.
    const auto ignored = size_t(std::llround(s.ignore_frac * double(s.n)));
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), size_t(0));
    for (size_t i = n; i > 1; --i) std::swap(order[i - 1], order[size_t(rng.integer(0, int64_t(i) - 1))]);
    for (size_t k = 0; k < std::min(ignored, n); ++k) data.targets[order[k]] = s.ignore_index;

    for (auto& x : data.e) x = round_to(s.dtype, x);
    for (auto& x : data.c) x = round_to(s.dtype, x);
    for (auto& x : data.bias) x = round_to(s.dtype, x);
    data.e_raw = encode_floats(s.dtype, data.e);
    data.c_raw = encode_floats(s.dtype, data.c);
    data.bias_raw = encode_floats(s.dtype, data.bias);
    data.targets_raw = encode_ints(s.target_dtype, data.targets);
    return data;
}

CceBackendInputs upload_inputs(Context& ctx, const CceData& data, int64_t c_begin, int64_t c_end) {
    const CceSpec& s = data.spec;
    if (c_end < 0) c_end = s.v;
    const size_t es = engram_dtype_size(s.dtype);
    CceBackendInputs x;
    x.e = ctx.upload(data.e_raw);
    x.c = ctx.upload(data.c_raw.data() + size_t(c_begin) * size_t(s.d) * es,
                     size_t(c_end - c_begin) * size_t(s.d) * es);
    if (s.bias) x.bias = ctx.upload(data.bias_raw.data() + size_t(c_begin) * es, size_t(c_end - c_begin) * es);
    x.targets = ctx.upload(data.targets_raw);
    engram_cce_inputs_init(&x.in);
    x.in.dtype = s.dtype;
    x.in.target_dtype = s.target_dtype;
    x.in.n = s.n;
    x.in.d = s.d;
    x.in.v = c_end - c_begin;
    const bool sharded = c_begin != 0 || c_end != s.v;
    x.in.vocab_start = c_begin;
    x.in.vocab_total = sharded ? s.v : 0;
    x.in.e = x.e.get();
    x.in.c = x.c.get();
    x.in.bias = x.bias.get();
    x.in.targets = x.targets.get();
    return x;
}

CceResult run_forward(Context& ctx, const CceData& data, const engram_cce_options& opts,
                      bool want_lse) {
    CceResult r;
    auto in = upload_inputs(ctx, data);
    Buffer loss = ctx.output(loss_count(opts.reduction, data.spec.n) * 4);
    Buffer lse = want_lse ? ctx.output(size_t(data.spec.n) * 4) : Buffer();
    finish(r, engram_cce_forward(ctx.get(), &in.in, &opts, loss.as<float>(), lse.as<float>()), ctx);
    if (r.ok()) {
        r.loss = loss.floats();
        if (want_lse) r.lse = lse.floats();
    }
    return r;
}

CceResult run_backward(Context& ctx, const CceData& data, const engram_cce_options& opts,
                       const std::vector<float>* lse, const std::vector<float>* grad_loss,
                       GradRequest request) {
    CceResult r;
    auto in = upload_inputs(ctx, data);
    Buffer lse_buf = lse ? ctx.upload(*lse) : Buffer();
    Buffer gl_buf = grad_loss ? ctx.upload(*grad_loss) : Buffer();
    GradBuffers g = grad_outputs(ctx, data, data.spec.v, request);
    finish(r, engram_cce_backward(ctx.get(), &in.in, &opts, lse_buf.as<float>(), gl_buf.as<float>(), &g.grads),
           ctx);
    if (r.ok()) read_grads(r, g, request.dtype);
    return r;
}

CceResult run_forward_backward(Context& ctx, const CceData& data, const engram_cce_options& opts,
                               const std::vector<float>* grad_loss, GradRequest request,
                               bool want_lse) {
    CceResult r;
    auto in = upload_inputs(ctx, data);
    Buffer gl_buf = grad_loss ? ctx.upload(*grad_loss) : Buffer();
    Buffer loss = ctx.output(loss_count(opts.reduction, data.spec.n) * 4);
    Buffer lse = want_lse ? ctx.output(size_t(data.spec.n) * 4) : Buffer();
    GradBuffers g = grad_outputs(ctx, data, data.spec.v, request);
    finish(r,
           engram_cce_forward_backward(ctx.get(), &in.in, &opts, gl_buf.as<float>(), loss.as<float>(),
                                       lse.as<float>(), &g.grads),
           ctx);
    if (r.ok()) {
        r.loss = loss.floats();
        if (want_lse) r.lse = lse.floats();
        read_grads(r, g, request.dtype);
    }
    return r;
}

CceResult run_shard_forward(Context& ctx, const CceData& data, const engram_cce_options& opts,
                            int64_t c_begin, int64_t c_end, bool want_logit_sum) {
    CceResult r;
    auto in = upload_inputs(ctx, data, c_begin, c_end);
    const size_t n = size_t(data.spec.n);
    Buffer shard_lse = ctx.output(n * 4), target_logit = ctx.output(n * 4);
    Buffer logit_sum = want_logit_sum ? ctx.output(n * 4) : Buffer();
    finish(r,
           engram_cce_shard_forward(ctx.get(), &in.in, &opts, shard_lse.as<float>(),
                                    target_logit.as<float>(), logit_sum.as<float>()),
           ctx);
    if (r.ok()) {
        r.shard_lse = shard_lse.floats();
        r.target_logit = target_logit.floats();
        if (want_logit_sum) r.logit_sum = logit_sum.floats();
    }
    return r;
}

CceResult run_shard_backward(Context& ctx, const CceData& data, const engram_cce_options& opts,
                             int64_t c_begin, int64_t c_end, const std::vector<float>& lse,
                             const std::vector<float>* grad_loss, GradRequest request) {
    CceResult r;
    auto in = upload_inputs(ctx, data, c_begin, c_end);
    Buffer lse_buf = ctx.upload(lse);
    Buffer gl_buf = grad_loss ? ctx.upload(*grad_loss) : Buffer();
    GradBuffers g = grad_outputs(ctx, data, c_end - c_begin, request);
    finish(r, engram_cce_backward(ctx.get(), &in.in, &opts, lse_buf.as<float>(), gl_buf.as<float>(), &g.grads),
           ctx);
    if (r.ok()) read_grads(r, g, request.dtype);
    return r;
}

CceResult run_shard_combine(Context& ctx, const CceData& data, const engram_cce_options& opts,
                            int64_t num_shards, const std::vector<float>& shard_lse,
                            const std::vector<float>& target_logit,
                            const std::vector<float>* logit_sum, bool want_lse) {
    CceResult r;
    const int64_t n = data.spec.n;
    Buffer sl = ctx.upload(shard_lse), tl = ctx.upload(target_logit);
    Buffer ls = logit_sum ? ctx.upload(*logit_sum) : Buffer();
    Buffer targets = ctx.upload(data.targets_raw);
    Buffer loss = ctx.output(loss_count(opts.reduction, n) * 4);
    Buffer lse = want_lse ? ctx.output(size_t(n) * 4) : Buffer();
    finish(r,
           engram_cce_shard_combine(ctx.get(), n, num_shards, data.spec.v, sl.as<float>(), tl.as<float>(),
                                    ls.as<float>(), targets.get(), data.spec.target_dtype, &opts,
                                    loss.as<float>(), lse.as<float>()),
           ctx);
    if (r.ok()) {
        r.loss = loss.floats();
        if (want_lse) r.lse = lse.floats();
    }
    return r;
}

ExpectedForward expect_forward(const CceData& data) {
    const CceSpec& s = data.spec;
    ExpectedForward x;
    x.ref = ref_cce_forward(data.ref());
    const RefForward& f = x.ref;
    const size_t n = size_t(s.n);
    const double sm = s.smoothing, zl = s.z_loss;
    x.lse = f.lse;
    x.lse_bound.assign(n, 0.0);
    x.logit_bound.assign(n, 0.0);
    std::vector<double> token_bound(n, 0.0);
    for (size_t i = 0; i < n; ++i) {
        if (data.targets[i] == s.ignore_index) continue;  // exact zeros expected
        const double dz = kU * ((2.0 * std::sqrt(double(s.d)) + 8.0) * f.dot_mag[i] +
                                2.0 * f.max_abs_logit[i]) +
                          (s.softcap > 0 ? 4.0 * kU * s.softcap : 0.0);
        const double lse = std::fabs(f.lse[i]);
        const double dlse = dz + kU * sum_factor(double(s.v)) + 2.0 * kU * lse;
        x.logit_bound[i] = dz;
        x.lse_bound[i] = dlse;
        token_bound[i] = dlse * (1.0 + 2.0 * zl * lse) + zl * dlse * dlse + (1.0 - sm) * dz +
                         sm * (dz + kU * sum_factor(double(s.v)) * f.mean_abs_logit[i]) +
                         4.0 * kU * std::fabs(f.token_loss[i]);
    }
    x.loss = f.loss(s.reduction);
    if (s.reduction == ENGRAM_REDUCTION_NONE) {
        x.loss_bound = token_bound;
    } else {
        double b = 0.0, abs_sum = 0.0;
        for (size_t i = 0; i < n; ++i) {
            b += token_bound[i];
            abs_sum += std::fabs(f.token_loss[i]);
        }
        b += kU * sum_factor(double(f.valid)) * abs_sum;
        if (s.reduction == ENGRAM_REDUCTION_MEAN)
            b = f.valid > 0 ? b / double(f.valid) + 2.0 * kU * std::fabs(f.mean) : 0.0;
        x.loss_bound = {b};
    }
    return x;
}

double auto_filter_eps(engram_dtype dtype) {
    switch (dtype) {
        case ENGRAM_DTYPE_F16: return 1.0 / 2048.0;  // 2^-11
        case ENGRAM_DTYPE_BF16: return 1.0 / 4096.0; // 2^-12
        default: return 0.0;
    }
}

ExpectedGrads expect_grads(const CceData& data, const ExpectedForward& fwd, engram_backend backend,
                           engram_dtype grad_dtype, const std::vector<float>& grad_loss,
                           double filter_eps) {
    const CceSpec& s = data.spec;
    const double sm = s.smoothing, zl = s.z_loss, cap = s.softcap;
    const double inv_v = 1.0 / double(s.v);
    const double op_round =
        backend == ENGRAM_BACKEND_CUDA && s.dtype != ENGRAM_DTYPE_F32 ? out_rtol(s.dtype) : 0.0;
    std::vector<RefTermWeight> weights;
    // 0: the error of each term.
    weights.push_back([&](const RefTerm& t) {
        const double dz = fwd.logit_bound[size_t(t.i)], dlse = fwd.lse_bound[size_t(t.i)];
        const double aps = std::fabs(t.prob_scale);
        const double err_dz = t.p * aps * (dz + dlse + 8.0 * kU) + t.p * 2.0 * zl * dlse +
                              4.0 * kU * (t.p * aps + sm * inv_v + (t.target ? 1.0 - sm : 0.0));
        const double err_sc = cap > 0 ? 4.0 * kU + 2.0 * dz / cap : 0.0;
        return std::fabs(t.up) * (err_dz * std::fabs(t.sc_grad) + std::fabs(t.dz) * err_sc) +
               2.0 * kU * std::fabs(t.g());
    });
    // 1: the magnitude of each term (summation error, 16-bit operands).
    weights.push_back([](const RefTerm& t) { return std::fabs(t.g()); });
    // 2: what filtering may drop: terms whose |dloss/dz| is below eps (with a
    // relative margin of 1e-3 for the library's own fp32 error in deciding).
    // Each such term is at most eps |up| |factor|; we bound it by its own size.
    if (filter_eps > 0)
        weights.push_back([filter_eps](const RefTerm& t) {
            return std::fabs(t.dz) < filter_eps * 1.001 ? std::fabs(t.g()) : 0.0;
        });

    // 3: f16 operands on CUDA also flush tiny logit-gradient entries to f16
    // subnormals: at most 2^-25 absolute per term.
    const double op_atol =
        backend == ENGRAM_BACKEND_CUDA && s.dtype == ENGRAM_DTYPE_F16 ? out_atol(ENGRAM_DTYPE_F16) : 0.0;
    const size_t op_atol_weight = weights.size();
    if (op_atol > 0) weights.push_back([](const RefTerm&) { return 1.0; });

    std::vector<double> gl(grad_loss.begin(), grad_loss.end());
    RefGrads g = ref_cce_backward(data.ref(), fwd.ref, gl, weights);
    if (op_atol > 0) {
        auto add = [&](std::vector<double>& err, const std::vector<double>& w) {
            for (size_t i = 0; i < err.size(); ++i) err[i] += op_atol * w[i];
        };
        add(g.weighted[0].grad_e, g.weighted[op_atol_weight].grad_e);
        add(g.weighted[0].grad_c, g.weighted[op_atol_weight].grad_c);
        add(g.weighted[0].grad_bias, g.weighted[op_atol_weight].grad_bias);
    }
    ExpectedGrads x;
    x.grad_e = g.grad_e;
    x.grad_c = g.grad_c;
    x.grad_bias = g.grad_bias;
    const double r_out = out_rtol(grad_dtype), a_out = out_atol(grad_dtype);
    auto bounds = [&](const std::vector<double>& ref, const std::vector<double>& err,
                      const std::vector<double>& mag, const std::vector<double>* filt,
                      double terms) {
        const double acc = kU * sum_factor(terms) + op_round;
        std::vector<double> b(ref.size());
        for (size_t i = 0; i < ref.size(); ++i) {
            b[i] = err[i] + acc * mag[i] + kTiny;
            if (filt) b[i] += (*filt)[i];
            // Rounding to the output dtype: half an ulp of the value before
            // rounding, which is within b[i] of the reference.
            if (mag[i] > 0 || (filt && (*filt)[i] > 0))
                b[i] += r_out * (std::fabs(ref[i]) + b[i]) + a_out;
        }
        return b;
    };
    const bool f = filter_eps > 0;
    x.grad_e_bound = bounds(g.grad_e, g.weighted[0].grad_e, g.weighted[1].grad_e,
                            f ? &g.weighted[2].grad_e : nullptr, double(s.v));
    x.grad_c_bound = bounds(g.grad_c, g.weighted[0].grad_c, g.weighted[1].grad_c,
                            f ? &g.weighted[2].grad_c : nullptr, double(fwd.ref.valid));
    x.grad_bias_bound = bounds(g.grad_bias, g.weighted[0].grad_bias, g.weighted[1].grad_bias,
                               f ? &g.weighted[2].grad_bias : nullptr, double(fwd.ref.valid));
    return x;
}

void check_forward(const CceResult& r, const ExpectedForward& x) {
    EXPECT_TRUE(all_within("loss", r.loss, x.loss, x.loss_bound));
    if (!r.lse.empty()) {
        EXPECT_TRUE(all_within("lse", r.lse, x.lse, x.lse_bound));
    }
}

void check_grads(const CceResult& r, const ExpectedGrads& x, const CceData& data,
                 const GradRequest& request) {
    const int64_t d = data.spec.d;
    if (request.e) {
        EXPECT_TRUE(all_within("grad_e", r.grad_e, x.grad_e, x.grad_e_bound, d));
    }
    if (request.c) {
        EXPECT_TRUE(all_within("grad_c", r.grad_c, x.grad_c, x.grad_c_bound, d));
    }
    if (request.bias && data.spec.bias) {
        EXPECT_TRUE(all_within("grad_bias", r.grad_bias, x.grad_bias, x.grad_bias_bound));
    }
}

}  // namespace engram_test
