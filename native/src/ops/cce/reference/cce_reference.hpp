// reference_cce.hpp — the plain, obviously-correct reference for fused linear
// cross-entropy: double precision, the full logit matrix [n, v] materialised,
// every formula written out as in engram.h.
//
//   z[i, j]  = e[i] . c[j] + bias[j];  with softcap: z <- cap * tanh(z / cap)
//   lse_i    = log sum_j exp z[i, j]                    (computed stably)
//   loss_i   = (1 - s)(lse_i - z[i, t_i]) + s (lse_i - mean_j z[i, j]) + zl * lse_i^2
//   ignored tokens (t_i == ignore_index): loss 0, lse 0, gradient 0, not counted
//   dloss_i/dz[i, j] = p[i, j] (1 + 2 zl lse_i) - s / V - (1 - s) [j == t_i]
//   dz/draw = 1 - (z / cap)^2 with softcap, else 1
//   g[i, j]  = up_i * dloss_i/dz[i, j] * dz/draw;  up_i from grad_loss and reduction
//   dE = g C,  dC = g^T E,  dBias = column sums of g
//
// Inputs are given as doubles holding the values the library sees (16-bit
// inputs already rounded), so the reference is exact up to double rounding and
// a tolerance only has to cover the library's fp32 accumulation.
//
// The reference is always over the whole vocabulary; shard quantities are
// computed over a column range [start, stop) of it.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

namespace engram_test {

struct RefOptions {
    int reduction = 2;  // engram_reduction: 0 none, 1 sum, 2 mean
    int64_t ignore_index = -100;
    double softcap = 0.0;
    double smoothing = 0.0;
    double z_loss = 0.0;
};

struct RefProblem {
    int64_t n = 0, d = 0, v = 0;
    std::vector<double> e;     // [n, d]
    std::vector<double> c;     // [v, d]
    std::vector<double> bias;  // [v] or empty (no bias)
    std::vector<int64_t> targets;
    RefOptions opts;

    bool ignored(int64_t i) const { return targets[size_t(i)] == opts.ignore_index; }
    int64_t valid_count() const;
    // Logit after bias and softcap.
    double logit(int64_t i, int64_t j) const;
    double raw_logit(int64_t i, int64_t j) const;
    // sum_k |e[i, k] c[j, k]| + |bias[j]|: the magnitude an fp32 dot product's
    // rounding error is proportional to.
    double dot_magnitude(int64_t i, int64_t j) const;
};

struct RefForward {
    std::vector<double> token_loss;    // [n]; 0 for ignored tokens
    std::vector<double> lse;           // [n]; 0 for ignored tokens
    std::vector<double> target_logit;  // [n]; 0 for ignored tokens
    std::vector<double> logit_sum;     // [n]; 0 for ignored tokens
    // Scales for error bounds, per token (0 for ignored tokens):
    std::vector<double> dot_mag;       // max_j dot_magnitude(i, j)
    std::vector<double> max_abs_logit; // max_j |z[i, j]|
    std::vector<double> mean_abs_logit;// mean_j |z[i, j]|
    int64_t valid = 0;
    double sum = 0.0;   // sum of token losses
    double mean = 0.0;  // sum / valid, 0 when valid == 0

    // The loss output for a reduction: [n] for NONE, [1] otherwise.
    std::vector<double> loss(int reduction) const;
};

RefForward ref_cce_forward(const RefProblem& p);

// Shard statistics over columns [start, stop): log-sum-exp of the shard's
// logits, the target logit if the target lies in the shard (else 0), and the
// sum of the shard's logits. Ignored tokens get 0 in all three.
struct RefShard {
    std::vector<double> shard_lse, target_logit, logit_sum;
};
RefShard ref_cce_shard_forward(const RefProblem& p, int64_t start, int64_t stop);

// Upstream gradient of token i: grad_loss[i] (NONE), grad_loss[0] (SUM),
// grad_loss[0] / valid (MEAN, 0 if nothing is valid); empty grad_loss means 1.
double ref_upstream(const RefProblem& p, const std::vector<double>& grad_loss, int64_t i,
                    int64_t valid);

// One entry g[i, j] of the logit gradient, with the pieces it is made of, so
// that a caller can weight it for an error bound.
struct RefTerm {
    int64_t i, j;
    double p;           // softmax probability exp(z - lse)
    double prob_scale;  // 1 + 2 zl lse
    double dz;          // dloss/dz before upstream and softcap chain rule
    double sc_grad;     // dz/draw (1 without softcap)
    double up;          // upstream gradient of the token
    bool target;
    double g() const { return up * dz * sc_grad; }
};
// Weight of a term in an error bound: the bound of a gradient entry is the sum
// of weight * |the factor the term is multiplied by| (|c[j, k]| for dE,
// |e[i, k]| for dC, 1 for dBias).
using RefTermWeight = std::function<double(const RefTerm&)>;

struct RefGrads {
    std::vector<double> grad_e;     // [n, d]
    std::vector<double> grad_c;     // [v, d]
    std::vector<double> grad_bias;  // [v] (zeros when there is no bias)
    // For each weight: the weighted absolute sums, same shapes.
    struct Weighted {
        std::vector<double> grad_e, grad_c, grad_bias;
    };
    std::vector<Weighted> weighted;
};

// `lse` as from ref_cce_forward; `weights` may be empty.
RefGrads ref_cce_backward(const RefProblem& p, const RefForward& fwd,
                          const std::vector<double>& grad_loss,
                          const std::vector<RefTermWeight>& weights = {});

}  // namespace engram_test
