// attention_math.h — the online-softmax rules of the attention ops, written
// once for the CPU kernels and (phase 2) the CUDA kernels.
//
// State per query head: the running maximum m of the scores seen, the sum
// l = sum_t exp(s_t - shift(m)) and acc = sum_t exp(s_t - shift(m)) v_t. A new
// block with maximum bm moves to m' = max_nan(m, bm) and rescales l and acc by
// exp(shift(m) - shift(m')) (the old terms were taken relative to shift(m)).
// out = acc / l at the end.
//
// Non-finite scores then behave as PyTorch's softmax:
//  - NaN: max_nan makes m NaN, every later exp(x - NaN) is NaN: out NaN;
//  - +inf: m' = +inf, exp(inf - inf) = NaN at that token: out NaN;
//  - -inf: exp(-inf - shift) = 0, the token weighs nothing. While every score
//    so far is -inf the shift is 0 (not -inf), so exp(-inf - (-inf)) = NaN is
//    never formed; if all are -inf, l = 0 and out = 0 / 0 = NaN.
#pragma once

#include <math.h>

#include "shared/hd.h"

namespace engram {

// max that returns NaN when either operand is NaN.
ENGRAM_HD float attention_max_nan(float a, float b) { return (a != a || a > b) ? a : b; }

// The value scores are taken relative to: the maximum, or 0 while it is -inf.
ENGRAM_HD float attention_shift(float m) { return m == -INFINITY ? 0.0f : m; }

// The factor that moves terms relative to shift(m_old) to shift(m_new). While
// m_old is -inf the old terms are all 0 (or NaN from a NaN value, which 0
// keeps), so the factor is 0: exp(0 - m_new) would overflow to inf for
// m_new < -88 and turn l = 0 into 0 * inf = NaN.
ENGRAM_HD float attention_rescale(float m_old, float m_new) {
    return m_old == -INFINITY ? 0.0f : expf(attention_shift(m_old) - attention_shift(m_new));
}

}  // namespace engram
