// cce_cpu.cpp — CPU entry points of fused linear cross-entropy: turn the passes'
// per-token statistics into losses, set up gradient destinations, write the
// outputs in the caller's layout (ignored tokens get zeros).
#include "ops/cce/cce_backend.hpp"

#include <cstring>

#include "core/error.hpp"
#include "core/op_stats.hpp"
#include "ops/cce/cce_math.h"
#include "ops/cce/cpu/cce_passes.hpp"

// The entry points, in the order of the dispatch table at the end.
namespace engram::cpu {

void cce_forward(engram_context& ctx, const CceProblem& p, float* loss, float* lse);

void cce_backward(engram_context& ctx, const CceProblem& p, const float* lse,
                  const float* grad_loss, const CceGrads& grads);

void cce_forward_backward(engram_context& ctx, const CceProblem& p, const float* grad_loss,
                          float* loss, float* lse, const CceGrads& grads);

void cce_shard_forward(engram_context& ctx, const CceProblem& p, float* shard_lse,
                       float* target_logit, float* logit_sum);

// Merges per-shard statistics into loss and lse (host arrays).
void cce_shard_combine(int64_t n, int64_t num_shards, int64_t vocab_total,
                       const float* shard_lse, const float* target_logit,
                       const float* logit_sum, const void* targets, engram_dtype target_dtype,
                       const CceProblem& opts, float* loss, float* lse);

}  // namespace engram::cpu

namespace engram::cpu {

namespace {

// Per-valid-token statistics from a pass.
struct TokenStats {
    HostScratch m, s, tgt, lsum;
    TokenStats(CceRun& r, bool with_lsum)
        : m(r.ctx, 4 * r.count()),
          s(r.ctx, 4 * r.count()),
          tgt(r.ctx, 4 * r.count()),
          lsum(r.ctx, with_lsum ? 4 * r.count() : 0) {}
    float* lsum_ptr() { return lsum.bytes() ? lsum.as<float>() : nullptr; }
    float lse(int64_t k) const { return lse_value(LseState{m.as<float>()[k], s.as<float>()[k]}); }
};

// Upstream gradient of each valid token's loss.
HostScratch upstream(CceRun& r, const float* grad_loss) {
    const CceProblem& p = r.p;
    HostScratch buf(r.ctx, 4 * r.count());
    float* up = buf.as<float>();
    float scalar = grad_loss && p.reduction != ENGRAM_REDUCTION_NONE ? grad_loss[0] : 1.0f;
    if (p.reduction == ENGRAM_REDUCTION_MEAN) scalar = r.count() > 0 ? scalar / float(r.count()) : 0.0f;
    for (int64_t k = 0; k < r.count(); ++k)
        up[k] = p.reduction == ENGRAM_REDUCTION_NONE && grad_loss ? grad_loss[r.tokens.rows[size_t(k)]]
                                                                  : scalar;
    return buf;
}

// Loss per the reduction, and lse per token (0 for ignored tokens).
void write_loss(CceRun& r, const TokenStats& st, float* loss, float* lse) {
    const CceProblem& p = r.p;
    if (p.reduction == ENGRAM_REDUCTION_NONE) std::memset(loss, 0, sizeof(float) * size_t(p.n));
    if (lse) std::memset(lse, 0, sizeof(float) * size_t(p.n));
    double sum = 0.0;  // fixed order: deterministic for a given thread count
    for (int64_t k = 0; k < r.count(); ++k) {
        const float l = st.lse(k);
        const float tok = cce_token_loss(l, st.tgt.as<float>()[k],
                                         st.lsum.bytes() ? st.lsum.as<float>()[k] : 0.0f,
                                         p.inv_vocab(), p.smoothing, p.z_loss);
        const int64_t row = r.tokens.rows[size_t(k)];
        if (p.reduction == ENGRAM_REDUCTION_NONE) loss[row] = tok;
        sum += tok;
        if (lse) lse[row] = l;
    }
    if (p.reduction == ENGRAM_REDUCTION_SUM) loss[0] = float(sum);
    if (p.reduction == ENGRAM_REDUCTION_MEAN)
        loss[0] = r.count() > 0 ? float(sum / double(r.count())) : 0.0f;
}

// Gradient destinations: f32 outputs are accumulated in place (zeroed first);
// 16-bit outputs get f32 accumulators, rounded once at the end (finish()).
class GradOutputs {
public:
    GradOutputs(CceRun& r, const CceGrads& g) : r_(r), g_(g) {
        const int64_t v = r.p.v, d = r.p.d;
        const bool f32 = g.dtype == ENGRAM_DTYPE_F32;
        if (g.grad_c) {
            if (!f32) dc_stage_ = HostScratch(r.ctx, 4 * v * d);
            dest_.dc = f32 ? static_cast<float*>(g.grad_c) : dc_stage_.as<float>();
            zero(dest_.dc, v * d);
        }
        if (g.grad_bias) {
            if (!f32) db_stage_ = HostScratch(r.ctx, 4 * v);
            dest_.dbias = f32 ? static_cast<float*>(g.grad_bias) : db_stage_.as<float>();
            std::memset(dest_.dbias, 0, sizeof(float) * size_t(v));
        }
        dest_.grad_e = g.grad_e;
        dest_.grad_e_dtype = g.dtype;
    }

    const GradDest& dest() const { return dest_; }

    // Rounds staged gradients and zeroes grad_e rows of ignored tokens.
    void finish() {
        const CceProblem& p = r_.p;
        const size_t gs = engram_dtype_size(g_.dtype);
        if (g_.grad_c && dc_stage_.bytes())
            r_.ctx.pool->parallel_for(p.v, 64, [&](int64_t a, int64_t b, int) {
                r_.k.from_f32(dest_.dc + a * p.d, (b - a) * p.d, g_.dtype,
                              static_cast<char*>(g_.grad_c) + size_t(a * p.d) * gs);
            });
        if (g_.grad_bias && db_stage_.bytes()) r_.k.from_f32(dest_.dbias, p.v, g_.dtype, g_.grad_bias);
        if (g_.grad_e) {
            size_t k = 0;
            for (int64_t i = 0; i < p.n; ++i) {
                if (k < r_.tokens.rows.size() && r_.tokens.rows[k] == i) {
                    ++k;
                    continue;
                }
                std::memset(static_cast<char*>(g_.grad_e) + size_t(i * p.d) * gs, 0, size_t(p.d) * gs);
            }
        }
    }

private:
    void zero(float* x, int64_t count) {
        r_.ctx.pool->parallel_for(count, int64_t(1) << 16, [&](int64_t a, int64_t b, int) {
            std::memset(x + a, 0, sizeof(float) * size_t(b - a));
        });
    }

    CceRun& r_;
    const CceGrads& g_;
    GradDest dest_;
    HostScratch dc_stage_, db_stage_;
};

void record(CceRun& r, const FilterCount* count) {
    op_stats_set(r.ctx.last_op, "tokens_valid", uint64_t(r.count()));
    if (count) {
        op_stats_set(r.ctx.last_op, "blocks_total", count->total.load());
        op_stats_set(r.ctx.last_op, "blocks_skipped", count->skipped.load());
    }
}

}  // namespace

void cce_forward(engram_context& ctx, const CceProblem& p, float* loss, float* lse) {
    CceRun r(ctx, p);
    TokenStats st(r, p.smoothing > 0.0f);
    stats_pass(r, st.m.as<float>(), st.s.as<float>(), st.tgt.as<float>(), st.lsum_ptr());
    write_loss(r, st, loss, lse);
    record(r, nullptr);
}

void cce_backward(engram_context& ctx, const CceProblem& p, const float* lse,
                  const float* grad_loss, const CceGrads& grads) {
    CceRun r(ctx, p);
    HostScratch lse_tok(ctx, 4 * r.count());
    float* l = lse_tok.as<float>();
    if (lse) {
        for (int64_t k = 0; k < r.count(); ++k) l[k] = lse[r.tokens.rows[size_t(k)]];
    } else {
        TokenStats st(r, false);
        stats_pass(r, st.m.as<float>(), st.s.as<float>(), st.tgt.as<float>(), nullptr);
        for (int64_t k = 0; k < r.count(); ++k) l[k] = st.lse(k);
    }
    const HostScratch up = upstream(r, grad_loss);
    GradOutputs out(r, grads);
    FilterCount count;
    grad_pass(r, l, up.as<float>(), out.dest(), count);
    out.finish();
    record(r, &count);
}

void cce_forward_backward(engram_context& ctx, const CceProblem& p, const float* grad_loss,
                          float* loss, float* lse, const CceGrads& grads) {
    CceRun r(ctx, p);
    TokenStats st(r, p.smoothing > 0.0f);
    const HostScratch up = upstream(r, grad_loss);
    GradOutputs out(r, grads);
    FilterCount count;
    fused_pass(r, up.as<float>(), out.dest(), count, st.m.as<float>(), st.s.as<float>(),
               st.tgt.as<float>(), st.lsum_ptr());
    out.finish();
    write_loss(r, st, loss, lse);
    record(r, &count);
}

void cce_shard_forward(engram_context& ctx, const CceProblem& p, float* shard_lse,
                       float* target_logit, float* logit_sum) {
    CceRun r(ctx, p);
    TokenStats st(r, logit_sum != nullptr);
    stats_pass(r, st.m.as<float>(), st.s.as<float>(), st.tgt.as<float>(), st.lsum_ptr());
    std::memset(shard_lse, 0, sizeof(float) * size_t(p.n));
    std::memset(target_logit, 0, sizeof(float) * size_t(p.n));
    if (logit_sum) std::memset(logit_sum, 0, sizeof(float) * size_t(p.n));
    for (int64_t k = 0; k < r.count(); ++k) {
        const int64_t row = r.tokens.rows[size_t(k)];
        shard_lse[row] = st.lse(k);
        target_logit[row] = st.tgt.as<float>()[k];
        if (logit_sum) logit_sum[row] = st.lsum.as<float>()[k];
    }
    record(r, nullptr);
}

void cce_shard_combine(int64_t n, int64_t num_shards, int64_t vocab_total,
                       const float* shard_lse, const float* target_logit,
                       const float* logit_sum, const void* targets, engram_dtype target_dtype,
                       const CceProblem& o, float* loss, float* lse) {
    const int64_t valid =
        count_valid_targets(targets, target_dtype, n, o.ignore_index, vocab_total, o.check_targets);
    double sum = 0.0;
    const float inv_vocab = 1.0f / float(vocab_total);
    for (int64_t i = 0; i < n; ++i) {
        float token_loss = 0.0f, token_lse = 0.0f;
        if (load_target(targets, target_dtype, i) != o.ignore_index) {
            LseState st = lse_empty();
            for (int64_t s = 0; s < num_shards; ++s)
                st = lse_merge(st, lse_single(shard_lse[s * n + i]));
            token_lse = lse_value(st);
            token_loss = cce_token_loss(token_lse, target_logit[i], logit_sum ? logit_sum[i] : 0.0f,
                                        inv_vocab, o.smoothing, o.z_loss);
        }
        if (lse) lse[i] = token_lse;
        if (o.reduction == ENGRAM_REDUCTION_NONE)
            loss[i] = token_loss;
        else
            sum += token_loss;
    }
    if (o.reduction == ENGRAM_REDUCTION_SUM) loss[0] = float(sum);
    if (o.reduction == ENGRAM_REDUCTION_MEAN) loss[0] = valid > 0 ? float(sum / double(valid)) : 0.0f;
}

}  // namespace engram::cpu

namespace engram {

const CceBackend& cce_cpu_backend() {
    static const CceBackend table{
        cpu::cce_forward, cpu::cce_backward, cpu::cce_forward_backward, cpu::cce_shard_forward,
        [](engram_context&, int64_t num_shards, const float* shard_lse, const float* target_logit,
           const float* logit_sum, const CceProblem& o, float* loss, float* lse) {
            cpu::cce_shard_combine(o.n, num_shards, o.vocab_total, shard_lse, target_logit,
                                   logit_sum, o.targets, o.target_dtype, o, loss, lse);
        }};
    return table;
}

}  // namespace engram
