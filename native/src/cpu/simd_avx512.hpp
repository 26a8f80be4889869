// simd_avx512.hpp — 16-lane fp32 vector wrapper for AVX-512 (F, DQ, BW, VL).
// Include only from files compiled with the AVX-512 flags (cpu/avx512/).
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "engram.h"

#include "cpu/simd_math.hpp"

namespace engram::cpu {

struct VecAvx512 {
    static constexpr int lanes = 16;
    __m512 v;

    static VecAvx512 zero() { return {_mm512_setzero_ps()}; }
    static VecAvx512 set1(float x) { return {_mm512_set1_ps(x)}; }
    static VecAvx512 load(const float* p) { return {_mm512_loadu_ps(p)}; }
    static __mmask16 mask(int n) { return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1u); }
    static VecAvx512 load_partial(const float* p, int n) { return {_mm512_maskz_loadu_ps(mask(n), p)}; }
    void store(float* p) const { _mm512_storeu_ps(p, v); }
    void store_partial(float* p, int n) const { _mm512_mask_storeu_ps(p, mask(n), v); }

    friend VecAvx512 operator+(VecAvx512 a, VecAvx512 b) { return {_mm512_add_ps(a.v, b.v)}; }
    friend VecAvx512 operator-(VecAvx512 a, VecAvx512 b) { return {_mm512_sub_ps(a.v, b.v)}; }
    friend VecAvx512 operator*(VecAvx512 a, VecAvx512 b) { return {_mm512_mul_ps(a.v, b.v)}; }
    friend VecAvx512 operator/(VecAvx512 a, VecAvx512 b) { return {_mm512_div_ps(a.v, b.v)}; }
    static VecAvx512 fma(VecAvx512 a, VecAvx512 b, VecAvx512 c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
    // c - a * b
    static VecAvx512 fnma(VecAvx512 a, VecAvx512 b, VecAvx512 c) { return {_mm512_fnmadd_ps(a.v, b.v, c.v)}; }
    static VecAvx512 max(VecAvx512 a, VecAvx512 b) { return {_mm512_max_ps(a.v, b.v)}; }
    // vmaxps/vminps return their second operand when either is NaN: x goes
    // second, so a NaN x comes out NaN instead of being clamped to a bound.
    static VecAvx512 clamp(VecAvx512 x, VecAvx512 lo, VecAvx512 hi) {
        return {_mm512_min_ps(hi.v, _mm512_max_ps(lo.v, x.v))};
    }
    // max that returns NaN when either operand is NaN (plain max drops one).
    static VecAvx512 max_nan(VecAvx512 a, VecAvx512 b) {
        const __mmask16 a_nan = _mm512_cmp_ps_mask(a.v, a.v, _CMP_UNORD_Q);
        return {_mm512_mask_blend_ps(a_nan, _mm512_max_ps(a.v, b.v), a.v)};
    }
    static VecAvx512 abs(VecAvx512 a) { return {_mm512_abs_ps(a.v)}; }
    static VecAvx512 round(VecAvx512 a) {
        return {_mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
    }
    static VecAvx512 exp2i(VecAvx512 p, VecAvx512 n) { return {_mm512_scalef_ps(p.v, n.v)}; }
    static VecAvx512 copysign(VecAvx512 mag, VecAvx512 sign) {
        const __m512 sbit = _mm512_set1_ps(-0.0f);
        return {_mm512_or_ps(_mm512_andnot_ps(sbit, mag.v), _mm512_and_ps(sbit, sign.v))};
    }
    // a < b ? x : y, per lane
    static VecAvx512 select_lt(VecAvx512 a, VecAvx512 b, VecAvx512 x, VecAvx512 y) {
        return {_mm512_mask_blend_ps(_mm512_cmp_ps_mask(a.v, b.v, _CMP_LT_OQ), y.v, x.v)};
    }
    // a == b ? x : y, per lane
    static VecAvx512 select_eq(VecAvx512 a, VecAvx512 b, VecAvx512 x, VecAvx512 y) {
        return {_mm512_mask_blend_ps(_mm512_cmp_ps_mask(a.v, b.v, _CMP_EQ_OQ), y.v, x.v)};
    }
    static VecAvx512 exp(VecAvx512 a) { return simd_math::exp(a); }
    static VecAvx512 tanh(VecAvx512 a) { return simd_math::tanh(a); }
    // Vectorised 16-bit <-> f32 conversion of a prefix; returns how many
    // elements were converted (the caller finishes the tail with half.h).
    static int64_t convert_from_16(const uint16_t* s, engram_dtype dt, int64_t n, float* d) {
        int64_t i = 0;
        for (; i + 16 <= n; i += 16) {
            const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i));
            __m512 f;
            if (dt == ENGRAM_DTYPE_BF16)
                f = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
            else
                f = _mm512_cvtph_ps(h);
            _mm512_storeu_ps(d + i, f);
        }
        return i;
    }
    static int64_t convert_to_16(const float* s, engram_dtype dt, int64_t n, uint16_t* d) {
        int64_t i = 0;
        for (; i + 16 <= n; i += 16) {
            const __m512 f = _mm512_loadu_ps(s + i);
            __m256i h;
            if (dt == ENGRAM_DTYPE_BF16) {
                // Round to nearest even on the bits; NaN keeps a quiet payload.
                const __m512i u = _mm512_castps_si512(f);
                const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
                __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb));
                const __mmask16 nan = _mm512_cmp_ps_mask(f, f, _CMP_UNORD_Q);
                r = _mm512_mask_or_epi32(r, nan, u, _mm512_set1_epi32(0x400000));
                h = _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16));
            } else {
                h = _mm512_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            }
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + i), h);
        }
        return i;
    }
    // Packs MR rows (stride ld) x kc columns into [kc][MR] (rows >= m_eff
    // zero), 16 columns at a time through an in-register 16 x 16 transpose:
    // about 4x faster than element copies, which matters when a packed
    // micro-panel meets only one token panel (the fused pass).
    template <int MR>
    static void pack_rows(const float* src, int64_t ld, int m_eff, int64_t kc, float* dst) {
        static_assert(MR <= 16, "one transpose covers 16 rows");
        const __mmask16 out_mask = mask(MR);
        for (int64_t k0 = 0; k0 < kc; k0 += 16) {
            const int w = int(kc - k0 < 16 ? kc - k0 : 16);
            const __mmask16 in_mask = mask(w);
            __m512 r[16];
            for (int i = 0; i < 16; ++i) {
                if (i >= m_eff) {
                    r[i] = _mm512_setzero_ps();
                    continue;
                }
                r[i] = _mm512_maskz_loadu_ps(in_mask, src + i * ld + k0);
            }
            transpose16(r);
            for (int k = 0; k < w; ++k) _mm512_mask_storeu_ps(dst + (k0 + k) * MR, out_mask, r[k]);
        }
    }
    static void transpose16(__m512 r[16]) {
        __m512 t[16];
        for (int i = 0; i < 16; i += 2) {
            t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
            t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
        }
        for (int i = 0; i < 16; i += 4) {
            r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
            r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xee);
            r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
            r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xee);
        }
        for (int i = 0; i < 4; ++i) {
            t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
            t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
            t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
            t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
        }
        for (int i = 0; i < 4; ++i) {
            r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
            r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
            r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
            r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xdd);
        }
    }
    float reduce_add() const { return _mm512_reduce_add_ps(v); }
    float reduce_max() const { return _mm512_reduce_max_ps(v); }
    bool any_ge(VecAvx512 t) const { return _mm512_cmp_ps_mask(v, t.v, _CMP_GE_OQ) != 0; }
    // Every lane < t; a NaN lane is not.
    bool all_lt(VecAvx512 t) const { return _mm512_cmp_ps_mask(v, t.v, _CMP_LT_OQ) == 0xffff; }
};

}  // namespace engram::cpu
