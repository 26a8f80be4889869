// cce_tolerance.hpp — the CCE tolerance model: reference values from the one
// float64 reference (native/src/ops/cce/reference) and an error bound for
// every output entry. Used by the CCE suite and the GoogleTest harness.
//
// Error model (why the bounds are what they are). The library computes in fp32
// on inputs it reads exactly (16-bit inputs are widened exactly; 16-bit
// products are exact in fp32), so all error is fp32 rounding, u = 2^-24:
//  - a logit is a D-term dot product: |error| <= u (2 sqrt(D) + 8) S + 2u|z|,
//    S = sum_k |e_k c_k| + |bias| (a generous multiple of the typical random-walk
//    error of any summation order; a wrong or missing term costs ~|e_k c_k|);
//    softcap's tanh adds 4u cap;
//  - lse adds the relative error of a V-term positive sum, u (8 + 2 sqrt(V)),
//    and rounding of its own value, 2u|lse|;
//  - the loss combines those linearly (see expect_forward in cce_tolerance.cpp);
//  - a gradient entry is a sum of terms g[i,j] * c[j,k]; each term carries the
//    relative error of p = exp(z - lse) (the logit and lse errors) and the
//    sum adds u (8 + 2 sqrt(terms)) of the sum of |terms|;
//  - 16-bit gradients are rounded once at the end: + 2^-8 |ref| (bf16),
//    2^-11 |ref| + 2^-25 (f16);
//  - on CUDA, 16-bit inputs go through tensor cores, whose operands are 16-bit:
//    the logit gradient is rounded to the input dtype before the second product,
//    so the bound adds that rounding (2^-8 bf16, 2^-11 f16) of the sum of |terms|
//    (and, for f16, 2^-25 per term for entries that underflow to subnormals).
//    The CPU backend has no such step and gets no such allowance;
//  - the gradient filter (filter_eps > 0) may drop terms with |dloss/dz| < eps
//    (before the upstream gradient): each dropped term changes an entry by at
//    most eps |up_i| |factor| (softcap's chain factor is <= 1). The bound adds,
//    sharper still, the sum of |term| over exactly the terms with
//    |dloss/dz| < eps (1 + 1e-3), which is <= eps sum |up_i| |factor|: dropping
//    any term above the threshold is then a visible error;
//  - vocabulary shards: a shard's lse is an lse over its columns; the target
//    logit is one logit; the logit sum adds the shard's logit errors and the
//    rounding of a sum of |z|; the combine step rounds a handful of fp32
//    operations on values of size |lse|, |target logit|, |logit sum| / V.
#pragma once

#include <vector>

#include "engram.h"
#include "ops/cce/reference/cce_reference.hpp"

namespace engram_suite {

constexpr double kU = 5.9604644775390625e-08;  // 2^-24, fp32 unit roundoff

struct ExpectedForward {
    engram_test::RefForward ref;
    std::vector<double> loss, loss_bound;  // by the problem's reduction
    std::vector<double> lse, lse_bound;
    std::vector<double> logit_bound;       // per token: bound of one logit's error
};
ExpectedForward expect_forward(const engram_test::RefProblem& p);

struct ExpectedGrads {
    std::vector<double> grad_e, grad_c, grad_bias;
    std::vector<double> grad_e_bound, grad_c_bound, grad_bias_bound;
};
// input_dtype: the dtype of e, c, bias (CUDA's tensor-core allowance).
// grad_loss: empty = 1 (NULL). filter_eps: the resolved threshold the backend
// uses (0 = exact).
ExpectedGrads expect_grads(const engram_test::RefProblem& p, const ExpectedForward& fwd,
                           engram_backend backend, engram_dtype input_dtype,
                           engram_dtype grad_dtype, const std::vector<float>& grad_loss,
                           double filter_eps);

// Shard statistics over columns [start, stop) with bounds.
struct ExpectedShard {
    engram_test::RefShard ref;
    std::vector<double> shard_lse_bound, target_logit_bound, logit_sum_bound;
};
ExpectedShard expect_shard(const engram_test::RefProblem& p, const ExpectedForward& fwd,
                           int64_t start, int64_t stop);

// Bounds of the combine step's outputs given fp32 shard statistics that are
// within the shard bounds of the reference: the forward's loss and lse bounds
// plus the combine's own rounding.
struct ExpectedCombine {
    std::vector<double> loss, loss_bound, lse, lse_bound;
};
ExpectedCombine expect_combine(const engram_test::RefProblem& p, const ExpectedForward& fwd,
                               int64_t num_shards);

// The AUTO filter threshold of engram.h for an input dtype.
double auto_filter_eps(engram_dtype dtype);

}  // namespace engram_suite
