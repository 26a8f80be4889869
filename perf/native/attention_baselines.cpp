// attention_baselines.cpp — see attention_baselines.hpp.
#include "attention_baselines.hpp"

#include <algorithm>
#include <cmath>

#include "runtime_blas.hpp"

namespace engram_bench {

bool attention_decode_blas(const DenseKv& kv, const std::vector<float>& q, float scale,
                           std::vector<float>& scores, std::vector<float>& out) {
    const CblasSgemm sgemm = runtime_blas().sgemm;
    if (!sgemm) return false;
    const int64_t G = kv.hq / kv.hkv, S = kv.s, D = kv.d;
    scores.resize(size_t(G * S));
    out.resize(size_t(kv.hq * D));
    for (int64_t h = 0; h < kv.hkv; ++h) {
        const float* k = kv.k.data() + h * S * D;
        const float* v = kv.v.data() + h * S * D;
        // scores [G, S] = scale * Q_g K^T
        sgemm(kCblasRowMajor, kCblasNoTrans, kCblasTrans, int(G), int(S), int(D), scale,
              q.data() + h * G * D, int(D), k, int(D), 0.0f, scores.data(), int(S));
        for (int64_t g = 0; g < G; ++g) {
            float* row = scores.data() + g * S;
            const float m = *std::max_element(row, row + S);
            double sum = 0.0;
            for (int64_t t = 0; t < S; ++t) {
                row[t] = std::exp(row[t] - m);
                sum += row[t];
            }
            const float inv = float(1.0 / sum);
            for (int64_t t = 0; t < S; ++t) row[t] *= inv;
        }
        // out [G, D] = P V
        sgemm(kCblasRowMajor, kCblasNoTrans, kCblasNoTrans, int(G), int(D), int(S), 1.0f, scores.data(),
              int(S), v, int(D), 0.0f, out.data() + h * G * D, int(D));
    }
    return true;
}

}  // namespace engram_bench
