// cce_math.h — the arithmetic of fused linear cross-entropy, written once for
// the CPU backend and the CUDA kernels. Everything here works on fp32 scalars;
// the callers vectorise or parallelise around it.
#pragma once

#include <math.h>

#include "shared/hd.h"

namespace engram {

// Online log-sum-exp state: the sum s = sum exp(x - lse_shift(m)) over the
// values x seen so far, with m their running maximum. Starting from (-inf, 0)
// makes the empty state a neutral element of merge().
//
// Non-finite values follow torch.logsumexp, on every backend and ISA:
//  - a NaN anywhere makes s (hence the lse) NaN: exp(NaN - shift) is NaN and
//    no step below ever replaces a NaN s;
//  - a +inf makes the lse +inf: with m = +inf the shift is 0, so s = inf;
//  - only -inf values (or none) give s = 0 and lse = -inf.
// The shift is the maximum when it is finite and 0 otherwise, so that
// exp(x - shift) never computes inf - inf.
struct LseState {
    float m;
    float s;
};

ENGRAM_HD LseState lse_empty() { return LseState{-INFINITY, 0.0f}; }

ENGRAM_HD float lse_shift(float m) { return fabsf(m) < INFINITY ? m : 0.0f; }  // NaN -> 0

// The state of one value x: exp(x - shift(x)) is 1 for finite x, inf for
// +inf, 0 for -inf and NaN for NaN.
ENGRAM_HD LseState lse_single(float x) { return LseState{x, expf(x - lse_shift(x))}; }

// s rescaled from the shift of maximum m to `shift`. An empty sum stays 0
// (never 0 * inf); a NaN sum stays NaN.
ENGRAM_HD float lse_rescale(float s, float m, float shift) {
    return s == 0.0f ? 0.0f : s * expf(lse_shift(m) - shift);
}

// Merge two partial states exactly, both rescaled to the larger maximum so
// that nothing overflows. The larger state's sum is multiplied by exp(0) = 1,
// so merging with an empty state returns the other state bit for bit.
ENGRAM_HD LseState lse_merge(LseState a, LseState b) {
    const float m = (a.m > b.m || a.m != a.m) ? a.m : b.m;
    const float shift = lse_shift(m);
    return LseState{m, lse_rescale(a.s, a.m, shift) + lse_rescale(b.s, b.m, shift)};
}

ENGRAM_HD float lse_value(LseState st) { return lse_shift(st.m) + logf(st.s); }

// tanh softcapping: cap * tanh(x / cap); cap <= 0 disables it.
ENGRAM_HD float softcap_apply(float x, float cap) { return cap > 0.0f ? cap * tanhf(x / cap) : x; }

// d/dx [cap * tanh(x / cap)] = 1 - tanh^2, written with the capped value y so
// that the backward does not need the raw logit.
ENGRAM_HD float softcap_grad(float y, float cap) {
    if (cap <= 0.0f) return 1.0f;
    const float t = y / cap;
    return 1.0f - t * t;
}

// Per-token loss from the reduced quantities:
//   (1 - s)(lse - z_t) + s (lse - sum_z / V) + z_loss * lse^2
ENGRAM_HD float cce_token_loss(float lse, float target_logit, float logit_sum, float inv_vocab,
                               float smoothing, float z_loss) {
    float loss = lse - (1.0f - smoothing) * target_logit;
    if (smoothing > 0.0f) loss -= smoothing * logit_sum * inv_vocab;
    if (z_loss > 0.0f) loss += z_loss * lse * lse;
    return loss;
}

// Constants of dloss/dz for one token: dloss/dz_j = p_j * prob_scale - offset
// - (j == target) * target_weight, where p_j = exp(z_j - lse).
struct CceGradCoef {
    float prob_scale;     // 1 + 2 z_loss lse
    float offset;         // smoothing / V
    float target_weight;  // 1 - smoothing
};

// The z-loss term is absent, not multiplied by 0, when z_loss is 0: with an
// infinite lse, 0 * inf would make every gradient of the token NaN.
ENGRAM_HD float cce_prob_scale(float lse, float z_loss) {
    return z_loss > 0.0f ? 1.0f + 2.0f * z_loss * lse : 1.0f;
}

ENGRAM_HD CceGradCoef cce_grad_coef(float lse, float inv_vocab, float smoothing, float z_loss) {
    return CceGradCoef{cce_prob_scale(lse, z_loss), smoothing * inv_vocab, 1.0f - smoothing};
}

// dloss/dz_j for a (possibly softcapped) logit z_j — before the upstream
// gradient and before the softcap chain rule. The gradient filter compares the
// magnitude of exactly this value with filter_eps.
ENGRAM_HD float cce_logit_grad(float z, float lse, bool is_target, CceGradCoef k) {
    float g = expf(z - lse) * k.prob_scale - k.offset;
    if (is_target) g -= k.target_weight;
    return g;
}

// Default gradient-filter thresholds, by input dtype (engram_dtype values), as
// in the CCE paper: 0 (exact) for f32; for the 16-bit types a level below which
// a softmax entry's contribution is lost when the gradient is rounded to the
// input's precision (bf16: 2^-12, f16: 2^-11).
ENGRAM_HD float cce_default_filter_eps(int dtype) {
    switch (dtype) {
        case 1: return 4.8828125e-4f;   // f16: 2^-11
        case 2: return 2.44140625e-4f;  // bf16: 2^-12
        default: return 0.0f;           // f32: exact
    }
}

}  // namespace engram
