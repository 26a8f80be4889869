// cce_harness.cpp — see cce_harness.hpp (the error model is in cce_tolerance.hpp).
#include "cce_harness.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <numeric>
#include <sstream>

namespace engram_test {

namespace {

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

ExpectedForward expect_forward(const CceData& data) { return engram_suite::expect_forward(data.ref()); }

ExpectedGrads expect_grads(const CceData& data, const ExpectedForward& fwd, engram_backend backend,
                           engram_dtype grad_dtype, const std::vector<float>& grad_loss,
                           double filter_eps) {
    return engram_suite::expect_grads(data.ref(), fwd, backend, data.spec.dtype, grad_dtype, grad_loss,
                                      filter_eps);
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
