// vocab_parallel.cpp — see vocab_parallel.hpp.
#include "vocab_parallel.hpp"

#include <cstring>
#include <stdexcept>

namespace engram_mpi {

void check(engram_status st, const std::string& what) {
    if (st != ENGRAM_OK) throw std::runtime_error(what + ": " + engram_last_error());
}

int64_t even_shard_start(int64_t vocab_total, int ranks, int r) {
    const int64_t base = vocab_total / ranks, extra = vocab_total % ranks;
    return int64_t(r) * base + (r < extra ? r : extra);
}

namespace {

// The agreed fields, in a fixed-size record every rank contributes.
struct Record {
    int64_t n, d, v, vocab_start, vocab_total, ignore_index;
    int32_t dtype, target_dtype, reduction, check_targets;
    float softcap, label_smoothing, z_loss, filter_eps;
};

Record record_of(const ShardCall& c) {
    Record r;
    std::memset(&r, 0, sizeof r);  // padding bytes too: the records are compared whole
    r.n = c.in.n;
    r.d = c.in.d;
    r.v = c.in.v;
    r.vocab_start = c.in.vocab_start;
    r.vocab_total = c.in.vocab_total;
    r.ignore_index = c.opts.ignore_index;
    r.dtype = c.in.dtype;
    r.target_dtype = c.in.target_dtype;
    r.reduction = c.opts.reduction;
    r.check_targets = c.opts.check_targets;
    r.softcap = c.opts.softcap;
    r.label_smoothing = c.opts.label_smoothing;
    r.z_loss = c.opts.z_loss;
    r.filter_eps = c.opts.filter_eps;
    return r;
}

std::string disagreement(const std::vector<Record>& all) {
    const Record& a = all[0];
    for (size_t r = 1; r < all.size(); ++r) {
        const Record& b = all[r];
        auto differs = [&](const char* what, long long x, long long y) {
            return "rank " + std::to_string(r) + " has " + what + " = " + std::to_string(y) +
                   ", rank 0 has " + std::to_string(x);
        };
        if (b.n != a.n) return differs("n", a.n, b.n);
        if (b.d != a.d) return differs("d", a.d, b.d);
        if (b.vocab_total != a.vocab_total) return differs("vocab_total", a.vocab_total, b.vocab_total);
        if (b.dtype != a.dtype) return differs("dtype", a.dtype, b.dtype);
        if (b.target_dtype != a.target_dtype) return differs("target_dtype", a.target_dtype, b.target_dtype);
        if (b.reduction != a.reduction || b.ignore_index != a.ignore_index ||
            b.check_targets != a.check_targets || b.softcap != a.softcap ||
            b.label_smoothing != a.label_smoothing || b.z_loss != a.z_loss ||
            b.filter_eps != a.filter_eps)
            return "rank " + std::to_string(r) + " has other CCE options than rank 0";
    }
    int64_t next = 0;  // the shards must tile [0, vocab_total) in rank order
    for (size_t r = 0; r < all.size(); ++r) {
        if (all[r].vocab_start != next || all[r].v <= 0)
            return "rank " + std::to_string(r) + " holds vocabulary rows [" +
                   std::to_string(all[r].vocab_start) + ", " +
                   std::to_string(all[r].vocab_start + all[r].v) + "), expected a shard starting at " +
                   std::to_string(next);
        next += all[r].v;
    }
    if (next != a.vocab_total)
        return "the shards cover " + std::to_string(next) + " vocabulary rows, vocab_total is " +
               std::to_string(a.vocab_total);
    return "";
}

}  // namespace

void check_agreement(Collectives& comm, const ShardCall& call) {
    const Record mine = record_of(call);
    std::vector<Record> all(size_t(comm.size()));
    comm.allgather_bytes(&mine, sizeof mine, all.data());
    const std::string why = disagreement(all);
    if (!why.empty()) throw std::runtime_error("vocabulary-parallel CCE: " + why);
}

VocabParallelCce::VocabParallelCce(engram_context* ctx, Collectives& comm, const ShardCall& call)
    : ctx_(ctx), comm_(comm), call_(call) {
    check_agreement(comm, call);
    const size_t n = size_t(call.in.n);
    shard_lse_.resize(n);
    all_lse_.resize(n * size_t(comm.size()));
    target_logit_.resize(n);
    logit_sum_.resize(n);
}

void VocabParallelCce::forward(float* loss, float* lse) {
    const int64_t n = call_.in.n;
    const bool smoothing = call_.opts.label_smoothing > 0.0f;
    check(engram_cce_shard_forward(ctx_, &call_.in, &call_.opts, shard_lse_.data(),
                                   target_logit_.data(), smoothing ? logit_sum_.data() : nullptr),
          "engram_cce_shard_forward");
    comm_.allgather(shard_lse_.data(), n, all_lse_.data());
    // The target lies in exactly one shard (0 elsewhere): a sum picks it.
    comm_.sum_in_rank_order(target_logit_.data(), n);
    if (smoothing) comm_.sum_in_rank_order(logit_sum_.data(), n);
    check(engram_cce_shard_combine(ctx_, n, comm_.size(), call_.in.vocab_total, all_lse_.data(),
                                   target_logit_.data(), smoothing ? logit_sum_.data() : nullptr,
                                   call_.in.targets, engram_dtype(call_.in.target_dtype),
                                   &call_.opts, loss, lse),
          "engram_cce_shard_combine");
}

void VocabParallelCce::backward(const float* lse, const float* grad_loss,
                                const engram_cce_grads& grads) {
    if (grads.grad_e && grads.dtype != ENGRAM_DTYPE_F32)
        throw std::runtime_error("vocabulary-parallel CCE sums grad_e in f32: set grads.dtype to F32");
    check(engram_cce_backward(ctx_, &call_.in, &call_.opts, lse, grad_loss, &grads),
          "engram_cce_backward");
    if (grads.grad_e)
        comm_.sum_in_rank_order(static_cast<float*>(grads.grad_e), call_.in.n * call_.in.d);
}

}  // namespace engram_mpi
