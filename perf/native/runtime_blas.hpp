// runtime_blas.hpp — the BLAS of the naive baseline and the GEMM probe, found
// at run time (dlopen), so that engram-bench starts on a machine without one:
// the baseline then uses plain loops and the probe is skipped, and the JSON
// names what was used.
#pragma once

#include <cstdint>
#include <string>

namespace engram_bench {

// cblas_sgemm's C signature; the enum arguments use the CBLAS ABI values.
using CblasSgemm = void (*)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                            const float* a, int lda, const float* b, int ldb, float beta, float* c,
                            int ldc);
constexpr int kCblasRowMajor = 101, kCblasNoTrans = 111, kCblasTrans = 112;

// cblas_sgemv (y = alpha A x + beta y) and OpenBLAS's cblas_sbgemm (bf16
// operands as uint16_t, f32 result; only in OpenBLAS builds with bfloat16).
using CblasSgemv = void (*)(int order, int trans, int m, int n, float alpha, const float* a,
                            int lda, const float* x, int incx, float beta, float* y, int incy);
using CblasSbgemm = void (*)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                             const uint16_t* a, int lda, const uint16_t* b, int ldb, float beta,
                             float* c, int ldc);

struct RuntimeBlas {
    CblasSgemm sgemm = nullptr;  // null: no BLAS found
    CblasSgemv sgemv = nullptr;    // from the same library; null if it lacks it
    CblasSbgemm sbgemm = nullptr;  // likewise
    std::string name;            // the library loaded, or why none was
};

// Loaded once: ENGRAM_BLAS (a library path; when set, the only candidate), else
// libopenblas.so.0, libopenblas.so, libmkl_rt.so, libblas.so.3.
const RuntimeBlas& runtime_blas();

}  // namespace engram_bench
