// attention_baselines.hpp — the decode attention a user writes without
// engram, run in process on f32 keys and values [H_kv, S, D]: per KV head the
// scores of its G = H_q / H_kv query heads materialised (BLAS sgemm, [G, S]),
// a row softmax, and the product with V (sgemm): matmul-softmax-matmul.
#pragma once

#include <cstdint>
#include <vector>

namespace engram_bench {

struct DenseKv {
    int64_t hq = 0, hkv = 0, d = 0, s = 0;
    std::vector<float> k, v;  // [H_kv, S, D]
};

// out [H_q, D] for q [H_q, D]; scores: scratch [G, S] (resized). False
// without a BLAS.
bool attention_decode_blas(const DenseKv& kv, const std::vector<float>& q, float scale,
                           std::vector<float>& scores, std::vector<float>& out);

}  // namespace engram_bench
