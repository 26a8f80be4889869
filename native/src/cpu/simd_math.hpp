// simd_math.hpp — exp and tanh for the vector wrappers, written once over any
// type with the wrapper interface plus a few bit-level hooks (V::exp2i).
// Polynomials are the Cephes single-precision ones (max error ~1-2 ulp over
// the reduced range), which is what the CCE epilogues need: the results feed
// fp32 sums, and the scalar path (std::exp) agrees to a few ulp.
#pragma once

namespace engram::cpu::simd_math {

// exp(x) = 2^n * exp(r), n = round(x / ln2), r = x - n ln2 in [-ln2/2, ln2/2].
// V::exp2i(p, n) multiplies by 2^n with correct underflow to 0 and overflow
// to inf (vscalefps on AVX-512; split exponent arithmetic on AVX2).
template <class V>
inline V exp(V x) {
    const V log2e = V::set1(1.44269504088896341f);
    const V ln2_hi = V::set1(0.693359375f);
    const V ln2_lo = V::set1(-2.12194440e-4f);
    x = V::clamp(x, V::set1(-104.0f), V::set1(89.0f));  // beyond: 0 / inf anyway
    const V n = V::round(x * log2e);
    V r = V::fnma(n, ln2_hi, x);
    r = V::fnma(n, ln2_lo, r);
    V p = V::set1(1.9875691500e-4f);
    p = V::fma(p, r, V::set1(1.3981999507e-3f));
    p = V::fma(p, r, V::set1(8.3334519073e-3f));
    p = V::fma(p, r, V::set1(4.1665795894e-2f));
    p = V::fma(p, r, V::set1(1.6666665459e-1f));
    p = V::fma(p, r, V::set1(5.0000001201e-1f));
    p = V::fma(p, r * r, r + V::set1(1.0f));
    return V::exp2i(p, n);
}

// tanh: odd polynomial below 0.625 (Cephes tanhf), 1 - 2 / (e^{2|x|} + 1)
// above, sign restored. Large |x| gives e^{2|x|} = inf and exactly +-1.
template <class V>
inline V tanh(V x) {
    const V ax = V::abs(x);
    const V z = x * x;
    V p = V::set1(-5.70498872745e-3f);
    p = V::fma(p, z, V::set1(2.06390887954e-2f));
    p = V::fma(p, z, V::set1(-5.37397155531e-2f));
    p = V::fma(p, z, V::set1(1.33314422036e-1f));
    p = V::fma(p, z, V::set1(-3.33332819422e-1f));
    const V small = V::fma(p * z, x, x);
    const V e = exp(ax + ax);
    const V large = V::set1(1.0f) - V::set1(2.0f) / (e + V::set1(1.0f));
    return V::select_lt(ax, V::set1(0.625f), small, V::copysign(large, x));
}

}  // namespace engram::cpu::simd_math
