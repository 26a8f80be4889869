// attention_reference.hpp — the plain, obviously-correct reference of the
// attention family: double precision, every kept token's score materialised,
// softmax written out as PyTorch computes it (max, exp, sum, divide).
//
//   kept(head):  retrieval: positions 0 .. length-1
//                streaming: p < sink  or  p >= length - window
//   s_t   = scale * sum_d q[d] k_t[d]             over t in kept(head)
//   p_t   = exp(s_t - max_t s_t) / sum_u exp(s_u - max_u s_u)
//   out   = sum_t p_t v_t
// Query head h reads KV head h / (H_q / H_kv).
//
// Inputs are doubles holding the values the library sees (16-bit storage
// already rounded), so the reference is exact up to double rounding and a
// tolerance only covers the library's f32 arithmetic. Alongside the output it
// returns the magnitudes a tolerance model needs.
#pragma once

#include <cstdint>
#include <vector>

namespace engram_test {

struct RefDecodeInput {
    int64_t q_heads = 0;
    int64_t kv_heads = 0;
    int64_t head_dim = 0;
    int64_t length = 0;            // tokens appended to the layer
    int64_t sink = 0;
    int64_t window = 1;
    double scale = 0.0;
    std::vector<double> q;         // [q_heads, D]
    std::vector<double> k;         // [kv_heads, length, D]: every token ever appended
    std::vector<double> v;         // [kv_heads, length, D]
    std::vector<int32_t> policy;   // [kv_heads]: 0 retrieval, 1 streaming
};

struct RefDecodeOutput {
    std::vector<double> out;         // [q_heads, D]
    std::vector<double> abs_out;     // [q_heads, D]: sum_t p_t |v_t[d]|
    std::vector<double> score_abs;   // [q_heads]: max_t scale * sum_d |q[d] k_t[d]|
    std::vector<int64_t> kept;       // [kv_heads]: tokens each KV head attends to
};

// Positions a head of this policy attends to, in order.
std::vector<int64_t> ref_attention_kept(int32_t policy, int64_t length, int64_t sink,
                                        int64_t window);

RefDecodeOutput ref_attention_decode(const RefDecodeInput& in);

// Prefill of the last `tokens` positions: in.q is [q_heads, tokens, D]; query
// i (position length - tokens + i) is a decode at length - tokens + i + 1
// (what a head keeps then). Outputs [q_heads, tokens, D], score_abs
// [q_heads, tokens], kept [kv_heads, tokens].
RefDecodeOutput ref_attention_prefill(const RefDecodeInput& in, int64_t tokens);

}  // namespace engram_test
