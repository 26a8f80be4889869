// bench_problem.hpp — benchmark inputs with a softmax shaped like a trained
// language model's, and a float64 reference on sampled tokens.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engram.h"

namespace engram_bench {

// Logits z_ij = s_i <g_t, g_j> + prior_j + noise, built from E and C alone
// (no bias): prior_j = -a log(j + 1) is a Zipf prior over vocabulary ids
// ordered by frequency (as BPE ids roughly are), targets are drawn from that
// Zipf law, and each token's confidence s_i is uniform in [2, 14]. With a =
// 1.1 this gives a mean softmax entropy of about 2.6 nats and p(target) about
// 0.6 (measured per run and reported), instead of the uniform noise of random
// inputs, under which the gradient filter would have nothing to skip.
struct Problem {
    int64_t n = 0, v = 0, d = 0;
    engram_dtype dtype = ENGRAM_DTYPE_F32;
    std::vector<float> e, c;           // values (rounded to dtype when 16-bit)
    std::vector<uint16_t> e16, c16;    // 16-bit storage when dtype is F16/BF16
    std::vector<int64_t> targets;
    double zipf_exponent = 1.1;

    const void* e_data() const;
    const void* c_data() const;
    size_t elem_bytes() const { return engram_dtype_size(dtype); }
};

Problem make_peaked_problem(int64_t n, int64_t v, int64_t d, engram_dtype dtype, uint64_t seed);

// float64 reference for a few tokens, with an upstream gradient of 1 per token.
struct SampledReference {
    std::vector<int64_t> tokens;
    std::vector<double> loss, lse, entropy, p_target;
    std::vector<double> grad_e;  // tokens.size() x d
};

SampledReference reference_on_samples(const Problem& p, int samples, uint64_t seed);

// max |x - ref| over the sampled tokens' loss and lse (and grad_e rows when
// given; each array is indexed by token like the op's outputs).
double max_error(const SampledReference& ref, const Problem& p, const float* loss,
                 const float* lse, const float* grad_e);

}  // namespace engram_bench
