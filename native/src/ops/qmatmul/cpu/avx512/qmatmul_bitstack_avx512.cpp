// qmatmul_bitstack_avx512.cpp — the BitStack row sum with AVX-512: each
// 16-bit half of a sign word is a lane mask; lanes whose bit is 0 get the
// sign of x v flipped (xor with -0.0), then one add per 16 columns. Lane l
// accumulates columns 16 i + l in order and the lanes are summed 0..15, the
// same order as the portable loop (qmatmul_bitstack.cpp), so the result is
// bit-identical to it.
#include <immintrin.h>

#include "ops/qmatmul/cpu/qmatmul_bitstack.hpp"

namespace engram::cpu {

float bitstack_row_sum_avx512(const uint32_t* signs, const float* xv, int64_t words) {
    __m512 acc = _mm512_setzero_ps();
    const __m512i minus = _mm512_set1_epi32(int(0x80000000u));
    for (int64_t w = 0; w < words; ++w) {
        const uint32_t word = signs[w];
        const __mmask16 lo = __mmask16(~word & 0xFFFFu), hi = __mmask16((~word >> 16) & 0xFFFFu);
        const __m512i a = _mm512_castps_si512(_mm512_loadu_ps(xv + 32 * w));
        const __m512i b = _mm512_castps_si512(_mm512_loadu_ps(xv + 32 * w + 16));
        acc = _mm512_add_ps(acc, _mm512_castsi512_ps(_mm512_mask_xor_epi32(a, lo, a, minus)));
        acc = _mm512_add_ps(acc, _mm512_castsi512_ps(_mm512_mask_xor_epi32(b, hi, b, minus)));
    }
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, acc);
    float sum = 0.0f;
    for (int l = 0; l < 16; ++l) sum += lanes[l];
    return sum;
}

}  // namespace engram::cpu
