// scan_baselines.cpp — see scan_baselines.hpp.
#include "scan_baselines.hpp"

#include <algorithm>
#include <cmath>

#include "runtime_blas.hpp"

namespace engram_bench {

bool scan_quadratic_blas(const ScanInputs& in, std::vector<float>& scores, std::vector<float>& o) {
    const CblasSgemm sgemm = runtime_blas().sgemm;
    if (!sgemm) return false;
    const int64_t T = in.t, H = in.h, K = in.k, V = in.v;
    scores.resize(size_t(T * T));
    o.resize(size_t(T * H * V));
    for (int64_t h = 0; h < H; ++h) {
        // scores = scale * Q_h K_h^T (rows of Q_h are H*K apart in [T, H, K]).
        sgemm(kCblasRowMajor, kCblasNoTrans, kCblasTrans, int(T), int(T), int(K), in.scale,
              in.q.data() + h * K, int(H * K), in.kk.data() + h * K, int(H * K), 0.0f, scores.data(),
              int(T));
        // Causal mask: token i sees tokens j <= i.
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < T; ++i) std::fill(scores.begin() + i * T + i + 1, scores.begin() + (i + 1) * T, 0.0f);
        sgemm(kCblasRowMajor, kCblasNoTrans, kCblasNoTrans, int(T), int(V), int(T), 1.0f, scores.data(),
              int(T), in.vv.data() + h * V, int(H * V), 0.0f, o.data() + h * V, int(H * V));
    }
    return true;
}

void scan_recurrent_plain(const ScanInputs& in, std::vector<float>& o) {
    const int64_t T = in.t, H = in.h, K = in.k, V = in.v;
    o.assign(size_t(T * H * V), 0.0f);
#pragma omp parallel for schedule(static)
    for (int64_t h = 0; h < H; ++h) {
        std::vector<float> S(size_t(K * V), 0.0f);
        for (int64_t t = 0; t < T; ++t) {
            const float* q = in.q.data() + (t * H + h) * K;
            const float* k = in.kk.data() + (t * H + h) * K;
            const float* v = in.vv.data() + (t * H + h) * V;
            float* out = o.data() + (t * H + h) * V;
            for (int64_t c = 0; c < K; ++c) {
                float* row = S.data() + c * V;
                const float kc = k[c], qc = in.scale * q[c];
                for (int64_t x = 0; x < V; ++x) {
                    row[x] += kc * v[x];
                    out[x] += qc * row[x];
                }
            }
        }
    }
}

double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
    double diff = 0.0, mag = 0.0;
    const size_t n = std::min(a.size(), b.size());
    for (size_t i = 0; i < n; ++i) {
        diff = std::max(diff, double(std::fabs(a[i] - b[i])));
        mag = std::max(mag, double(std::fabs(b[i])));
    }
    if (a.size() != b.size() || !std::isfinite(diff)) return INFINITY;
    return mag > 0 ? diff / mag : diff;
}

}  // namespace engram_bench
