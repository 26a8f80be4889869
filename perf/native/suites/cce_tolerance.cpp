// cce_tolerance.cpp — see cce_tolerance.hpp (the error model is described there).
#include "cce_tolerance.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>

namespace engram_suite {

using engram_test::RefForward;
using engram_test::RefGrads;
using engram_test::RefProblem;
using engram_test::RefTerm;
using engram_test::RefTermWeight;

namespace {

constexpr double kTiny = 4.0 * FLT_MIN;  // flush-to-zero of fp32 denormals

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

// The loss bound by reduction from per-token bounds.
std::vector<double> reduce_bound(const RefProblem& p, const RefForward& f,
                                 const std::vector<double>& token_bound) {
    if (p.opts.reduction == ENGRAM_REDUCTION_NONE) return token_bound;
    double b = 0.0, abs_sum = 0.0;
    for (size_t i = 0; i < token_bound.size(); ++i) {
        b += token_bound[i];
        abs_sum += std::fabs(f.token_loss[i]);
    }
    b += kU * sum_factor(double(f.valid)) * abs_sum;
    if (p.opts.reduction == ENGRAM_REDUCTION_MEAN)
        b = f.valid > 0 ? b / double(f.valid) + 2.0 * kU * std::fabs(f.mean) : 0.0;
    return {b};
}

// Per-token bound of the loss (0 for ignored tokens), from the logit and lse bounds.
std::vector<double> token_loss_bounds(const RefProblem& p, const ExpectedForward& x) {
    const RefForward& f = x.ref;
    const double sm = p.opts.smoothing, zl = p.opts.z_loss;
    std::vector<double> b(size_t(p.n), 0.0);
    for (size_t i = 0; i < b.size(); ++i) {
        if (p.ignored(int64_t(i))) continue;
        const double dz = x.logit_bound[i], dlse = x.lse_bound[i], lse = std::fabs(f.lse[i]);
        b[i] = dlse * (1.0 + 2.0 * zl * lse) + zl * dlse * dlse + (1.0 - sm) * dz +
               sm * (dz + kU * sum_factor(double(p.v)) * f.mean_abs_logit[i]) +
               4.0 * kU * std::fabs(f.token_loss[i]);
    }
    return b;
}

}  // namespace

ExpectedForward expect_forward(const RefProblem& p) {
    ExpectedForward x;
    x.ref = engram_test::ref_cce_forward(p);
    const RefForward& f = x.ref;
    const size_t n = size_t(p.n);
    x.lse = f.lse;
    x.lse_bound.assign(n, 0.0);
    x.logit_bound.assign(n, 0.0);
    for (size_t i = 0; i < n; ++i) {
        if (p.ignored(int64_t(i))) continue;  // exact zeros expected
        const double dz = kU * ((2.0 * std::sqrt(double(p.d)) + 8.0) * f.dot_mag[i] +
                                2.0 * f.max_abs_logit[i]) +
                          (p.opts.softcap > 0 ? 4.0 * kU * p.opts.softcap : 0.0);
        x.logit_bound[i] = dz;
        x.lse_bound[i] = dz + kU * sum_factor(double(p.v)) + 2.0 * kU * std::fabs(f.lse[i]);
    }
    x.loss = f.loss(p.opts.reduction);
    x.loss_bound = reduce_bound(p, f, token_loss_bounds(p, x));
    return x;
}

double auto_filter_eps(engram_dtype dtype) {
    switch (dtype) {
        case ENGRAM_DTYPE_F16: return 1.0 / 2048.0;  // 2^-11
        case ENGRAM_DTYPE_BF16: return 1.0 / 4096.0; // 2^-12
        default: return 0.0;
    }
}

ExpectedGrads expect_grads(const RefProblem& p, const ExpectedForward& fwd, engram_backend backend,
                           engram_dtype input_dtype, engram_dtype grad_dtype,
                           const std::vector<float>& grad_loss, double filter_eps) {
    const double sm = p.opts.smoothing, zl = p.opts.z_loss, cap = p.opts.softcap;
    const double inv_v = 1.0 / double(p.v);
    const bool cuda16 = backend == ENGRAM_BACKEND_CUDA && input_dtype != ENGRAM_DTYPE_F32;
    const double op_round = cuda16 ? out_rtol(input_dtype) : 0.0;
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
    if (filter_eps > 0)
        weights.push_back([filter_eps](const RefTerm& t) {
            return std::fabs(t.dz) < filter_eps * 1.001 ? std::fabs(t.g()) : 0.0;
        });
    // 3: f16 operands on CUDA also flush tiny logit-gradient entries to f16
    // subnormals: at most 2^-25 absolute per term.
    const double op_atol = cuda16 && input_dtype == ENGRAM_DTYPE_F16 ? out_atol(ENGRAM_DTYPE_F16) : 0.0;
    const size_t op_atol_weight = weights.size();
    if (op_atol > 0) weights.push_back([](const RefTerm&) { return 1.0; });

    std::vector<double> gl(grad_loss.begin(), grad_loss.end());
    RefGrads g = engram_test::ref_cce_backward(p, fwd.ref, gl, weights);
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
            if (mag[i] > 0 || (filt && (*filt)[i] > 0)) b[i] += r_out * (std::fabs(ref[i]) + b[i]) + a_out;
        }
        return b;
    };
    const bool f = filter_eps > 0;
    x.grad_e_bound = bounds(g.grad_e, g.weighted[0].grad_e, g.weighted[1].grad_e,
                            f ? &g.weighted[2].grad_e : nullptr, double(p.v));
    x.grad_c_bound = bounds(g.grad_c, g.weighted[0].grad_c, g.weighted[1].grad_c,
                            f ? &g.weighted[2].grad_c : nullptr, double(fwd.ref.valid));
    x.grad_bias_bound = bounds(g.grad_bias, g.weighted[0].grad_bias, g.weighted[1].grad_bias,
                               f ? &g.weighted[2].grad_bias : nullptr, double(fwd.ref.valid));
    return x;
}

ExpectedShard expect_shard(const RefProblem& p, const ExpectedForward& fwd, int64_t start,
                           int64_t stop) {
    ExpectedShard x;
    x.ref = engram_test::ref_cce_shard_forward(p, start, stop);
    const size_t n = size_t(p.n);
    const double w = double(stop - start);
    x.shard_lse_bound.assign(n, 0.0);
    x.target_logit_bound.assign(n, 0.0);
    x.logit_sum_bound.assign(n, 0.0);
    for (size_t i = 0; i < n; ++i) {
        if (p.ignored(int64_t(i))) continue;
        const double dz = fwd.logit_bound[i];
        x.shard_lse_bound[i] = dz + kU * sum_factor(w) + 2.0 * kU * std::fabs(x.ref.shard_lse[i]);
        const int64_t t = p.targets[i];
        if (t >= start && t < stop) x.target_logit_bound[i] = dz;
        x.logit_sum_bound[i] = w * dz + kU * sum_factor(w) * w * fwd.ref.max_abs_logit[i];
    }
    return x;
}

ExpectedCombine expect_combine(const RefProblem& p, const ExpectedForward& fwd, int64_t num_shards) {
    ExpectedCombine x;
    const RefForward& f = fwd.ref;
    const size_t n = size_t(p.n);
    const double k = double(num_shards), zl = p.opts.z_loss;
    // The combine's own fp32 rounding: an lse over K values and a few
    // products and sums of the statistics (and the fp32 rounding of its
    // inputs, which are within their own bounds of the reference).
    std::vector<double> own(n, 0.0);
    for (size_t i = 0; i < n; ++i) {
        if (p.ignored(int64_t(i))) continue;
        const double lse = std::fabs(f.lse[i]);
        const double size = 1.0 + lse + std::fabs(f.target_logit[i]) + std::fabs(f.logit_sum[i]) / double(p.v);
        own[i] = kU * (2.0 * k + 16.0) * size * (1.0 + 2.0 * zl * lse);
    }
    x.lse = f.lse;
    x.lse_bound = fwd.lse_bound;
    for (size_t i = 0; i < n; ++i) x.lse_bound[i] += own[i];
    std::vector<double> token = token_loss_bounds(p, fwd);
    for (size_t i = 0; i < n; ++i) token[i] += own[i];
    x.loss = f.loss(p.opts.reduction);
    x.loss_bound = reduce_bound(p, f, token);
    return x;
}

}  // namespace engram_suite
