// microkernel.hpp — the register-blocked fp32 GEMM micro-kernel every CPU op
// builds its products from: C[MR x NR] (+)= A[MR x k] B[k x NR], written once
// over a vector wrapper V (simd_*.hpp) and instantiated per ISA by the files
// compiled with that ISA's flags. NR = NV vectors of V::lanes floats.
#pragma once

#include <cstdint>

namespace engram::cpu {

template <class V, int MR, int NV>
struct MicroKernel {
    static constexpr int L = V::lanes;
    static constexpr int NR = NV * L;

    // c[MR x NR] = (acc ? c : 0) + sum_k a[k*lda + i] * b[k*ldb + j].
    // Register-blocked: MR*NV accumulators, NV vector loads of b and MR
    // broadcasts of a per step of k.
    static void run(int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                      float* c, int64_t ldc, bool acc) {
        // Accumulating into c: start from it rather than adding it at the end,
        // so its loads issue before the k loop (they overlap the previous
        // call's tail) instead of stalling the final add — which matters when
        // k is small (the fused pass's rank-32 updates of dC).
        V r[MR][NV];
        for (int i = 0; i < MR; ++i)
            for (int j = 0; j < NV; ++j) r[i][j] = acc ? V::load(c + i * ldc + j * L) : V::zero();
        for (int64_t kk = 0; kk < k; ++kk) {
            V bv[NV];
            for (int j = 0; j < NV; ++j) bv[j] = V::load(b + j * L);
            for (int i = 0; i < MR; ++i) {
                const V av = V::set1(a[i]);
                for (int j = 0; j < NV; ++j) r[i][j] = V::fma(av, bv[j], r[i][j]);
            }
            a += lda;
            b += ldb;
        }
        for (int i = 0; i < MR; ++i)
            for (int j = 0; j < NV; ++j) r[i][j].store(c + i * ldc + j * L);
    }

    // The same product with A read in place from MR row-major rows (row i at
    // a_rows[i], element k at a_rows[i][k]) instead of a packed [k][MR] panel.
    // Each entry of c is the same sequential FMA chain over k as in run(),
    // so the two agree bit for bit; this one skips packing A, which pays off
    // only when a panel of A meets few B columns (a few tokens).
    static void run_rows(int64_t k, const float* const* a_rows, const float* b, int64_t ldb,
                           float* c, int64_t ldc, bool acc) {
        V r[MR][NV];
        for (int i = 0; i < MR; ++i)
            for (int j = 0; j < NV; ++j) r[i][j] = acc ? V::load(c + i * ldc + j * L) : V::zero();
        for (int64_t kk = 0; kk < k; ++kk) {
            V bv[NV];
            for (int j = 0; j < NV; ++j) bv[j] = V::load(b + j * L);
            for (int i = 0; i < MR; ++i) {
                const V av = V::set1(a_rows[i][kk]);
                for (int j = 0; j < NV; ++j) r[i][j] = V::fma(av, bv[j], r[i][j]);
            }
            b += ldb;
        }
        for (int i = 0; i < MR; ++i)
            for (int j = 0; j < NV; ++j) r[i][j].store(c + i * ldc + j * L);
    }

    // Same product for a ragged corner: only m_eff x n_eff of c is touched.
    // a and b must be readable for the full MR x NR (the callers pad them).
    static void run_edge(int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                           float* c, int64_t ldc, int m_eff, int n_eff) {
        alignas(64) float t[MR * NR];
        run(k, a, lda, b, ldb, t, NR, false);
        for (int i = 0; i < m_eff; ++i)
            for (int j = 0; j < n_eff; ++j) c[i * ldc + j] += t[i * NR + j];
    }
};

}  // namespace engram::cpu
