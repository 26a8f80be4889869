// cce_check.cpp — a valid call's outputs against the float64 reference
// (tests/native/reference_cce.cpp).
//
// Tolerances are generous on purpose: the fuzzer looks for wrong results, not
// for the last bits (tests/native/cce_harness.cpp has the tight bounds). The
// library reads its inputs exactly and accumulates in fp32 (u = 2^-24), so a
// logit's error is about u (2 sqrt(d) + 8) S <= 1.5e-6 S at d = 64, with
// S = sum_k |e_k c_k| + |bias|; we allow 2e-5 (S + softcap + 1). lse, loss and
// gradients build on that (see bounds() and grad_weight()).
//
// Non-finite inputs (NaN, +-inf among e, c, bias) follow the contract instead:
// a NaN logit makes the token's loss and lse NaN, a +inf logit makes lse +inf
// (the loss then is not finite); all -inf gives lse -inf and loss NaN; ignored
// tokens stay exactly 0 whatever their rows hold; a NaN token's grad_e row is
// NaN; other gradients are only compared when every counted row is finite.
#include <cinttypes>
#include <cmath>

#include "cce_fuzz.hpp"
#include "shared/half.h"

namespace fuzz {
namespace {

using engram_test::RefTerm;

// One token's logits over the columns [lo, hi).
struct Row {
    bool nan = false, pinf = false, ninf = false;
    bool inexact = false;  // a finite logit from non-finite inputs (softcapped inf)
    int64_t finite = 0;
    double S = 0.0;        // largest dot magnitude among the finite logits
    bool exact() const { return !nan && !pinf && !ninf && !inexact; }
};

Row classify(const engram_test::RefProblem& r, int64_t i, int64_t lo, int64_t hi) {
    Row w;
    for (int64_t j = lo; j < hi; ++j) {
        const double z = r.logit(i, j);
        if (std::isnan(z)) w.nan = true;
        else if (z == INFINITY) w.pinf = true;
        else if (z == -INFINITY) w.ninf = true;
        else {
            ++w.finite;
            const double m = r.dot_magnitude(i, j);
            if (std::isfinite(m)) w.S = std::max(w.S, m);
            else w.inexact = true;
        }
    }
    return w;
}

double cap_of(const Problem& p) { return p.opts.softcap > 0.0f ? double(p.opts.softcap) : 0.0; }
double logit_bound(const Problem& p, double S) { return 2e-5 * (S + cap_of(p) + 1.0); }
double lse_bound(const Problem& p, double S, double lse) {
    return logit_bound(p, S) + 1e-5 * (1.0 + std::fabs(lse));
}
// (1-s)(lse - z_t) + s (lse - mean z) + zl lse^2: one lse error (times the z_loss
// slope), one logit error, and rounding.
double loss_bound(const Problem& p, double S, double lse, double loss) {
    const double zl = p.opts.z_loss, lb = lse_bound(p, S, lse);
    return (1.0 + 2.0 * zl * (std::fabs(lse) + lb)) * lb + logit_bound(p, S) +
           1e-5 * (std::fabs(loss) + zl * lse * lse);
}

void near(const char* what, int64_t i, double got, double ref, double bound) {
    FUZZ_CHECK(std::fabs(got - ref) <= bound, "%s[%" PRId64 "] = %.9g, reference %.9g, bound %.3g",
               what, i, got, ref, bound);
}

// The loss output and lse of forward, forward_backward and shard_combine.
void check_loss(const Problem& p, const float* loss, const float* lse) {
    const engram_test::RefForward f = engram_test::ref_cce_forward(p.ref);
    const bool none = p.opts.reduction == ENGRAM_REDUCTION_NONE;
    bool any_nan = false, any_pinf = false, sum_known = true;
    double bound_sum = 0.0, abs_sum = 0.0;
    for (int64_t i = 0; i < p.n; ++i) {
        if (p.ref.ignored(i)) {
            FUZZ_CHECK(!lse || lse[i] == 0.0f, "lse[%" PRId64 "] = %g for an ignored token", i, double(lse[i]));
            FUZZ_CHECK(!none || loss[i] == 0.0f, "loss[%" PRId64 "] = %g for an ignored token", i, double(loss[i]));
            continue;
        }
        const Row w = classify(p.ref, i, 0, p.vt);
        const double got_loss = none ? double(loss[i]) : 0.0;
        if (w.nan) {
            any_nan = true;
            FUZZ_CHECK(!lse || std::isnan(lse[i]), "lse[%" PRId64 "] = %g, but the token has a NaN logit", i, double(lse[i]));
            FUZZ_CHECK(!none || std::isnan(got_loss), "loss[%" PRId64 "] = %g, but the token has a NaN logit", i, got_loss);
            continue;
        }
        if (w.pinf) {
            any_pinf = true;
            FUZZ_CHECK(!lse || lse[i] == INFINITY, "lse[%" PRId64 "] = %g, but the token has a +inf logit", i, double(lse[i]));
            FUZZ_CHECK(!none || !std::isfinite(got_loss), "loss[%" PRId64 "] = %g is finite, with a +inf logit", i, got_loss);
            continue;
        }
        if (w.finite == 0) {  // every logit -inf: lse -inf, loss NaN
            any_nan = true;
            FUZZ_CHECK(!lse || lse[i] == -INFINITY, "lse[%" PRId64 "] = %g, but every logit is -inf", i, double(lse[i]));
            FUZZ_CHECK(!none || std::isnan(got_loss), "loss[%" PRId64 "] = %g, but every logit is -inf", i, got_loss);
            continue;
        }
        // Some finite logits (and maybe -inf ones, which add nothing): finite lse.
        FUZZ_CHECK(!lse || std::isfinite(lse[i]), "lse[%" PRId64 "] = %g is not finite", i, double(lse[i]));
        if (lse && !w.inexact) near("lse", i, lse[i], f.lse[size_t(i)], lse_bound(p, w.S, f.lse[size_t(i)]));
        if (w.ninf) {  // the target's or the mean's logit may be -inf: loss unchecked
            sum_known = false;
            continue;
        }
        FUZZ_CHECK(!none || std::isfinite(got_loss), "loss[%" PRId64 "] = %g is not finite", i, got_loss);
        if (w.inexact) {
            sum_known = false;
            continue;
        }
        const double b = loss_bound(p, w.S, f.lse[size_t(i)], f.token_loss[size_t(i)]);
        if (none) near("loss", i, got_loss, f.token_loss[size_t(i)], b);
        bound_sum += b;
        abs_sum += std::fabs(f.token_loss[size_t(i)]);
    }
    if (none) return;
    const double got = loss[0];
    if (any_nan) {
        FUZZ_CHECK(std::isnan(got), "loss = %g, but a token has a NaN logit", got);
    } else if (any_pinf) {
        FUZZ_CHECK(!std::isfinite(got), "loss = %g is finite, but a token has a +inf logit", got);
    } else if (sum_known) {
        double b = bound_sum + 1e-6 * abs_sum;
        if (p.opts.reduction == ENGRAM_REDUCTION_MEAN && f.valid > 0) b /= double(f.valid);
        near("loss (reduced)", 0, got, f.loss(p.opts.reduction)[0], b);
    }
}

void check_shard_forward(const Problem& p, const Call& k) {
    const int64_t lo = p.start, hi = p.start + p.v;
    const engram_test::RefShard r = engram_test::ref_cce_shard_forward(p.ref, lo, hi);
    for (int64_t i = 0; i < p.n; ++i) {
        const size_t u = size_t(i);
        if (p.ref.ignored(i)) {
            FUZZ_CHECK(k.shard_lse[i] == 0.0f && k.target_logit[i] == 0.0f && (!k.logit_sum || k.logit_sum[i] == 0.0f),
                       "shard outputs of ignored token %" PRId64 " are not 0", i);
            continue;
        }
        const Row w = classify(p.ref, i, lo, hi);
        const double sl = k.shard_lse[i];
        if (w.nan) FUZZ_CHECK(std::isnan(sl), "shard_lse[%" PRId64 "] = %g, but a logit is NaN", i, sl);
        else if (w.pinf) FUZZ_CHECK(sl == INFINITY, "shard_lse[%" PRId64 "] = %g, but a logit is +inf", i, sl);
        else if (w.finite == 0) FUZZ_CHECK(sl == -INFINITY, "shard_lse[%" PRId64 "] = %g, but every logit is -inf", i, sl);
        else {
            FUZZ_CHECK(std::isfinite(sl), "shard_lse[%" PRId64 "] = %g is not finite", i, sl);
            if (!w.inexact) near("shard_lse", i, sl, r.shard_lse[u], lse_bound(p, w.S, r.shard_lse[u]));
        }
        // The target's own logit, when this shard holds it; else exactly 0.
        const int64_t t = p.ref.targets[u];
        const double tl = k.target_logit[i];
        if (t < lo || t >= hi) {
            FUZZ_CHECK(tl == 0.0, "target_logit[%" PRId64 "] = %g for a target outside the shard", i, tl);
        } else {
            const double z = p.ref.logit(i, t), m = p.ref.dot_magnitude(i, t);
            if (std::isnan(z)) FUZZ_CHECK(std::isnan(tl), "target_logit[%" PRId64 "] = %g, expected NaN", i, tl);
            else if (std::isinf(z)) FUZZ_CHECK(tl == z, "target_logit[%" PRId64 "] = %g, expected %g", i, tl, z);
            else if (std::isfinite(m)) near("target_logit", i, tl, z, logit_bound(p, m) + 1e-6 * std::fabs(z));
        }
        if (k.logit_sum && w.nan) FUZZ_CHECK(std::isnan(k.logit_sum[i]), "logit_sum[%" PRId64 "] is not NaN", i);
        if (k.logit_sum && w.exact()) {
            double abs_sum = 0.0;
            for (int64_t j = lo; j < hi; ++j) abs_sum += std::fabs(p.ref.logit(i, j));
            near("logit_sum", i, k.logit_sum[i], r.logit_sum[u], double(p.v) * logit_bound(p, w.S) + 1e-5 * abs_sum);
        }
    }
}

float load(int32_t dtype, const void* raw, size_t i) {
    if (dtype == ENGRAM_DTYPE_F32) return static_cast<const float*>(raw)[i];
    const uint16_t h = static_cast<const uint16_t*>(raw)[i];
    return dtype == ENGRAM_DTYPE_F16 ? engram::f16_to_f32(h) : engram::bf16_to_f32(h);
}

// A gradient output against reference values and bounds, plus the rounding of
// a 16-bit output.
void check_grad(const char* what, const Problem& p, const void* got, const double* ref,
                const double* bound, size_t count) {
    for (size_t i = 0; i < count; ++i) {
        double b = bound[i] + 1e-30;
        const double r = ref[i];
        if (p.grad_dtype == ENGRAM_DTYPE_BF16) b += 0x1p-8 * (std::fabs(r) + b);
        if (p.grad_dtype == ENGRAM_DTYPE_F16) {
            if (std::fabs(r) + b >= 65504.0) continue;  // may round to inf
            b += 0x1p-11 * (std::fabs(r) + b) + 0x1p-24;
        }
        near(what, int64_t(i), load(p.grad_dtype, got, i), r, b);
    }
}

void check_grads(const Problem& p, const Call& k) {
    const size_t d = size_t(p.d);
    // Ignored tokens' grad_e rows are zero whatever their inputs hold.
    if (k.grads.grad_e)
        for (int64_t i = 0; i < p.n; ++i)
            if (p.ref.ignored(i))
                for (size_t c = 0; c < d; ++c)
                    FUZZ_CHECK(load(p.grad_dtype, k.grads.grad_e, size_t(i) * d + c) == 0.0f,
                               "grad_e[%" PRId64 ", %zu] of an ignored token is not 0", i, c);
    std::vector<double> L(size_t(p.n), 0.0), LB(size_t(p.n), 0.0);
    const engram_test::RefForward f = engram_test::ref_cce_forward(p.ref);
    bool exact = true;
    for (int64_t i = 0; i < p.n; ++i) {
        if (p.ref.ignored(i)) continue;
        const Row w = classify(p.ref, i, 0, p.vt);
        // A NaN logit makes the token's gradient row NaN (never filtered away).
        if (w.nan && k.grads.grad_e)
            for (size_t c = 0; c < d; ++c)
                FUZZ_CHECK(std::isnan(load(p.grad_dtype, k.grads.grad_e, size_t(i) * d + c)),
                           "grad_e[%" PRId64 ", %zu] is not NaN, but the token has a NaN logit", i, c);
        exact = exact && w.exact();
        L[size_t(i)] = logit_bound(p, w.S);
        LB[size_t(i)] = lse_bound(p, w.S, f.lse[size_t(i)]);
    }
    if (!exact) return;  // a non-finite row reaches every gradient
    const double cap = cap_of(p), zl = p.opts.z_loss, eps = p.filter_eps;
    const int64_t lo = p.start, hi = p.start + p.v;
    // grad_e of a shard is its partial sum over the shard's columns: gathered
    // from the reference's terms, with its bound.
    std::vector<double> pe(size_t(p.n) * d, 0.0), pe_b(pe.size(), 0.0);
    // Bound weight of one logit gradient term (times |factor| in a product):
    // p = exp(z - lse) carries the logit and lse errors, z_loss's slope the lse
    // error, softcap's chain factor 1 - (z/cap)^2 the logit error; plus the
    // filter, which may drop a term whose |dloss/dz| is below eps.
    auto weight = [&](const RefTerm& t) {
        const size_t i = size_t(t.i);
        const double up = std::fabs(t.up), sc = std::fabs(t.sc_grad), dz = std::fabs(t.dz);
        const double rel_p = L[i] + LB[i] + 1e-5;
        double w = up * (std::fabs(t.p) * (std::fabs(t.prob_scale) * rel_p + 2.0 * zl * LB[i]) * sc + 1e-5 * dz * sc);
        if (cap > 0.0) {
            const double zc = std::sqrt(std::max(0.0, 1.0 - t.sc_grad)), lc = L[i] / cap;
            w += up * dz * (2.0 * zc * lc + lc * lc);
        }
        if (eps > 0.0 && dz * sc < eps * (1.0 + 1e-3)) w += std::fabs(t.g());
        if (t.j >= lo && t.j < hi) {
            const double* cj = &p.ref.c[size_t(t.j) * d];
            for (size_t c = 0; c < d; ++c) {
                pe[i * d + c] += t.g() * cj[c];
                pe_b[i * d + c] += w * std::fabs(cj[c]);
            }
        }
        return w;
    };
    std::vector<double> gl;
    if (!p.grad_loss_null) gl.assign(p.grad_loss.begin(), p.grad_loss.end());
    const engram_test::RefGrads g = engram_test::ref_cce_backward(p.ref, f, gl, {weight});
    const size_t row0 = size_t(lo) * d, v = size_t(p.v);
    if (k.grads.grad_e) check_grad("grad_e", p, k.grads.grad_e, pe.data(), pe_b.data(), pe.size());
    if (k.grads.grad_c)
        check_grad("grad_c", p, k.grads.grad_c, &g.grad_c[row0], &g.weighted[0].grad_c[row0], v * d);
    if (k.grads.grad_bias)
        check_grad("grad_bias", p, k.grads.grad_bias, &g.grad_bias[size_t(lo)], &g.weighted[0].grad_bias[size_t(lo)], v);
}

}  // namespace

void check_results(const Problem& p, const Call& k) {
    switch (p.op) {
        case FORWARD:
        case SHARD_COMBINE: check_loss(p, k.loss, k.lse); break;
        case BACKWARD: check_grads(p, k); break;
        case FORWARD_BACKWARD:
            check_loss(p, k.loss, k.lse);
            check_grads(p, k);
            break;
        case SHARD_FORWARD: check_shard_forward(p, k); break;
        default: break;
    }
}

}  // namespace fuzz
