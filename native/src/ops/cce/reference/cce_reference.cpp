// reference_cce.cpp — see reference_cce.hpp. Naive loops on purpose.
#include "ops/cce/reference/cce_reference.hpp"

#include <algorithm>
#include <cmath>

namespace engram_test {

int64_t RefProblem::valid_count() const {
    int64_t valid = 0;
    for (int64_t i = 0; i < n; ++i) valid += ignored(i) ? 0 : 1;
    return valid;
}

double RefProblem::raw_logit(int64_t i, int64_t j) const {
    double z = 0.0;
    for (int64_t k = 0; k < d; ++k) z += e[size_t(i * d + k)] * c[size_t(j * d + k)];
    if (!bias.empty()) z += bias[size_t(j)];
    return z;
}

double RefProblem::logit(int64_t i, int64_t j) const {
    const double z = raw_logit(i, j);
    return opts.softcap > 0 ? opts.softcap * std::tanh(z / opts.softcap) : z;
}

double RefProblem::dot_magnitude(int64_t i, int64_t j) const {
    double m = 0.0;
    for (int64_t k = 0; k < d; ++k) m += std::fabs(e[size_t(i * d + k)] * c[size_t(j * d + k)]);
    if (!bias.empty()) m += std::fabs(bias[size_t(j)]);
    return m;
}

namespace {

// Stable log-sum-exp of a row of logits, as torch.logsumexp: shifted by the
// maximum when it is finite, by 0 otherwise, so a +inf logit gives +inf, only
// -inf logits give -inf, and a NaN gives NaN (through exp).
double log_sum_exp(const double* z, int64_t count) {
    double m = -INFINITY;
    for (int64_t j = 0; j < count; ++j) m = std::max(m, z[j]);
    const double shift = std::isfinite(m) ? m : 0.0;
    double s = 0.0;
    for (int64_t j = 0; j < count; ++j) s += std::exp(z[j] - shift);
    return shift + std::log(s);
}

}  // namespace

std::vector<double> RefForward::loss(int reduction) const {
    if (reduction == 0) return token_loss;
    return {reduction == 1 ? sum : mean};
}

RefForward ref_cce_forward(const RefProblem& p) {
    RefForward f;
    const size_t n = size_t(p.n);
    f.token_loss.assign(n, 0.0);
    f.lse.assign(n, 0.0);
    f.target_logit.assign(n, 0.0);
    f.logit_sum.assign(n, 0.0);
    f.dot_mag.assign(n, 0.0);
    f.max_abs_logit.assign(n, 0.0);
    f.mean_abs_logit.assign(n, 0.0);
    std::vector<double> z(size_t(p.v));
    const double s = p.opts.smoothing;
    for (int64_t i = 0; i < p.n; ++i) {
        if (p.ignored(i)) continue;
        ++f.valid;
        const int64_t t = p.targets[size_t(i)];
        double sum_z = 0.0, sum_abs = 0.0, max_abs = 0.0, mag = 0.0;
        for (int64_t j = 0; j < p.v; ++j) {
            z[size_t(j)] = p.logit(i, j);
            sum_z += z[size_t(j)];
            sum_abs += std::fabs(z[size_t(j)]);
            max_abs = std::max(max_abs, std::fabs(z[size_t(j)]));
            mag = std::max(mag, p.dot_magnitude(i, j));
        }
        const double lse = log_sum_exp(z.data(), p.v);
        const double zt = z[size_t(t)];
        const double mean_z = sum_z / double(p.v);
        f.token_loss[size_t(i)] =
            (1.0 - s) * (lse - zt) + s * (lse - mean_z) + p.opts.z_loss * lse * lse;
        f.lse[size_t(i)] = lse;
        f.target_logit[size_t(i)] = zt;
        f.logit_sum[size_t(i)] = sum_z;
        f.dot_mag[size_t(i)] = mag;
        f.max_abs_logit[size_t(i)] = max_abs;
        f.mean_abs_logit[size_t(i)] = sum_abs / double(p.v);
        f.sum += f.token_loss[size_t(i)];
    }
    f.mean = f.valid > 0 ? f.sum / double(f.valid) : 0.0;
    return f;
}

RefShard ref_cce_shard_forward(const RefProblem& p, int64_t start, int64_t stop) {
    RefShard r;
    r.shard_lse.assign(size_t(p.n), 0.0);
    r.target_logit.assign(size_t(p.n), 0.0);
    r.logit_sum.assign(size_t(p.n), 0.0);
    std::vector<double> z(size_t(stop - start));
    for (int64_t i = 0; i < p.n; ++i) {
        if (p.ignored(i)) continue;
        const int64_t t = p.targets[size_t(i)];
        double sum_z = 0.0;
        for (int64_t j = start; j < stop; ++j) {
            z[size_t(j - start)] = p.logit(i, j);
            sum_z += z[size_t(j - start)];
        }
        r.shard_lse[size_t(i)] = log_sum_exp(z.data(), stop - start);
        r.target_logit[size_t(i)] = (t >= start && t < stop) ? z[size_t(t - start)] : 0.0;
        r.logit_sum[size_t(i)] = sum_z;
    }
    return r;
}

double ref_upstream(const RefProblem& p, const std::vector<double>& grad_loss, int64_t i,
                    int64_t valid) {
    if (p.opts.reduction == 0) return grad_loss.empty() ? 1.0 : grad_loss[size_t(i)];
    const double g = grad_loss.empty() ? 1.0 : grad_loss[0];
    if (p.opts.reduction == 2) return valid > 0 ? g / double(valid) : 0.0;
    return g;
}

RefGrads ref_cce_backward(const RefProblem& p, const RefForward& fwd,
                          const std::vector<double>& grad_loss,
                          const std::vector<RefTermWeight>& weights) {
    RefGrads g;
    const size_t nd = size_t(p.n * p.d), vd = size_t(p.v * p.d);
    g.grad_e.assign(nd, 0.0);
    g.grad_c.assign(vd, 0.0);
    g.grad_bias.assign(size_t(p.v), 0.0);
    g.weighted.resize(weights.size());
    for (auto& w : g.weighted) {
        w.grad_e.assign(nd, 0.0);
        w.grad_c.assign(vd, 0.0);
        w.grad_bias.assign(size_t(p.v), 0.0);
    }
    const double s = p.opts.smoothing, cap = p.opts.softcap;
    const double inv_v = 1.0 / double(p.v);
    std::vector<double> w(weights.size());
    for (int64_t i = 0; i < p.n; ++i) {
        if (p.ignored(i)) continue;
        const double lse = fwd.lse[size_t(i)];
        const double up = ref_upstream(p, grad_loss, i, fwd.valid);
        const int64_t t = p.targets[size_t(i)];
        for (int64_t j = 0; j < p.v; ++j) {
            const double z = p.logit(i, j);
            RefTerm term;
            term.i = i;
            term.j = j;
            term.target = j == t;
            term.p = std::exp(z - lse);
            term.prob_scale = 1.0 + 2.0 * p.opts.z_loss * lse;
            term.dz = term.p * term.prob_scale - s * inv_v - (term.target ? 1.0 - s : 0.0);
            term.sc_grad = cap > 0 ? 1.0 - (z / cap) * (z / cap) : 1.0;
            term.up = up;
            const double gij = term.g();
            for (size_t q = 0; q < weights.size(); ++q) w[q] = weights[q](term);
            const double* ei = &p.e[size_t(i * p.d)];
            const double* cj = &p.c[size_t(j * p.d)];
            double* ge = &g.grad_e[size_t(i * p.d)];
            double* gc = &g.grad_c[size_t(j * p.d)];
            for (int64_t k = 0; k < p.d; ++k) {
                ge[k] += gij * cj[k];
                gc[k] += gij * ei[k];
            }
            if (!p.bias.empty()) g.grad_bias[size_t(j)] += gij;
            for (size_t q = 0; q < weights.size(); ++q) {
                if (w[q] == 0.0) continue;
                double* we = &g.weighted[q].grad_e[size_t(i * p.d)];
                double* wc = &g.weighted[q].grad_c[size_t(j * p.d)];
                for (int64_t k = 0; k < p.d; ++k) {
                    we[k] += w[q] * std::fabs(cj[k]);
                    wc[k] += w[q] * std::fabs(ei[k]);
                }
                if (!p.bias.empty()) g.weighted[q].grad_bias[size_t(j)] += w[q];
            }
        }
    }
    return g;
}

}  // namespace engram_test
