// cce_api.cpp — the CCE entry points: validate every argument, resolve the
// options, then dispatch to the context's backend.
#include <cmath>
#include <cstring>

#include "api/backend_table.hpp"
#include "ops/cce/cce_backend.hpp"
#include "ops/cce/cce_problem.hpp"
#include "cuda/cuda_backend.hpp"
#include "ops/cce/cce_math.h"
#include "api/run_op.hpp"
#include "api/tensor_checks.hpp"

using namespace engram;

namespace {

void require_finite_nonneg(float x, const char* name) {
    if (!std::isfinite(x) || x < 0.0f)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("%s must be finite and >= 0, got %g", name, double(x)));
}

void resolve_options(const engram_cce_options* opts, CceProblem& p) {
    engram_cce_options o;
    engram_cce_options_init(&o);
    if (opts) {
        require_struct_size(opts->struct_size, sizeof *opts, "opts", "engram_cce_options_init");
        o = *opts;
    }
    if (o.reduction < ENGRAM_REDUCTION_NONE || o.reduction > ENGRAM_REDUCTION_MEAN)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("opts->reduction %d is not an engram_reduction", o.reduction));
    require_finite_nonneg(o.softcap, "opts->softcap");
    require_finite_nonneg(o.z_loss, "opts->z_loss");
    if (!std::isfinite(o.label_smoothing) || o.label_smoothing < 0.0f || o.label_smoothing >= 1.0f)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("opts->label_smoothing must be in [0, 1), got %g", double(o.label_smoothing)));
    if (std::isnan(o.filter_eps) || std::isinf(o.filter_eps))
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("opts->filter_eps must be finite (negative = automatic), got %g",
                    double(o.filter_eps)));
    if (o.check_targets != 0 && o.check_targets != 1)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("opts->check_targets must be 0 or 1, got %d", o.check_targets));
    p.reduction = engram_reduction(o.reduction);
    p.ignore_index = o.ignore_index;
    p.softcap = o.softcap;
    p.smoothing = o.label_smoothing;
    p.z_loss = o.z_loss;
    p.check_targets = o.check_targets != 0;
    p.scratch_bytes = o.scratch_bytes;
    p.filter_eps = o.filter_eps < 0.0f ? cce_default_filter_eps(p.dtype) : o.filter_eps;
}

void require_target_dtype(int32_t dtype, const char* name) {
    if (dtype != ENGRAM_DTYPE_I32 && dtype != ENGRAM_DTYPE_I64)
        fail(ENGRAM_ERR_UNSUPPORTED,
             format("%s = %d (%s) is not supported: use I32 or I64", name, dtype,
                    dtype_name(dtype)));
}

// `arg` is the parameter's name in messages ("in", or "shard" for the shard
// entry point).
CceProblem validate_inputs(engram_context& ctx, const engram_cce_inputs* in,
                           const engram_cce_options* opts, const char* arg) {
    const std::string a(arg);
    auto field = [&](const char* f) { return a + "->" + f; };
    require_not_null(in, arg);
    require_struct_size(in->struct_size, sizeof *in, arg, "engram_cce_inputs_init");
    CceProblem p;
    require_float_dtype(in->dtype, field("dtype").c_str());
    require_target_dtype(in->target_dtype, field("target_dtype").c_str());
    p.dtype = engram_dtype(in->dtype);
    p.target_dtype = engram_dtype(in->target_dtype);
    require_dim(in->n, field("n").c_str());
    require_dim(in->d, field("d").c_str());
    require_dim(in->v, field("v").c_str());
    p.n = in->n;
    p.d = in->d;
    p.v = in->v;
    p.vocab_total = in->vocab_total == 0 ? in->v : in->vocab_total;
    p.vocab_start = in->vocab_start;
    if (in->vocab_total != 0) require_dim(in->vocab_total, field("vocab_total").c_str());
    if (p.vocab_total < p.v)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("%s (%lld) is smaller than %s (%lld)", field("vocab_total").c_str(),
                    (long long)p.vocab_total, field("v").c_str(), (long long)p.v));
    if (p.vocab_start < 0 || p.vocab_start > p.vocab_total - p.v)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("%s = %lld: the shard [vocab_start, vocab_start + v) must lie in [0, %lld)",
                    field("vocab_start").c_str(), (long long)p.vocab_start,
                    (long long)p.vocab_total));
    require_not_null(in->e, field("e").c_str());
    require_not_null(in->c, field("c").c_str());
    require_not_null(in->targets, field("targets").c_str());
    const uint64_t es = engram_dtype_size(p.dtype), ts = engram_dtype_size(p.target_dtype);
    require_aligned(in->e, es, field("e").c_str());
    require_aligned(in->c, es, field("c").c_str());
    require_aligned(in->bias, es, field("bias").c_str());
    require_aligned(in->targets, ts, field("targets").c_str());
    check_buffer(ctx, in->e, checked_bytes(p.n, p.d, es, (field("e") + " [n, d]").c_str()),
                 field("e").c_str());
    check_buffer(ctx, in->c, checked_bytes(p.v, p.d, es, (field("c") + " [v, d]").c_str()),
                 field("c").c_str());
    check_buffer(ctx, in->bias, uint64_t(p.v) * es, field("bias").c_str());
    check_buffer(ctx, in->targets, uint64_t(p.n) * ts, field("targets").c_str());
    p.e = in->e;
    p.c = in->c;
    p.bias = in->bias;
    p.targets = in->targets;
    resolve_options(opts, p);
    return p;
}

// The inputs' byte ranges, for the overlap check.
std::vector<TensorSpan> input_spans(const CceProblem& p, const char* arg) {
    const std::string a(arg);
    const uint64_t es = engram_dtype_size(p.dtype);
    return {{p.e, uint64_t(p.n) * uint64_t(p.d) * es, a + "->e", false},
            {p.c, uint64_t(p.v) * uint64_t(p.d) * es, a + "->c", false},
            {p.bias, uint64_t(p.v) * es, a + "->bias", false},
            {p.targets, uint64_t(p.n) * engram_dtype_size(p.target_dtype), a + "->targets", false}};
}

void require_unsharded(const CceProblem& p, const char* alternative) {
    if (p.sharded())
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("in describes a vocabulary shard (vocab_start %lld, vocab_total %lld, v %lld); "
                    "use %s",
                    (long long)p.vocab_start, (long long)p.vocab_total, (long long)p.v,
                    alternative));
}

uint64_t loss_count(const CceProblem& p) {
    return p.reduction == ENGRAM_REDUCTION_NONE ? uint64_t(p.n) : 1;
}

void check_f32_output(engram_context& ctx, const float* p, uint64_t count, const char* name) {
    require_aligned(p, 4, name);
    check_buffer(ctx, p, count * 4, name);
}

CceGrads validate_grads(engram_context& ctx, const CceProblem& p, const engram_cce_grads* grads,
                        std::vector<TensorSpan>& spans) {
    require_not_null(grads, "grads");
    require_struct_size(grads->struct_size, sizeof *grads, "grads", "engram_cce_grads_init");
    if (grads->dtype != ENGRAM_DTYPE_F32 && grads->dtype != p.dtype)
        fail(ENGRAM_ERR_UNSUPPORTED,
             format("grads->dtype = %d (%s): gradients are written as F32 or as the inputs' "
                    "dtype (%s)",
                    grads->dtype, dtype_name(grads->dtype), dtype_name(p.dtype)));
    CceGrads g;
    g.dtype = engram_dtype(grads->dtype);
    g.grad_e = grads->grad_e;
    g.grad_c = grads->grad_c;
    g.grad_bias = grads->grad_bias;
    if (!g.any())
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             "grads has no output: set at least one of grad_e, grad_c, grad_bias");
    if (g.grad_bias && !p.bias)
        fail(ENGRAM_ERR_INVALID_ARGUMENT, "grads->grad_bias is set but in->bias is NULL");
    const uint64_t gs = engram_dtype_size(g.dtype);
    const uint64_t ge_bytes = uint64_t(p.n) * uint64_t(p.d) * gs;
    const uint64_t gc_bytes = uint64_t(p.v) * uint64_t(p.d) * gs;
    const uint64_t gb_bytes = uint64_t(p.v) * gs;
    require_aligned(g.grad_e, gs, "grads->grad_e");
    require_aligned(g.grad_c, gs, "grads->grad_c");
    require_aligned(g.grad_bias, gs, "grads->grad_bias");
    check_buffer(ctx, g.grad_e, ge_bytes, "grads->grad_e");
    check_buffer(ctx, g.grad_c, gc_bytes, "grads->grad_c");
    check_buffer(ctx, g.grad_bias, gb_bytes, "grads->grad_bias");
    spans.push_back({g.grad_e, ge_bytes, "grads->grad_e", true});
    spans.push_back({g.grad_c, gc_bytes, "grads->grad_c", true});
    spans.push_back({g.grad_bias, gb_bytes, "grads->grad_bias", true});
    return g;
}

const CceBackend& cce_backend(const engram_context& c) {
    return backend_table(c, cce_cpu_backend(), cce_cuda_backend(), "cce");
}

}  // namespace

extern "C" {

ENGRAM_API engram_status engram_cce_options_init(engram_cce_options* opts) {
    return guard(__func__, [&] {
        require_not_null(opts, "opts");
        std::memset(opts, 0, sizeof *opts);
        opts->struct_size = sizeof *opts;
        opts->reduction = ENGRAM_REDUCTION_MEAN;
        opts->ignore_index = -100;
        opts->filter_eps = ENGRAM_FILTER_EPS_AUTO;
        opts->check_targets = 1;
    });
}

ENGRAM_API engram_status engram_cce_inputs_init(engram_cce_inputs* inputs) {
    return guard(__func__, [&] {
        require_not_null(inputs, "inputs");
        std::memset(inputs, 0, sizeof *inputs);
        inputs->struct_size = sizeof *inputs;
        inputs->dtype = ENGRAM_DTYPE_F32;
        inputs->target_dtype = ENGRAM_DTYPE_I64;
    });
}

ENGRAM_API engram_status engram_cce_grads_init(engram_cce_grads* grads) {
    return guard(__func__, [&] {
        require_not_null(grads, "grads");
        std::memset(grads, 0, sizeof *grads);
        grads->struct_size = sizeof *grads;
        grads->dtype = ENGRAM_DTYPE_F32;
    });
}

ENGRAM_API engram_status engram_cce_forward(engram_context* ctx, const engram_cce_inputs* in,
                                            const engram_cce_options* opts, float* loss,
                                            float* lse) {
    return run_op(__func__, ENGRAM_OP_CCE_FORWARD, ctx, [&](engram_context& c) {
        CceProblem p = validate_inputs(c, in, opts, "in");
        require_unsharded(p, "engram_cce_shard_forward");
        require_not_null(loss, "loss");
        check_f32_output(c, loss, loss_count(p), "loss");
        check_f32_output(c, lse, uint64_t(p.n), "lse");
        std::vector<TensorSpan> spans = input_spans(p, "in");
        spans.push_back({loss, loss_count(p) * 4, "loss", true});
        spans.push_back({lse, uint64_t(p.n) * 4, "lse", true});
        require_disjoint(spans);
        cce_backend(c).forward(c, p, loss, lse);
    });
}

ENGRAM_API engram_status engram_cce_backward(engram_context* ctx, const engram_cce_inputs* in,
                                             const engram_cce_options* opts, const float* lse,
                                             const float* grad_loss,
                                             const engram_cce_grads* grads) {
    return run_op(__func__, ENGRAM_OP_CCE_BACKWARD, ctx, [&](engram_context& c) {
        CceProblem p = validate_inputs(c, in, opts, "in");
        if (p.sharded() && !lse)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 "lse is NULL: a vocabulary shard's backward needs the global lse from "
                 "engram_cce_shard_combine");
        check_f32_output(c, lse, uint64_t(p.n), "lse");
        check_f32_output(c, grad_loss, loss_count(p), "grad_loss");
        std::vector<TensorSpan> spans = input_spans(p, "in");
        spans.push_back({lse, uint64_t(p.n) * 4, "lse", false});
        spans.push_back({grad_loss, loss_count(p) * 4, "grad_loss", false});
        CceGrads g = validate_grads(c, p, grads, spans);
        require_disjoint(spans);
        cce_backend(c).backward(c, p, lse, grad_loss, g);
    });
}

ENGRAM_API engram_status engram_cce_forward_backward(engram_context* ctx,
                                                     const engram_cce_inputs* in,
                                                     const engram_cce_options* opts,
                                                     const float* grad_loss, float* loss,
                                                     float* lse, const engram_cce_grads* grads) {
    return run_op(__func__, ENGRAM_OP_CCE_FORWARD_BACKWARD, ctx, [&](engram_context& c) {
        CceProblem p = validate_inputs(c, in, opts, "in");
        require_unsharded(p, "engram_cce_shard_forward, engram_cce_shard_combine and "
                             "engram_cce_backward");
        require_not_null(loss, "loss");
        check_f32_output(c, loss, loss_count(p), "loss");
        check_f32_output(c, lse, uint64_t(p.n), "lse");
        check_f32_output(c, grad_loss, loss_count(p), "grad_loss");
        std::vector<TensorSpan> spans = input_spans(p, "in");
        spans.push_back({grad_loss, loss_count(p) * 4, "grad_loss", false});
        spans.push_back({loss, loss_count(p) * 4, "loss", true});
        spans.push_back({lse, uint64_t(p.n) * 4, "lse", true});
        CceGrads g = validate_grads(c, p, grads, spans);
        require_disjoint(spans);
        cce_backend(c).forward_backward(c, p, grad_loss, loss, lse, g);
    });
}

ENGRAM_API engram_status engram_cce_shard_forward(engram_context* ctx,
                                                  const engram_cce_inputs* shard,
                                                  const engram_cce_options* opts,
                                                  float* shard_lse, float* target_logit,
                                                  float* logit_sum) {
    return run_op(__func__, ENGRAM_OP_CCE_SHARD_FORWARD, ctx, [&](engram_context& c) {
        CceProblem p = validate_inputs(c, shard, opts, "shard");
        require_not_null(shard_lse, "shard_lse");
        require_not_null(target_logit, "target_logit");
        if (p.smoothing > 0.0f) require_not_null(logit_sum, "logit_sum (label_smoothing > 0)");
        check_f32_output(c, shard_lse, uint64_t(p.n), "shard_lse");
        check_f32_output(c, target_logit, uint64_t(p.n), "target_logit");
        check_f32_output(c, logit_sum, uint64_t(p.n), "logit_sum");
        std::vector<TensorSpan> spans = input_spans(p, "shard");
        spans.push_back({shard_lse, uint64_t(p.n) * 4, "shard_lse", true});
        spans.push_back({target_logit, uint64_t(p.n) * 4, "target_logit", true});
        spans.push_back({logit_sum, uint64_t(p.n) * 4, "logit_sum", true});
        require_disjoint(spans);
        cce_backend(c).shard_forward(c, p, shard_lse, target_logit, logit_sum);
    });
}

ENGRAM_API engram_status engram_cce_shard_combine(engram_context* ctx, int64_t n,
                                                  int64_t num_shards, int64_t vocab_total,
                                                  const float* shard_lse,
                                                  const float* target_logit,
                                                  const float* logit_sum, const void* targets,
                                                  engram_dtype target_dtype,
                                                  const engram_cce_options* opts, float* loss,
                                                  float* lse) {
    return run_op(__func__, ENGRAM_OP_CCE_SHARD_COMBINE, ctx, [&](engram_context& c) {
        require_dim(n, "n");
        require_dim(num_shards, "num_shards");
        require_dim(vocab_total, "vocab_total");
        if (num_shards > vocab_total)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("num_shards (%lld) exceeds vocab_total (%lld)", (long long)num_shards,
                        (long long)vocab_total));
        require_target_dtype(target_dtype, "target_dtype");
        require_not_null(shard_lse, "shard_lse");
        require_not_null(target_logit, "target_logit");
        require_not_null(targets, "targets");
        require_not_null(loss, "loss");
        CceProblem p;  // carries the options (and dtype for the AUTO filter)
        p.n = n;
        p.v = p.vocab_total = vocab_total;
        p.target_dtype = target_dtype;
        p.targets = targets;
        resolve_options(opts, p);
        if (p.smoothing > 0.0f) require_not_null(logit_sum, "logit_sum (label_smoothing > 0)");
        const uint64_t ts = engram_dtype_size(target_dtype);
        const uint64_t shard_lse_bytes = checked_bytes(num_shards, n, 4, "shard_lse");
        require_aligned(targets, ts, "targets");
        check_buffer(c, targets, uint64_t(n) * ts, "targets");
        check_f32_output(c, shard_lse, shard_lse_bytes / 4, "shard_lse");
        check_f32_output(c, target_logit, uint64_t(n), "target_logit");
        check_f32_output(c, logit_sum, uint64_t(n), "logit_sum");
        check_f32_output(c, loss, loss_count(p), "loss");
        check_f32_output(c, lse, uint64_t(n), "lse");
        require_disjoint({{shard_lse, shard_lse_bytes, "shard_lse", false},
                          {target_logit, uint64_t(n) * 4, "target_logit", false},
                          {logit_sum, uint64_t(n) * 4, "logit_sum", false},
                          {targets, uint64_t(n) * ts, "targets", false},
                          {loss, loss_count(p) * 4, "loss", true},
                          {lse, uint64_t(n) * 4, "lse", true}});
        cce_backend(c).shard_combine(c, num_shards, shard_lse, target_logit, logit_sum, p, loss,
                                     lse);
    });
}

}  // extern "C"
