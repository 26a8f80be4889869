// cce.cpp — CPU fused linear cross-entropy. FIRST VERSION: straightforward
// per-token loops (correct, slow); replaced by the tiled GEMM version.
#include "cce.hpp"

#include <cmath>
#include <cstring>
#include <vector>

#include "../core/error.hpp"
#include "../shared/cce_math.h"
#include "../shared/half.h"

namespace engram::cpu {

namespace {

float load(const void* p, engram_dtype dt, int64_t i) {
    switch (dt) {
        case ENGRAM_DTYPE_F16: return f16_to_f32(static_cast<const uint16_t*>(p)[i]);
        case ENGRAM_DTYPE_BF16: return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
        default: return static_cast<const float*>(p)[i];
    }
}

void store(void* p, engram_dtype dt, int64_t i, float x) {
    switch (dt) {
        case ENGRAM_DTYPE_F16: static_cast<uint16_t*>(p)[i] = f32_to_f16(x); break;
        case ENGRAM_DTYPE_BF16: static_cast<uint16_t*>(p)[i] = f32_to_bf16(x); break;
        default: static_cast<float*>(p)[i] = x;
    }
}

float logit(const CceProblem& p, int64_t row, int64_t col) {
    float acc = 0.0f;
    for (int64_t k = 0; k < p.d; ++k)
        acc += load(p.e, p.dtype, row * p.d + k) * load(p.c, p.dtype, col * p.d + k);
    if (p.bias) acc += load(p.bias, p.dtype, col);
    return softcap_apply(acc, p.softcap);
}

struct TokenStats {
    LseState lse;
    float target_logit;
    float logit_sum;
};

TokenStats token_stats(const CceProblem& p, int64_t row, int32_t target_col) {
    TokenStats s{lse_empty(), 0.0f, 0.0f};
    for (int64_t j = 0; j < p.v; ++j) {
        const float z = logit(p, row, j);
        s.lse = lse_merge(s.lse, LseState{z, 1.0f});
        s.logit_sum += z;
        if (j == target_col) s.target_logit = z;
    }
    return s;
}

float upstream(const CceProblem& p, const float* grad_loss, int64_t row, int64_t valid) {
    if (p.reduction == ENGRAM_REDUCTION_NONE) return grad_loss ? grad_loss[row] : 1.0f;
    const float g = grad_loss ? grad_loss[0] : 1.0f;
    if (p.reduction == ENGRAM_REDUCTION_MEAN) return valid > 0 ? g / float(valid) : 0.0f;
    return g;
}

void write_loss(const CceProblem& p, const ValidTokens& vt, const std::vector<float>& token_loss,
                float* loss) {
    if (p.reduction == ENGRAM_REDUCTION_NONE) {
        std::memset(loss, 0, sizeof(float) * size_t(p.n));
        for (size_t k = 0; k < vt.rows.size(); ++k) loss[vt.rows[k]] = token_loss[k];
        return;
    }
    double sum = 0.0;
    for (float l : token_loss) sum += l;
    if (p.reduction == ENGRAM_REDUCTION_MEAN) sum = vt.rows.empty() ? 0.0 : sum / double(vt.rows.size());
    loss[0] = float(sum);
}

void forward_impl(engram_context& ctx, const CceProblem& p, const ValidTokens& vt, float* loss,
                  float* lse_out) {
    std::vector<float> token_loss(vt.rows.size());
    std::vector<float> lse(vt.rows.size());
    ctx.pool->parallel_for(int64_t(vt.rows.size()), 1, [&](int64_t b, int64_t e, int) {
        for (int64_t k = b; k < e; ++k) {
            TokenStats s = token_stats(p, vt.rows[k], vt.target_col[k]);
            lse[k] = lse_value(s.lse);
            token_loss[k] = cce_token_loss(lse[k], s.target_logit, s.logit_sum, p.inv_vocab(),
                                           p.smoothing, p.z_loss);
        }
    });
    if (loss) write_loss(p, vt, token_loss, loss);
    if (lse_out) {
        std::memset(lse_out, 0, sizeof(float) * size_t(p.n));
        for (size_t k = 0; k < vt.rows.size(); ++k) lse_out[vt.rows[k]] = lse[k];
    }
}

void backward_impl(engram_context& ctx, const CceProblem& p, const ValidTokens& vt,
                   const float* lse_in, const float* grad_loss, const CceGrads& g) {
    const int64_t valid = int64_t(vt.rows.size());
    std::vector<float> lse(vt.rows.size());
    if (lse_in) {
        for (size_t k = 0; k < vt.rows.size(); ++k) lse[k] = lse_in[vt.rows[k]];
    } else {
        ctx.pool->parallel_for(valid, 1, [&](int64_t b, int64_t e, int) {
            for (int64_t k = b; k < e; ++k)
                lse[k] = lse_value(token_stats(p, vt.rows[k], vt.target_col[k]).lse);
        });
    }
    std::vector<double> de(size_t(p.n * p.d), 0.0), dc(size_t(p.v * p.d), 0.0), db(size_t(p.v), 0.0);
    uint64_t skipped = 0, total = 0;
    for (int64_t k = 0; k < valid; ++k) {
        const int64_t row = vt.rows[k];
        const float up = upstream(p, grad_loss, row, valid);
        const CceGradCoef coef = cce_grad_coef(lse[k], p.inv_vocab(), p.smoothing, p.z_loss);
        for (int64_t j = 0; j < p.v; ++j) {
            const float z = logit(p, row, j);
            const float raw = cce_logit_grad(z, lse[k], j == vt.target_col[k], coef);
            ++total;
            if (std::fabs(raw) < p.filter_eps) {
                ++skipped;
                continue;
            }
            const float gz = raw * up * softcap_grad(z, p.softcap);
            for (int64_t t = 0; t < p.d; ++t) {
                de[size_t(row * p.d + t)] += double(gz) * load(p.c, p.dtype, j * p.d + t);
                dc[size_t(j * p.d + t)] += double(gz) * load(p.e, p.dtype, row * p.d + t);
            }
            db[size_t(j)] += gz;
        }
    }
    if (g.grad_e)
        for (int64_t i = 0; i < p.n * p.d; ++i) store(g.grad_e, g.dtype, i, float(de[size_t(i)]));
    if (g.grad_c)
        for (int64_t i = 0; i < p.v * p.d; ++i) store(g.grad_c, g.dtype, i, float(dc[size_t(i)]));
    if (g.grad_bias)
        for (int64_t i = 0; i < p.v; ++i) store(g.grad_bias, g.dtype, i, float(db[size_t(i)]));
    ctx.last_op.blocks_total = total;
    ctx.last_op.blocks_skipped = skipped;
}

}  // namespace

void cce_forward(engram_context& ctx, const CceProblem& p, float* loss, float* lse) {
    ValidTokens vt = collect_valid_tokens(p);
    ctx.last_op.tokens_valid = vt.rows.size();
    forward_impl(ctx, p, vt, loss, lse);
}

void cce_backward(engram_context& ctx, const CceProblem& p, const float* lse,
                  const float* grad_loss, const CceGrads& grads) {
    ValidTokens vt = collect_valid_tokens(p);
    ctx.last_op.tokens_valid = vt.rows.size();
    backward_impl(ctx, p, vt, lse, grad_loss, grads);
}

void cce_forward_backward(engram_context& ctx, const CceProblem& p, const float* grad_loss,
                          float* loss, float* lse, const CceGrads& grads) {
    ValidTokens vt = collect_valid_tokens(p);
    ctx.last_op.tokens_valid = vt.rows.size();
    std::vector<float> lse_all(size_t(p.n));
    forward_impl(ctx, p, vt, loss, lse_all.data());
    if (lse) std::memcpy(lse, lse_all.data(), sizeof(float) * size_t(p.n));
    backward_impl(ctx, p, vt, lse_all.data(), grad_loss, grads);
}

void cce_shard_forward(engram_context& ctx, const CceProblem& p, float* shard_lse,
                       float* target_logit, float* logit_sum) {
    ValidTokens vt = collect_valid_tokens(p);
    ctx.last_op.tokens_valid = vt.rows.size();
    std::memset(shard_lse, 0, sizeof(float) * size_t(p.n));
    std::memset(target_logit, 0, sizeof(float) * size_t(p.n));
    if (logit_sum) std::memset(logit_sum, 0, sizeof(float) * size_t(p.n));
    ctx.pool->parallel_for(int64_t(vt.rows.size()), 1, [&](int64_t b, int64_t e, int) {
        for (int64_t k = b; k < e; ++k) {
            TokenStats s = token_stats(p, vt.rows[k], vt.target_col[k]);
            shard_lse[vt.rows[k]] = lse_value(s.lse);
            target_logit[vt.rows[k]] = s.target_logit;
            if (logit_sum) logit_sum[vt.rows[k]] = s.logit_sum;
        }
    });
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
                st = lse_merge(st, LseState{shard_lse[s * n + i], 1.0f});
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
