// cce_math.h — the arithmetic of fused linear cross-entropy, written once for
// the CPU backend and the CUDA kernels. Everything here works on fp32 scalars;
// the callers vectorise or parallelise around it.
#pragma once

#include <math.h>

#include "hd.h"

namespace engram {

// Online log-sum-exp state: the sum of exp(x - m) over the values seen so far,
// with m their running maximum. Starting from (-inf, 0) makes the empty state a
// neutral element of merge().
struct LseState {
    float m;
    float s;
};

ENGRAM_HD LseState lse_empty() { return LseState{-INFINITY, 0.0f}; }

// Merge two partial states exactly: sum_a e^(x-m_a) + sum_b e^(x-m_b), both
// rescaled to the larger maximum so that nothing overflows.
ENGRAM_HD LseState lse_merge(LseState a, LseState b) {
    if (a.m < b.m) {
        LseState t = a;
        a = b;
        b = t;
    }
    if (b.m == -INFINITY) return a;  // also covers a.m == -inf (both empty)
    return LseState{a.m, a.s + b.s * expf(b.m - a.m)};
}

ENGRAM_HD float lse_value(LseState st) { return st.m + logf(st.s); }

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

ENGRAM_HD CceGradCoef cce_grad_coef(float lse, float inv_vocab, float smoothing, float z_loss) {
    return CceGradCoef{1.0f + 2.0f * z_loss * lse, smoothing * inv_vocab, 1.0f - smoothing};
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
