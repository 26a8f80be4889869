// naive_cpu.cpp — see naive_cpu.hpp.
#include "naive_cpu.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "bench_util.hpp"
#include "runtime_blas.hpp"

namespace engram_bench {

namespace {

// C = alpha op(A) op(B) + beta C, row-major, via the BLAS or (without one) a
// plain loop so the driver still runs on a machine with no BLAS.
void sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
    if (const CblasSgemm blas_sgemm = runtime_blas().sgemm) {
        blas_sgemm(kCblasRowMajor, ta ? kCblasTrans : kCblasNoTrans, tb ? kCblasTrans : kCblasNoTrans,
                   int(m), int(n), int(k), 1.0f, a, int(lda), b, int(ldb), beta, c, int(ldc));
        return;
    }
#pragma omp parallel for
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
            float acc = 0.0f;
            for (int64_t q = 0; q < k; ++q)
                acc += (ta ? a[q * lda + i] : a[i * lda + q]) * (tb ? b[j * ldb + q] : b[q * ldb + j]);
            c[i * ldc + j] = acc + (beta == 0.0f ? 0.0f : beta * c[i * ldc + j]);
        }
}

// exp for the softmax passes, in plain C++ the compiler vectorises (the bench
// is built with -march=native): a framework's log-softmax is vectorised too,
// so a scalar libm expf here would slow the baseline unfairly.
inline float vexp(float x) {
    x = std::min(std::max(x, -87.0f), 88.0f);
    const float n = std::nearbyint(x * 1.44269504088896341f);
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float q = 1.9875691500e-4f;
    q = q * r + 1.3981999507e-3f;
    q = q * r + 8.3334519073e-3f;
    q = q * r + 4.1665795894e-2f;
    q = q * r + 1.6666665459e-1f;
    q = q * r + 5.0000001201e-1f;
    q = q * r * r + r + 1.0f;
    int32_t bits;
    std::memcpy(&bits, &q, 4);
    bits += int32_t(n) << 23;
    std::memcpy(&q, &bits, 4);
    return q;
}

}  // namespace

const char* NaiveCpu::blas() {
    const RuntimeBlas& b = runtime_blas();
    return b.sgemm ? b.name.c_str() : "plain loops (no BLAS)";
}

float NaiveCpu::forward(float* loss_tok, float* lse) {
    const int64_t n = p_.n, v = p_.v, d = p_.d;
    logits_.assign(size_t(n * v), 0.0f);
    lse_.assign(size_t(n), 0.0f);
    peak_ = std::max<uint64_t>(peak_, (logits_.size() + lse_.size()) * sizeof(float));
    sgemm(false, true, n, v, d, p_.e.data(), d, p_.c.data(), d, 0.0f, logits_.data(), v);
    double sum = 0.0;
#pragma omp parallel for reduction(+ : sum)
    for (int64_t i = 0; i < n; ++i) {
        const float* z = &logits_[size_t(i * v)];
        float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
        for (int64_t j = 0; j < v; ++j) mx = std::max(mx, z[j]);
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int64_t j = 0; j < v; ++j) s += vexp(z[j] - mx);
        const float l = mx + std::log(s);
        lse_[size_t(i)] = l;
        const float tok = l - z[p_.targets[size_t(i)]];
        if (loss_tok) loss_tok[i] = tok;
        if (lse) lse[i] = l;
        sum += tok;
    }
    return float(sum / double(n));
}

void NaiveCpu::backward(float up, float* grad_e, float* grad_c) {
    const int64_t n = p_.n, v = p_.v, d = p_.d;
#pragma omp parallel for
    for (int64_t i = 0; i < n; ++i) {
        float* z = &logits_[size_t(i * v)];
        const float l = lse_[size_t(i)];
#pragma omp simd
        for (int64_t j = 0; j < v; ++j) z[j] = vexp(z[j] - l) * up;
        z[p_.targets[size_t(i)]] -= up;
    }
    sgemm(false, false, n, d, v, logits_.data(), v, p_.c.data(), d, 0.0f, grad_e, d);
    sgemm(true, false, v, d, n, logits_.data(), v, p_.e.data(), d, 0.0f, grad_c, d);
    release();
}

void NaiveCpu::release() {
    std::vector<float>().swap(logits_);
    std::vector<float>().swap(lse_);
}

double gemm_probe_gflops(int64_t m, int64_t n, int64_t k, int reps) {
    if (!runtime_blas().sgemm) return 0.0;  // no BLAS: no probe (plain loops are no limit)
    std::vector<float> a(size_t(m * k), 0.5f), b(size_t(n * k), 0.25f), c(size_t(m * n));
    const Timing t = time_reps(1, reps, [&] {
        sgemm(false, true, m, n, k, a.data(), k, b.data(), k, 0.0f, c.data(), n);
    });
    return 2.0 * double(m) * double(n) * double(k) / (t.min() * 1e-3) / 1e9;
}

double bandwidth_probe_gbs(int reps) {
    const size_t count = size_t(64) << 20;  // 64 Mi floats = 256 MiB per array
    std::vector<float> a(count), b(count, 1.0f), c(count, 2.0f);
#pragma omp parallel for
    for (int64_t i = 0; i < int64_t(count); ++i) a[size_t(i)] = 0.0f;  // first touch
    const Timing t = time_reps(1, reps, [&] {
#pragma omp parallel for
        for (int64_t i = 0; i < int64_t(count); ++i) a[size_t(i)] = b[size_t(i)] + 1.5f * c[size_t(i)];
    });
    return 3.0 * double(count) * sizeof(float) / (t.min() * 1e-3) / 1e9;
}

}  // namespace engram_bench
