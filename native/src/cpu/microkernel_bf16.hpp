// microkernel_bf16.hpp — the bf16 GEMM micro-kernel on AVX512_BF16:
// C[MR x NR] (+)= A[MR x k] B[k x NR] with bf16 operands and fp32
// accumulators, built on VDPBF16PS. Include only from files compiled with the
// AVX512_BF16 flags (cpu/avx512_bf16/, ops/*/cpu/avx512_bf16/).
//
// Operands are bf16 *pairs* along k: a 32-bit word holds elements 2k (low
// half) and 2k+1 (high half) of a row, so one VDPBF16PS lane adds two
// products into its fp32 accumulator. A bf16 product is exact in fp32 (8 x 8
// significant bits), so the error is that of an fp32 sum of the same terms,
// as for the f32 kernel. Differences from fp32 FMAs, documented because they
// are the whole numerical contract of this path: the instruction treats bf16
// subnormal inputs as zero and flushes subnormal results to zero (values
// below 2^-126, far below any tolerance the loss is checked to), rounds to
// nearest even whatever MXCSR says, and propagates NaN and inf as FMAs do.
// An odd depth ends in a half pair whose high half is zero on both sides.
//
// B is packed [kp][NR] pairs (kp pairs of NR columns). A is either packed
// [kp][MR] pairs (run) or read in place from MR rows of bf16 (run_rows); both
// issue the same VDPBF16PS chain per entry, so they agree bit for bit.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "cpu/simd_avx512.hpp"

namespace engram::cpu {

template <int MR, int NV>
struct MicroKernelBf16 {
    static constexpr int L = 16;
    static constexpr int NR = NV * L;

    static __m512bh as_bh(__m512i x) { return (__m512bh)x; }

    // The pair of bf16 at p (p[0] low, p[1] high); half: p[1] is past the
    // row's end and counts as zero.
    static uint32_t pair_at(const uint16_t* p, bool half) {
        if (half) return uint32_t(p[0]);
        uint32_t w;
        std::memcpy(&w, p, sizeof w);
        return w;
    }

    // c[MR x NR] = (acc ? c : 0) + sum over kp pairs of a[k*lda + i] . b[k*ldb + j].
    static void run(int64_t kp, const uint32_t* a, int64_t lda, const uint32_t* b, int64_t ldb,
                    float* c, int64_t ldc, bool acc) {
        __m512 r[MR][NV];
        for (int i = 0; i < MR; ++i)
            for (int j = 0; j < NV; ++j) r[i][j] = acc ? _mm512_loadu_ps(c + i * ldc + j * L) : _mm512_setzero_ps();
        for (int64_t kk = 0; kk < kp; ++kk) {
            __m512i bv[NV];
            for (int j = 0; j < NV; ++j) bv[j] = _mm512_loadu_si512(b + j * L);
            for (int i = 0; i < MR; ++i) {
                const __m512i av = _mm512_set1_epi32(int32_t(a[i]));
                for (int j = 0; j < NV; ++j) r[i][j] = _mm512_dpbf16_ps(r[i][j], as_bh(av), as_bh(bv[j]));
            }
            a += lda;
            b += ldb;
        }
        for (int i = 0; i < MR; ++i)
            for (int j = 0; j < NV; ++j) _mm512_storeu_ps(c + i * ldc + j * L, r[i][j]);
    }

    // The same product with A read in place: row i's bf16 elements start at
    // a_rows[i] (pair kk at a_rows[i] + 2 kk). half_last: the last pair is a
    // half pair (odd depth). Same chain as run() on the packed rows.
    static void run_rows(int64_t kp, const uint16_t* const* a_rows, bool half_last,
                         const uint32_t* b, int64_t ldb, float* c, int64_t ldc, bool acc) {
        __m512 r[MR][NV];
        for (int i = 0; i < MR; ++i)
            for (int j = 0; j < NV; ++j) r[i][j] = acc ? _mm512_loadu_ps(c + i * ldc + j * L) : _mm512_setzero_ps();
        // Whole pairs, then the half pair apart: no test in the hot loop.
        const int64_t full = half_last ? kp - 1 : kp;
        auto step = [&](int64_t kk, bool half) {
            __m512i bv[NV];
            for (int j = 0; j < NV; ++j) bv[j] = _mm512_loadu_si512(b + kk * ldb + j * L);
            for (int i = 0; i < MR; ++i) {
                const __m512i av = _mm512_set1_epi32(int32_t(pair_at(a_rows[i] + 2 * kk, half)));
                for (int j = 0; j < NV; ++j) r[i][j] = _mm512_dpbf16_ps(r[i][j], as_bh(av), as_bh(bv[j]));
            }
        };
        for (int64_t kk = 0; kk < full; ++kk) step(kk, false);
        if (half_last) step(full, true);
        for (int i = 0; i < MR; ++i)
            for (int j = 0; j < NV; ++j) _mm512_storeu_ps(c + i * ldc + j * L, r[i][j]);
    }

    // MR bf16 rows (src, row stride ld elements) x kp pairs -> [kp][MR] pairs,
    // rows >= m_eff zero; half_last as in run_rows. Whole pairs go 16 at a
    // time through the 16 x 16 transpose of 32-bit words (bit moves only).
    static void pack_a(const uint16_t* src, int64_t ld, int m_eff, int64_t kp, bool half_last,
                       uint32_t* dst) {
        static_assert(MR <= 16, "one transpose covers 16 rows");
        const int64_t full = half_last ? kp - 1 : kp;
        const __mmask16 out_mask = VecAvx512::mask(MR);
        for (int64_t k0 = 0; k0 < full; k0 += 16) {
            const int w = int(full - k0 < 16 ? full - k0 : 16);
            const __mmask16 in_mask = VecAvx512::mask(w);
            __m512 r[16];
            for (int i = 0; i < 16; ++i)
                r[i] = i < m_eff ? _mm512_castsi512_ps(_mm512_maskz_loadu_epi32(in_mask, src + i * ld + 2 * k0))
                                 : _mm512_setzero_ps();
            VecAvx512::transpose16(r);
            for (int k = 0; k < w; ++k)
                _mm512_mask_storeu_epi32(dst + (k0 + k) * MR, out_mask, _mm512_castps_si512(r[k]));
        }
        if (half_last)
            for (int i = 0; i < MR; ++i) dst[full * MR + i] = i < m_eff ? pair_at(src + i * ld + 2 * full, true) : 0u;
    }
};

}  // namespace engram::cpu
