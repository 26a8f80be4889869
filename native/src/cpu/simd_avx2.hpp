// simd_avx2.hpp — 8-lane fp32 vector wrapper for AVX2 + FMA. Include only from
// files compiled with the AVX2 flags (cpu/avx2/).
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "engram.h"

#include "cpu/simd_math.hpp"

namespace engram::cpu {

struct VecAvx2 {
    static constexpr int lanes = 8;
    __m256 v;

    static VecAvx2 zero() { return {_mm256_setzero_ps()}; }
    static VecAvx2 set1(float x) { return {_mm256_set1_ps(x)}; }
    static VecAvx2 load(const float* p) { return {_mm256_loadu_ps(p)}; }
    static __m256i mask(int n) {
        const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
    }
    static VecAvx2 load_partial(const float* p, int n) { return {_mm256_maskload_ps(p, mask(n))}; }
    void store(float* p) const { _mm256_storeu_ps(p, v); }
    void store_partial(float* p, int n) const { _mm256_maskstore_ps(p, mask(n), v); }

    friend VecAvx2 operator+(VecAvx2 a, VecAvx2 b) { return {_mm256_add_ps(a.v, b.v)}; }
    friend VecAvx2 operator-(VecAvx2 a, VecAvx2 b) { return {_mm256_sub_ps(a.v, b.v)}; }
    friend VecAvx2 operator*(VecAvx2 a, VecAvx2 b) { return {_mm256_mul_ps(a.v, b.v)}; }
    friend VecAvx2 operator/(VecAvx2 a, VecAvx2 b) { return {_mm256_div_ps(a.v, b.v)}; }
    static VecAvx2 fma(VecAvx2 a, VecAvx2 b, VecAvx2 c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
    static VecAvx2 fnma(VecAvx2 a, VecAvx2 b, VecAvx2 c) { return {_mm256_fnmadd_ps(a.v, b.v, c.v)}; }
    static VecAvx2 max(VecAvx2 a, VecAvx2 b) { return {_mm256_max_ps(a.v, b.v)}; }
    // vmaxps/vminps return their second operand when either is NaN: x goes
    // second, so a NaN x comes out NaN instead of being clamped to a bound.
    static VecAvx2 clamp(VecAvx2 x, VecAvx2 lo, VecAvx2 hi) {
        return {_mm256_min_ps(hi.v, _mm256_max_ps(lo.v, x.v))};
    }
    // max that returns NaN when either operand is NaN (plain max drops one).
    static VecAvx2 max_nan(VecAvx2 a, VecAvx2 b) {
        return {_mm256_blendv_ps(_mm256_max_ps(a.v, b.v), a.v, _mm256_cmp_ps(a.v, a.v, _CMP_UNORD_Q))};
    }
    static VecAvx2 abs(VecAvx2 a) { return {_mm256_andnot_ps(_mm256_set1_ps(-0.0f), a.v)}; }
    static VecAvx2 round(VecAvx2 a) {
        return {_mm256_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
    }
    // p * 2^n for integral n in [-104, 89]: applied as two factors 2^(n/2) and
    // 2^(n - n/2), each a normal float, so results that are subnormal or
    // overflow still come out right (0 / inf after rounding).
    static VecAvx2 exp2i(VecAvx2 p, VecAvx2 n) {
        const __m256i ni = _mm256_cvtps_epi32(n.v);
        const __m256i h1 = _mm256_srai_epi32(ni, 1);
        const __m256i h2 = _mm256_sub_epi32(ni, h1);
        const __m256i bias = _mm256_set1_epi32(127);
        const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h1, bias), 23));
        const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h2, bias), 23));
        return {_mm256_mul_ps(_mm256_mul_ps(p.v, s1), s2)};
    }
    static VecAvx2 copysign(VecAvx2 mag, VecAvx2 sign) {
        const __m256 sbit = _mm256_set1_ps(-0.0f);
        return {_mm256_or_ps(_mm256_andnot_ps(sbit, mag.v), _mm256_and_ps(sbit, sign.v))};
    }
    static VecAvx2 select_lt(VecAvx2 a, VecAvx2 b, VecAvx2 x, VecAvx2 y) {
        return {_mm256_blendv_ps(y.v, x.v, _mm256_cmp_ps(a.v, b.v, _CMP_LT_OQ))};
    }
    static VecAvx2 select_eq(VecAvx2 a, VecAvx2 b, VecAvx2 x, VecAvx2 y) {
        return {_mm256_blendv_ps(y.v, x.v, _mm256_cmp_ps(a.v, b.v, _CMP_EQ_OQ))};
    }
    static VecAvx2 exp(VecAvx2 a) { return simd_math::exp(a); }
    static VecAvx2 tanh(VecAvx2 a) { return simd_math::tanh(a); }
    static int64_t convert_from_16(const uint16_t* s, engram_dtype dt, int64_t n, float* d) {
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) {
            const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
            __m256 f;
            if (dt == ENGRAM_DTYPE_BF16)
                f = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
            else
                f = _mm256_cvtph_ps(h);
            _mm256_storeu_ps(d + i, f);
        }
        return i;
    }
    static int64_t convert_to_16(const float* s, engram_dtype dt, int64_t n, uint16_t* d) {
        if (dt != ENGRAM_DTYPE_F16) return 0;  // bf16: the scalar RNE path in half.h
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) {
            const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(s + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i), h);
        }
        return i;
    }
    // Packs MR rows (stride ld) x kc columns into [kc][MR] (rows >= m_eff
    // zero), 8 columns at a time through an in-register 8 x 8 transpose.
    template <int MR>
    static void pack_rows(const float* src, int64_t ld, int m_eff, int64_t kc, float* dst) {
        static_assert(MR <= 8, "one transpose covers 8 rows");
        const __m256i out_mask = mask(MR);
        for (int64_t k0 = 0; k0 < kc; k0 += 8) {
            const int w = int(kc - k0 < 8 ? kc - k0 : 8);
            const __m256i in_mask = mask(w);
            __m256 r[8];
            for (int i = 0; i < 8; ++i) {
                if (i >= m_eff) {
                    r[i] = _mm256_setzero_ps();
                    continue;
                }
                r[i] = _mm256_maskload_ps(src + i * ld + k0, in_mask);
            }
            transpose8(r);
            for (int k = 0; k < w; ++k) _mm256_maskstore_ps(dst + (k0 + k) * MR, out_mask, r[k]);
        }
    }
    static void transpose8(__m256 r[8]) {
        __m256 t[8];
        for (int i = 0; i < 8; i += 2) {
            t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
            t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
        }
        for (int i = 0; i < 8; i += 4) {
            r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
            r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
            r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
            r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
        }
        for (int i = 0; i < 4; ++i) {
            t[i] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);
            t[i + 4] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31);
        }
        for (int i = 0; i < 8; ++i) r[i] = t[i];
    }
    float reduce_add() const {
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
    }
    float reduce_max() const {
        __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_max_ps(s, _mm_movehl_ps(s, s));
        s = _mm_max_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
    }
    bool any_ge(VecAvx2 t) const {
        return _mm256_movemask_ps(_mm256_cmp_ps(v, t.v, _CMP_GE_OQ)) != 0;
    }
    // Every lane < t; a NaN lane is not.
    bool all_lt(VecAvx2 t) const {
        return _mm256_movemask_ps(_mm256_cmp_ps(v, t.v, _CMP_LT_OQ)) == 0xff;
    }
};

}  // namespace engram::cpu
