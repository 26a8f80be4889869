// cce_fuzz.hpp — the CCE part of the fuzz harness (cce_problem.cpp builds the
// call, cce_faults.cpp breaks it, cce_check.cpp checks the results).
#pragma once

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "ops/cce/reference/cce_reference.hpp"

namespace fuzz {

enum CceOp { FORWARD, BACKWARD, FORWARD_BACKWARD, SHARD_FORWARD, SHARD_COMBINE, kCceOps };
const char* op_name(CceOp op);

constexpr int64_t kMaxDim = 64;  // n, d, v (and a shard's extra vocabulary)

// A valid problem drawn from the input: shapes, dtypes, options, which optional
// tensors are passed, and the values (the reference holds them exactly as the
// library reads them, i.e. already rounded to 16 bits where the dtype is).
struct Problem {
    CceOp op = FORWARD;
    int32_t dtype = ENGRAM_DTYPE_F32, tdtype = ENGRAM_DTYPE_I64;
    int64_t n = 1, d = 1, v = 1;   // v: classifier rows passed
    int64_t vt = 1, start = 0;     // whole vocabulary; c holds rows [start, start + v)
    bool explicit_vt = false;      // vocab_total == v spelled out instead of 0
    int64_t shards = 1;            // SHARD_COMBINE: shards the vocabulary is split into
    bool bias = false, c_is_e = false, specials = false;
    engram_cce_options opts{};     // resolved values; passed as NULL when opts_null
    bool opts_null = false;
    float filter_eps = 0.0f;       // resolved (AUTO by dtype)
    bool want_lse = false, lse_in = false, want_logit_sum = false, grad_loss_null = true;
    int32_t grad_dtype = ENGRAM_DTYPE_F32;
    bool ge = true, gc = true, gb = false;
    engram_test::RefProblem ref;   // whole vocabulary
    std::vector<uint8_t> e_raw, c_raw, bias_raw, t_raw;  // c, bias: all vt rows
    std::vector<float> grad_loss;  // loss_count() entries

    bool sharded() const { return start != 0 || v != vt; }
    size_t loss_count() const { return opts.reduction == ENGRAM_REDUCTION_NONE ? size_t(n) : 1; }
    size_t es() const { return dtype == ENGRAM_DTYPE_F32 ? 4 : 2; }
    size_t ts() const { return tdtype == ENGRAM_DTYPE_I64 ? 8 : 4; }
    size_t gs() const { return grad_dtype == ENGRAM_DTYPE_F32 ? 4 : 2; }
    int64_t valid() const { return ref.valid_count(); }
    std::string describe() const;
};

Problem make_problem(FuzzedDataProvider& in, CceOp op);

// Every argument of one CCE call.
struct Call {
    CceOp op = FORWARD;
    engram_context* ctx = nullptr;
    engram_cce_inputs in{};
    engram_cce_options opts{};
    engram_cce_grads grads{};
    bool in_null = false, opts_null = false, grads_null = false;
    float *loss = nullptr, *lse = nullptr;                 // outputs
    const float *lse_in = nullptr, *grad_loss = nullptr;   // backward inputs
    float *shard_lse = nullptr, *target_logit = nullptr, *logit_sum = nullptr;  // shard_forward
    int64_t cn = 0, cshards = 0, cvocab = 0;               // shard_combine
    const float *cs_lse = nullptr, *cs_tl = nullptr, *cs_ls = nullptr;
    const void* ctargets = nullptr;
    int32_t ctdtype = ENGRAM_DTYPE_I64;
};

engram_status invoke(const Call& k);

// Combine inputs from the reference: shard_lse [shards, n], summed
// target_logit and logit_sum [n].
struct CombineInputs {
    std::vector<float> shard_lse, target_logit, logit_sum;
};
CombineInputs combine_inputs(const Problem& p);

// Buffers for a valid call of p.op. `lse_values` fills the backward's lse input.
Call build_call(const Problem& p, Arena& a, engram_context* ctx, const std::vector<float>& lse_values,
                const CombineInputs& ci);

// A pointer argument of a call, for faults that move it.
struct Slot {
    std::string name;  // as engram_last_error() names it
    size_t bytes = 0, align = 1;
    bool output = false;
    std::function<const void*()> get;
    std::function<void(void*)> set;
};
std::vector<Slot> slots(const Problem& p, Call& k);

// Applies at most one fault, chosen by the input. Returns a label ("" if the
// call stays valid) and sets what the call must return. `unchecked`: a valid
// call whose results are undefined (targets out of range with check_targets 0).
std::string inject_fault(FuzzedDataProvider& in, const Problem& p, Arena& a, Call& k, Expect& x,
                         bool& unchecked);

// Results of a valid call against the float64 reference.
void check_results(const Problem& p, const Call& k);

}  // namespace fuzz
