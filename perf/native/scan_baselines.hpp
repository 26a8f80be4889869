// scan_baselines.hpp — what the scan benchmark times engram's chunked linear
// attention against, on the same f32 inputs ([T, H, K] / [T, H, V], one
// sequence, no gate, o_t = scale * S_t^T q_t with S_t = S_{t-1} + k_t v_t^T):
//  - the quadratic form through the BLAS: per head the scores Q K^T [T, T]
//    materialised (sgemm), the causal mask applied, O = S V (sgemm);
//  - the plain recurrent form: token by token, the state [K, V] updated and
//    read, heads over the cores.
#pragma once

#include <cstdint>
#include <vector>

namespace engram_bench {

struct ScanInputs {
    int64_t t = 0, h = 0, k = 0, v = 0;
    float scale = 1.0f;
    std::vector<float> q, kk, vv;  // [T, H, K], [T, H, K], [T, H, V]
};

// o [T, H, V]; scores: a [T, T] scratch buffer (resized). False without a BLAS.
bool scan_quadratic_blas(const ScanInputs& in, std::vector<float>& scores, std::vector<float>& o);
// o [T, H, V].
void scan_recurrent_plain(const ScanInputs& in, std::vector<float>& o);

// max |a - b| / max |b| (0 when b is all zeros).
double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace engram_bench
