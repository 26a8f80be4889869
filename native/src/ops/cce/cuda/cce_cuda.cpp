// cce_cuda.cpp — host side of CUDA fused linear cross-entropy: scratch
// allocation, the order of the launches in kernels/cce/ (see kernels/cce/cce.cu for
// the kernels themselves), target checking and op statistics. Semantics match
// the CPU backend (ops/cce/cpu/) exactly; only the summation order differs.
//
// Synchronisation: an op waits for the device at most once before its end —
// to read back the first bad target when check_targets is set (before any
// output is written, as on the CPU) — and the backward once more at its end to
// read the gradient-filter counters. With check_targets = 0 the forward and
// the shard steps do not synchronise at all; the forward then cannot know the
// number of valid tokens and leaves the op stats without "tokens_valid".
#include <cuda_runtime_api.h>

#include <algorithm>

#include "core/op_stats.hpp"
#include "core/error.hpp"
#include "core/nvtx.hpp"
#include "cce/cce_launch.cuh"
#include "cuda/cuda_backend.hpp"
#include "cuda/cuda_state.hpp"
#include "ops/cce/cce_backend.hpp"

namespace engram::cuda {

namespace {

namespace k = engram::kernels;

[[noreturn]] void bad_target(int64_t i, int64_t t, int64_t vocab_total, int64_t ignore_index) {
    // Same message as the CPU backend (core/cce_problem.cpp).
    fail(ENGRAM_ERR_OUT_OF_RANGE,
         format("targets[%lld] = %lld is outside [0, %lld) and is not ignore_index (%lld)",
                (long long)i, (long long)t, (long long)vocab_total, (long long)ignore_index));
}

// The valid tokens of an op, compacted into slots on the device.
struct Tokens {
    DeviceScratch mem;
    k::CceTokens dev{};
    int32_t valid = -1;  // known on the host only after a check (else -1)
};

k::CceTargets targets_of(const CceProblem& p) {
    k::CceTargets t{};
    t.targets = p.targets;
    t.i64 = p.target_dtype == ENGRAM_DTYPE_I64 ? 1 : 0;
    t.check = p.check_targets ? 1 : 0;
    t.n = int32_t(p.n);
    t.ignore_index = p.ignore_index;
    t.vocab_start = p.vocab_start;
    t.v = p.v;
    t.vocab_total = p.vocab_total;
    return t;
}

// Counts (and, with scatter, compacts) the valid tokens; with t.check set,
// synchronises once and fails on the first target outside [0, vocab_total).
void compact_tokens(engram_context& ctx, const k::CceTargets& t, bool scatter, Tokens& tk) {
    DeviceState& st = state(ctx);
    const uint64_t n = uint64_t(t.n);
    ScratchLayout layout;
    const uint64_t rows_at = layout.add(scatter ? n * 4 : 0);
    const uint64_t tcol_at = layout.add(scatter ? n * 4 : 0);
    const uint64_t counts_at = layout.add(uint64_t(k::cce_scan_blocks(t.n)) * 4);
    const uint64_t info_at = layout.add(sizeof(k::CceInfo));
    tk.mem = DeviceScratch(ctx, layout.total());
    tk.dev.rows = scatter ? tk.mem.at<int32_t>(rows_at) : nullptr;
    tk.dev.tcol = scatter ? tk.mem.at<int32_t>(tcol_at) : nullptr;
    tk.dev.block_counts = tk.mem.at<int32_t>(counts_at);
    tk.dev.info = tk.mem.at<k::CceInfo>(info_at);
    check_cuda(cudaMemsetAsync(tk.dev.info, 0, sizeof(k::CceInfo), st.stream), "cudaMemsetAsync");
    check_cuda(cudaMemsetAsync(&tk.dev.info->first_bad, 0xff, sizeof(uint32_t), st.stream),
               "cudaMemsetAsync");
    check_cuda(k::launch_compact_tokens(t, tk.dev, scatter, st.stream),
               "launching the CCE target scan");
    if (!t.check) return;
    k::CceInfo info{};
    check_cuda(cudaMemcpyAsync(&info, tk.dev.info, sizeof info, cudaMemcpyDeviceToHost, st.stream),
               "cudaMemcpyAsync (target check)");
    check_cuda(cudaStreamSynchronize(st.stream), "CCE target scan");
    if (info.first_bad != ~0u) {
        const size_t es = t.i64 ? 8 : 4;
        int64_t id64 = 0;
        int32_t id32 = 0;
        void* dst = t.i64 ? static_cast<void*>(&id64) : static_cast<void*>(&id32);
        const auto* src = static_cast<const unsigned char*>(t.targets) + size_t(info.first_bad) * es;
        check_cuda(cudaMemcpyAsync(dst, src, es, cudaMemcpyDeviceToHost, st.stream),
                   "cudaMemcpyAsync (bad target)");
        check_cuda(cudaStreamSynchronize(st.stream), "cudaStreamSynchronize");
        bad_target(int64_t(info.first_bad), t.i64 ? id64 : int64_t(id32), t.vocab_total,
                   t.ignore_index);
    }
    tk.valid = info.valid;
}

void compact_tokens(engram_context& ctx, const CceProblem& p, Tokens& tk) {
    compact_tokens(ctx, targets_of(p), true, tk);
    if (tk.valid >= 0) op_stats_set(ctx.last_op, "tokens_valid", uint64_t(tk.valid));
}

k::CceDev device_problem(const CceProblem& p, const Tokens& tk) {
    k::CceDev d{};
    d.e = p.e;
    d.c = p.c;
    d.bias = p.bias;
    d.rows = tk.dev.rows;
    d.tcol = tk.dev.tcol;
    d.info = tk.dev.info;
    d.dtype = int32_t(p.dtype);
    d.n = int32_t(p.n);
    d.d = int32_t(p.d);
    d.v = int32_t(p.v);
    // Without a host-side count the slot arrays are sized for every token;
    // tile kernels past info->valid return at once.
    d.slots = tk.valid >= 0 ? tk.valid : int32_t(p.n);
    d.softcap = p.softcap;
    d.smoothing = p.smoothing;
    d.z_loss = p.z_loss;
    d.filter_eps = p.filter_eps;
    d.inv_vocab = p.inv_vocab();
    return d;
}

void zero(engram_context& ctx, void* p, uint64_t bytes) {
    if (p && bytes) check_cuda(cudaMemsetAsync(p, 0, size_t(bytes), state(ctx).stream), "cudaMemsetAsync");
}

void require_shared_memory(const DeviceState& st, int32_t dtype) {
    // The tile kernels also use up to ~10 KB of static shared memory.
    const size_t need = std::max(k::cce_forward_smem(dtype), k::cce_backward_smem(dtype)) + 10240;
    if (size_t(st.max_smem_optin) < need)
        fail(ENGRAM_ERR_UNSUPPORTED,
             format("CUDA device %d allows %d bytes of shared memory per block; the CCE kernels "
                    "need %zu",
                    st.device, st.max_smem_optin, need));
}

// Forward over the vocabulary: partial states per split, then the merge.
void forward_pass(engram_context& ctx, const k::CceDev& d, const k::CceMergeOut& out) {
    NvtxRange range("cce.forward_pass");
    DeviceState& st = state(ctx);
    require_shared_memory(st, d.dtype);
    const int32_t splits = k::cce_forward_splits(d, st.sm_count);
    DeviceScratch partials(ctx, uint64_t(splits) * uint64_t(d.slots) * 16);
    check_cuda(k::launch_forward_partials(d, splits, partials.at<float>(0), st.stream),
               "launching the CCE forward kernel");
    check_cuda(k::launch_forward_merge(d, splits, partials.at<float>(0), out, st.stream),
               "launching the CCE forward merge");
}

// fp32 gradient accumulators: the caller's zeroed outputs when grads are
// F32, else zeroed fp32 scratch rounded to the 16-bit dtype by finish().
struct GradAccumulators {
    DeviceScratch mem;
    float* de = nullptr;
    float* dc = nullptr;
    float* db = nullptr;

    void prepare(engram_context& ctx, const CceProblem& p, const CceGrads& g) {
        const uint64_t ne = uint64_t(p.n) * uint64_t(p.d), nc = uint64_t(p.v) * uint64_t(p.d),
                       nb = uint64_t(p.v);
        if (g.dtype == ENGRAM_DTYPE_F32) {
            de = static_cast<float*>(g.grad_e);
            dc = static_cast<float*>(g.grad_c);
            db = static_cast<float*>(g.grad_bias);
            zero(ctx, de, ne * 4);
            zero(ctx, dc, nc * 4);
            zero(ctx, db, nb * 4);
            return;
        }
        ScratchLayout layout;
        const uint64_t e_at = layout.add(g.grad_e ? ne * 4 : 0);
        const uint64_t c_at = layout.add(g.grad_c ? nc * 4 : 0);
        const uint64_t b_at = layout.add(g.grad_bias ? nb * 4 : 0);
        mem = DeviceScratch(ctx, layout.total());
        zero(ctx, mem.at<void>(0), layout.total());
        de = g.grad_e ? mem.at<float>(e_at) : nullptr;
        dc = g.grad_c ? mem.at<float>(c_at) : nullptr;
        db = g.grad_bias ? mem.at<float>(b_at) : nullptr;
    }

    void finish(engram_context& ctx, const CceProblem& p, const CceGrads& g) const {
        if (g.dtype == ENGRAM_DTYPE_F32) return;
        const cudaStream_t s = state(ctx).stream;
        const int32_t dt = int32_t(g.dtype);
        if (de)
            check_cuda(k::launch_convert(de, g.grad_e, dt, p.n * p.d, s), "launching grad_e rounding");
        if (dc)
            check_cuda(k::launch_convert(dc, g.grad_c, dt, p.v * p.d, s), "launching grad_c rounding");
        if (db) check_cuda(k::launch_convert(db, g.grad_bias, dt, p.v, s), "launching grad_bias rounding");
    }
};

// The tile pass of the backward, given lse per slot (lse_row: the caller's
// [n] lse to gather; null when lse_slot already holds it).
void backward_pass(engram_context& ctx, const CceProblem& p, const k::CceDev& d,
                   const float* lse_row, const float* grad_loss, float* lse_slot, float* up_slot,
                   const GradAccumulators& acc) {
    NvtxRange range("cce.backward_pass");
    DeviceState& st = state(ctx);
    require_shared_memory(st, d.dtype);
    check_cuda(k::launch_backward_prep(d, lse_row, grad_loss, int32_t(p.reduction), lse_slot,
                                       up_slot, st.stream),
               "launching the CCE backward prep");
    check_cuda(k::launch_backward_tiles(d, lse_slot, up_slot, acc.de, acc.dc, acc.db,
                                        st.max_smem_optin, st.stream),
               "launching the CCE backward kernel");
}

// Waits for the op and copies its counters into the context's op stats.
void read_op_stats(engram_context& ctx, const Tokens& tk) {
    DeviceState& st = state(ctx);
    k::CceInfo info{};
    check_cuda(cudaMemcpyAsync(&info, tk.dev.info, sizeof info, cudaMemcpyDeviceToHost, st.stream),
               "cudaMemcpyAsync (op statistics)");
    check_cuda(cudaStreamSynchronize(st.stream), "CCE backward");
    op_stats_set(ctx.last_op, "tokens_valid", uint64_t(info.valid));
    op_stats_set(ctx.last_op, "blocks_total", info.blocks_total);
    op_stats_set(ctx.last_op, "blocks_skipped", info.blocks_skipped);
}

uint64_t loss_count(const CceProblem& p) {
    return p.reduction == ENGRAM_REDUCTION_NONE ? uint64_t(p.n) : 1;
}

// Loss outputs start at zero: ignored tokens keep it, and a sum over no
// tokens is 0.
void clear_forward_outputs(engram_context& ctx, const CceProblem& p, float* loss, float* lse) {
    zero(ctx, loss, loss_count(p) * 4);
    zero(ctx, lse, uint64_t(p.n) * 4);
}

// Forward with its outputs; lse_slot (optional) receives lse per slot for a
// following backward.
void forward_with_loss(engram_context& ctx, const CceProblem& p, const Tokens& tk, float* loss,
                       float* lse, float* lse_slot) {
    const k::CceDev d = device_problem(p, tk);
    const bool per_token = p.reduction == ENGRAM_REDUCTION_NONE;
    DeviceScratch slot_loss(ctx, per_token ? 0 : uint64_t(d.slots) * 4);
    k::CceMergeOut out{};
    out.lse_row = lse;
    out.lse_slot = lse_slot;
    if (per_token)
        out.loss_row = loss;
    else
        out.slot_loss = slot_loss.at<float>(0);
    forward_pass(ctx, d, out);
    if (!per_token)
        check_cuda(k::launch_reduce_loss(out.slot_loss, &tk.dev.info->valid, 0, tk.dev.info,
                                         p.reduction == ENGRAM_REDUCTION_MEAN, loss,
                                         state(ctx).stream),
                   "launching the CCE loss reduction");
}

}  // namespace

void cce_forward(engram_context& ctx, const CceProblem& p, float* loss, float* lse) {
    DeviceGuard guard(state(ctx).device);
    Tokens tk;
    compact_tokens(ctx, p, tk);
    clear_forward_outputs(ctx, p, loss, lse);
    if (tk.valid == 0) return;
    forward_with_loss(ctx, p, tk, loss, lse, nullptr);
}

void cce_backward(engram_context& ctx, const CceProblem& p, const float* lse,
                  const float* grad_loss, const CceGrads& grads) {
    DeviceGuard guard(state(ctx).device);
    Tokens tk;
    compact_tokens(ctx, p, tk);
    GradAccumulators acc;
    acc.prepare(ctx, p, grads);
    if (tk.valid != 0) {
        const k::CceDev d = device_problem(p, tk);
        DeviceScratch per_slot(ctx, uint64_t(d.slots) * 8);
        float* lse_slot = per_slot.at<float>(0);
        float* up_slot = lse_slot + d.slots;
        if (!lse) {  // recompute lse with a forward pass (unsharded only)
            k::CceMergeOut out{};
            out.lse_slot = lse_slot;
            forward_pass(ctx, d, out);
        }
        backward_pass(ctx, p, d, lse, grad_loss, lse_slot, up_slot, acc);
    }
    acc.finish(ctx, p, grads);
    read_op_stats(ctx, tk);
}

// On the GPU this is a forward then a backward: two passes over the logits
// (the second recomputes them from E and C). A single pass would have to keep
// dE partials for a whole token tile over all of D while the vocabulary is
// still being reduced, and the lse that G needs is only known at the end.
void cce_forward_backward(engram_context& ctx, const CceProblem& p, const float* grad_loss,
                          float* loss, float* lse, const CceGrads& grads) {
    DeviceGuard guard(state(ctx).device);
    Tokens tk;
    compact_tokens(ctx, p, tk);
    clear_forward_outputs(ctx, p, loss, lse);
    GradAccumulators acc;
    acc.prepare(ctx, p, grads);
    if (tk.valid != 0) {
        const k::CceDev d = device_problem(p, tk);
        DeviceScratch per_slot(ctx, uint64_t(d.slots) * 8);
        float* lse_slot = per_slot.at<float>(0);
        float* up_slot = lse_slot + d.slots;
        forward_with_loss(ctx, p, tk, loss, lse, lse_slot);
        backward_pass(ctx, p, d, nullptr, grad_loss, lse_slot, up_slot, acc);
    }
    acc.finish(ctx, p, grads);
    read_op_stats(ctx, tk);
}

void cce_shard_forward(engram_context& ctx, const CceProblem& p, float* shard_lse,
                       float* target_logit, float* logit_sum) {
    DeviceGuard guard(state(ctx).device);
    Tokens tk;
    compact_tokens(ctx, p, tk);
    zero(ctx, shard_lse, uint64_t(p.n) * 4);
    zero(ctx, target_logit, uint64_t(p.n) * 4);
    zero(ctx, logit_sum, uint64_t(p.n) * 4);
    if (tk.valid == 0) return;
    k::CceMergeOut out{};
    out.lse_row = shard_lse;
    out.target_row = target_logit;
    out.sum_row = logit_sum;
    forward_pass(ctx, device_problem(p, tk), out);
}

void cce_shard_combine(engram_context& ctx, int64_t n, int64_t num_shards, int64_t vocab_total,
                       const float* shard_lse, const float* target_logit,
                       const float* logit_sum, const void* targets, engram_dtype target_dtype,
                       const CceProblem& opts, float* loss, float* lse) {
    DeviceState& st = state(ctx);
    DeviceGuard guard(st.device);
    k::CceTargets t{};
    t.targets = targets;
    t.i64 = target_dtype == ENGRAM_DTYPE_I64 ? 1 : 0;
    t.check = opts.check_targets ? 1 : 0;
    t.n = int32_t(n);
    t.ignore_index = opts.ignore_index;
    t.vocab_start = 0;
    t.v = vocab_total;
    t.vocab_total = vocab_total;
    Tokens tk;
    compact_tokens(ctx, t, false, tk);  // the count (for MEAN) and the check only

    const bool per_token = opts.reduction == ENGRAM_REDUCTION_NONE;
    DeviceScratch token_loss(ctx, per_token ? 0 : uint64_t(n) * 4);
    k::CceCombine c{};
    c.shard_lse = shard_lse;
    c.target_logit = target_logit;
    c.logit_sum = logit_sum;
    c.targets = targets;
    c.i64 = t.i64;
    c.n = int32_t(n);
    c.num_shards = int32_t(num_shards);
    c.ignore_index = opts.ignore_index;
    c.inv_vocab = 1.0f / float(vocab_total);
    c.smoothing = opts.smoothing;
    c.z_loss = opts.z_loss;
    c.lse = lse;
    c.loss_row = per_token ? loss : nullptr;
    c.token_loss = per_token ? nullptr : token_loss.at<float>(0);
    check_cuda(k::launch_shard_combine(c, st.stream), "launching the CCE shard combine");
    if (!per_token)
        check_cuda(k::launch_reduce_loss(c.token_loss, nullptr, int32_t(n), tk.dev.info,
                                         opts.reduction == ENGRAM_REDUCTION_MEAN, loss, st.stream),
                   "launching the CCE loss reduction");
}

}  // namespace engram::cuda

namespace engram {

const CceBackend* cce_cuda_backend() {
    static const CceBackend table{
        cuda::cce_forward, cuda::cce_backward, cuda::cce_forward_backward,
        cuda::cce_shard_forward,
        [](engram_context& ctx, int64_t num_shards, const float* shard_lse,
           const float* target_logit, const float* logit_sum, const CceProblem& o, float* loss,
           float* lse) {
            cuda::cce_shard_combine(ctx, o.n, num_shards, o.vocab_total, shard_lse, target_logit,
                                    logit_sum, o.targets, o.target_dtype, o, loss, lse);
        }};
    return &table;
}

}  // namespace engram
