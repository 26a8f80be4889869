// cce_harness.hpp — CCE test cases end to end: generate inputs (seeded, rounded
// to the dtype), run an engram_cce_* entry point on a backend (uploading inputs
// and downloading outputs through the test_util adapter), and compute the
// reference values together with an error bound for every output entry.
//
// The error model and the reference values with per-entry bounds live in the
// CCE case suite (perf/native/suites/cce_tolerance.hpp), shared with
// engram-bench verify; this harness adds the GoogleTest checks.
#pragma once

#include <string>
#include <vector>

#include "cce_tolerance.hpp"
#include "ops/cce/reference/cce_reference.hpp"
#include "../../common/test_util.hpp"

namespace engram_test {

struct CceSpec {
    int64_t n = 8, d = 16, v = 32;
    engram_dtype dtype = ENGRAM_DTYPE_F32;
    engram_dtype target_dtype = ENGRAM_DTYPE_I64;
    bool bias = false;
    double logit_std = 2.0;   // standard deviation of e . c
    double bias_std = 1.0;
    double bias_shift = 0.0;  // added to every bias entry (needs bias)
    double ignore_frac = 0.0; // exact fraction of tokens set to ignore_index
    int64_t target_range = 0; // targets drawn from [0, target_range); 0 = [0, v)
    double peak = 0.0;        // > 0: e[i] points at c[t_i + peak_offset], that logit ~ peak
    int64_t peak_offset = 0;  // 0: peaked at the target; else at another id (confidently wrong)
    uint64_t seed = 1;
    // options
    int reduction = ENGRAM_REDUCTION_MEAN;
    int64_t ignore_index = -100;
    float softcap = 0.0f;
    float smoothing = 0.0f;
    float z_loss = 0.0f;
    float filter_eps = 0.0f;  // exact unless a test asks for filtering

    std::string label() const;
};

struct CceData {
    CceSpec spec;
    std::vector<float> e, c, bias;  // values after rounding to spec.dtype
    std::vector<int64_t> targets;
    std::vector<uint8_t> e_raw, c_raw, bias_raw, targets_raw;

    RefProblem ref() const;
    engram_cce_options options() const;
    int64_t valid() const;
};

CceData make_cce_data(const CceSpec& spec);

// Inputs resident on a backend. `c_begin`/`c_end` select classifier rows (a
// vocabulary shard: vocab_start = c_begin, vocab_total = spec.v); the default
// is the whole, unsharded vocabulary.
struct CceBackendInputs {
    Buffer e, c, bias, targets;
    engram_cce_inputs in{};
};
CceBackendInputs upload_inputs(Context& ctx, const CceData& data, int64_t c_begin = 0,
                               int64_t c_end = -1);

struct GradRequest {
    engram_dtype dtype = ENGRAM_DTYPE_F32;
    bool e = true, c = true, bias = true;  // bias only if the data has one
};

struct CceResult {
    engram_status status = ENGRAM_ERR_INTERNAL;
    std::string error;
    std::vector<float> loss, lse;
    std::vector<float> shard_lse, target_logit, logit_sum;
    std::vector<float> grad_e, grad_c, grad_bias;
    engram_op_stats stats{};
    bool ok() const { return status == ENGRAM_OK; }
};

#define ASSERT_RUN_OK(result)                                                          \
    ASSERT_EQ(ENGRAM_OK, (result).status) << ::engram_test::status_text((result).status) \
                                          << ": " << (result).error

CceResult run_forward(Context& ctx, const CceData& data, const engram_cce_options& opts,
                      bool want_lse = true);
// lse / grad_loss: nullptr = pass NULL.
CceResult run_backward(Context& ctx, const CceData& data, const engram_cce_options& opts,
                       const std::vector<float>* lse, const std::vector<float>* grad_loss,
                       GradRequest request = {});
CceResult run_forward_backward(Context& ctx, const CceData& data, const engram_cce_options& opts,
                               const std::vector<float>* grad_loss, GradRequest request = {},
                               bool want_lse = true);
// Vocabulary shard [c_begin, c_end): shard_lse, target_logit, logit_sum.
CceResult run_shard_forward(Context& ctx, const CceData& data, const engram_cce_options& opts,
                            int64_t c_begin, int64_t c_end, bool want_logit_sum = true);
// Backward of a shard with the global lse: grad_c/grad_bias are the shard's rows.
CceResult run_shard_backward(Context& ctx, const CceData& data, const engram_cce_options& opts,
                             int64_t c_begin, int64_t c_end, const std::vector<float>& lse,
                             const std::vector<float>* grad_loss, GradRequest request = {});
// shard_lse: [num_shards * n]; logit_sum may be null.
CceResult run_shard_combine(Context& ctx, const CceData& data, const engram_cce_options& opts,
                            int64_t num_shards, const std::vector<float>& shard_lse,
                            const std::vector<float>& target_logit,
                            const std::vector<float>* logit_sum, bool want_lse = true);

// Reference values and per-entry bounds (cce_tolerance.hpp).
using engram_suite::ExpectedForward;
using engram_suite::ExpectedGrads;
using engram_suite::auto_filter_eps;
ExpectedForward expect_forward(const CceData& data);
// grad_loss: empty = 1 (NULL). filter_eps: the resolved threshold the backend
// uses (0 = exact).
ExpectedGrads expect_grads(const CceData& data, const ExpectedForward& fwd, engram_backend backend,
                           engram_dtype grad_dtype, const std::vector<float>& grad_loss,
                           double filter_eps);

// Compare a result with the expectation (only the outputs the result holds).
void check_forward(const CceResult& r, const ExpectedForward& x);
void check_grads(const CceResult& r, const ExpectedGrads& x, const CceData& data,
                 const GradRequest& request = {});

}  // namespace engram_test
