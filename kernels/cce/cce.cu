// cce.cu — fused linear cross-entropy ("Cut Your Losses") on CUDA: the small
// kernels around the tile kernels, and their launchers.
//
//   compact tokens   count valid targets per 1024-token block (and record the
//                    first out-of-range id), scan the counts, scatter the
//                    valid tokens into slots: deterministic, in token order
//   forward          cce_forward.cu: per (token tile, vocabulary split)
//                    partial log-sum-exp states; then forward_merge here:
//                    lse, target logit, loss per token, and reduce_loss (a
//                    fixed-order double sum — no float atomics in the loss)
//   backward         backward_prep (lse and upstream gradient per slot), then
//                    cce_backward.cu; convert_grads rounds fp32 accumulators
//                    to a 16-bit gradient dtype once at the end
//   shard combine    shard_combine: merge shard lse per token, loss, reduce
//
// The host side that allocates scratch and orders these launches is
// native/src/ops/cce/cuda/cce_cuda.cpp; the CPU backend is native/src/ops/cce/cpu/.
#include "cce/cce_common.cuh"
#include "common/launch.cuh"
#include "engram.h"

namespace engram::kernels {

namespace {

constexpr int kScanBlock = 1024;  // tokens per compaction block (one per thread)
constexpr int kThreads = 256;     // per-token kernels

// Whether token i is kept (target != ignore_index); its target id in *id.
__device__ __forceinline__ bool token_kept(const CceTargets& t, int64_t i, int64_t* id) {
    if (i >= t.n) return false;
    *id = load_target(t.targets, t.i64, i);
    return *id != t.ignore_index;
}

__global__ void __launch_bounds__(kScanBlock) count_tokens(CceTargets t, CceTokens k) {
    const int64_t i = int64_t(blockIdx.x) * kScanBlock + threadIdx.x;
    int64_t id = 0;
    const bool kept = token_kept(t, i, &id);
    if (kept && t.check && (id < 0 || id >= t.vocab_total))
        atomicMin(&k.info->first_bad, unsigned(i));
    const int count = __syncthreads_count(kept);
    if (threadIdx.x == 0) k.block_counts[blockIdx.x] = count;
}

// One block: block_counts -> exclusive offsets, info->valid = total.
__global__ void __launch_bounds__(kScanBlock) scan_counts(CceTokens k, int32_t nblocks) {
    __shared__ int warp_sums[32];
    int carry = 0;
    for (int base = 0; base < nblocks; base += kScanBlock) {
        const int b = base + int(threadIdx.x);
        const int x = b < nblocks ? k.block_counts[b] : 0;
        int total = 0;
        const int before = block_exclusive_scan<kScanBlock>(x, warp_sums, &total);
        if (b < nblocks) k.block_counts[b] = carry + before;
        carry += total;
    }
    if (threadIdx.x == 0) k.info->valid = carry;
}

__global__ void __launch_bounds__(kScanBlock) scatter_tokens(CceTargets t, CceTokens k) {
    __shared__ int warp_sums[32];
    const int64_t i = int64_t(blockIdx.x) * kScanBlock + threadIdx.x;
    int64_t id = 0;
    const bool kept = token_kept(t, i, &id);
    int total = 0;
    const int before = block_exclusive_scan<kScanBlock>(kept ? 1 : 0, warp_sums, &total);
    if (kept) {
        // Unchecked and out of range (check_targets = 0): "not in this shard",
        // as on the CPU, rather than an index out of bounds (and no
        // subtraction, which would overflow for ids near INT64_MIN).
        const int64_t col = id >= 0 && id < t.vocab_total ? id - t.vocab_start : -1;
        const int slot = k.block_counts[blockIdx.x] + before;
        k.rows[slot] = int32_t(i);
        k.tcol[slot] = col >= 0 && col < t.v ? int32_t(col) : -1;
    }
}

__global__ void forward_merge(CceDev p, int32_t splits, const float4* partials, CceMergeOut out) {
    const int count = p.info->valid;
    const int64_t stride = int64_t(gridDim.x) * blockDim.x;
    for (int64_t slot = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; slot < count;
         slot += stride) {
        LseState st = lse_empty();
        float tgt = 0.0f, lsum = 0.0f;
        for (int s = 0; s < splits; ++s) {
            const float4 a = partials[int64_t(s) * p.slots + slot];
            st = lse_merge(st, LseState{a.x, a.y});
            tgt += a.z;
            lsum += a.w;
        }
        const float lse = lse_value(st);
        const int row = p.rows[slot];
        if (out.lse_row) out.lse_row[row] = lse;
        if (out.lse_slot) out.lse_slot[slot] = lse;
        if (out.target_row) out.target_row[row] = tgt;
        if (out.sum_row) out.sum_row[row] = lsum;
        if (out.loss_row || out.slot_loss) {
            const float loss =
                cce_token_loss(lse, tgt, lsum, p.inv_vocab, p.smoothing, p.z_loss);
            if (out.loss_row) out.loss_row[row] = loss;
            if (out.slot_loss) out.slot_loss[slot] = loss;
        }
    }
}

// One block of 1024 threads: each sums a strided subset in double, then a
// fixed tree — the same order on every run.
__global__ void __launch_bounds__(1024)
    reduce_loss(const float* values, const int32_t* len_dev, int32_t len_host,
                const CceInfo* info, int32_t mean, float* out) {
    __shared__ double partial[32];
    const int len = len_dev ? *len_dev : len_host;
    double acc = 0.0;
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x) acc += values[i];
    acc = warp_sum(acc);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) partial[warp] = acc;
    __syncthreads();
    if (warp == 0) {
        double x = lane < int(blockDim.x >> 5) ? partial[lane] : 0.0;
        x = warp_sum(x);
        if (lane == 0) {
            const int valid = info->valid;
            out[0] = mean ? (valid > 0 ? float(x / double(valid)) : 0.0f) : float(x);
        }
    }
}

__global__ void backward_prep(CceDev p, const float* lse_row, const float* grad_loss,
                              int32_t reduction, float* lse_slot, float* up_slot) {
    const int count = p.info->valid;
    const int64_t stride = int64_t(gridDim.x) * blockDim.x;
    for (int64_t slot = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; slot < count;
         slot += stride) {
        const int row = p.rows[slot];
        if (lse_row) lse_slot[slot] = lse_row[row];
        float up;
        if (reduction == ENGRAM_REDUCTION_NONE) {
            up = grad_loss ? grad_loss[row] : 1.0f;
        } else {
            up = grad_loss ? grad_loss[0] : 1.0f;
            if (reduction == ENGRAM_REDUCTION_MEAN) up = up / float(count);
        }
        up_slot[slot] = up;
    }
}

__global__ void convert_grads(const float* src, uint16_t* dst, int32_t dtype, int64_t count) {
    const int64_t stride = int64_t(gridDim.x) * blockDim.x;
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride)
        dst[i] = dtype == kBF16 ? f32_to_bf16(src[i]) : f32_to_f16(src[i]);
}

// Each shard's lse is one term of the logsumexp: lse_single keeps its
// non-finite cases (-inf adds nothing, +inf and NaN propagate), where
// LseState{x, 1} would claim exp(x - x) = 1 for an infinite x.
__global__ void shard_combine(CceCombine c) {
    const int64_t stride = int64_t(gridDim.x) * blockDim.x;
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < c.n; i += stride) {
        float token_loss = 0.0f, token_lse = 0.0f;
        if (load_target(c.targets, c.i64, i) != c.ignore_index) {
            LseState st = lse_empty();
            for (int s = 0; s < c.num_shards; ++s)
                st = lse_merge(st, lse_single(c.shard_lse[int64_t(s) * c.n + i]));
            token_lse = lse_value(st);
            token_loss = cce_token_loss(token_lse, c.target_logit[i],
                                        c.logit_sum ? c.logit_sum[i] : 0.0f, c.inv_vocab,
                                        c.smoothing, c.z_loss);
        }
        if (c.lse) c.lse[i] = token_lse;
        if (c.loss_row)
            c.loss_row[i] = token_loss;
        else
            c.token_loss[i] = token_loss;
    }
}

}  // namespace

int32_t cce_scan_blocks(int32_t n) { return (n - 1) / kScanBlock + 1; }  // n >= 1

cudaError_t launch_compact_tokens(const CceTargets& t, const CceTokens& k, bool scatter,
                                  cudaStream_t stream) {
    const int32_t nblocks = cce_scan_blocks(t.n);
    count_tokens<<<nblocks, kScanBlock, 0, stream>>>(t, k);
    scan_counts<<<1, kScanBlock, 0, stream>>>(k, nblocks);
    if (scatter) scatter_tokens<<<nblocks, kScanBlock, 0, stream>>>(t, k);
    return cudaGetLastError();
}

cudaError_t launch_forward_merge(const CceDev& p, int32_t splits, const float* partials,
                                 const CceMergeOut& out, cudaStream_t stream) {
    forward_merge<<<grid_for(p.slots, kThreads), kThreads, 0, stream>>>(
        p, splits, reinterpret_cast<const float4*>(partials), out);
    return cudaGetLastError();
}

cudaError_t launch_reduce_loss(const float* values, const int32_t* len_dev, int32_t len_host,
                               const CceInfo* info, bool mean, float* out, cudaStream_t stream) {
    reduce_loss<<<1, 1024, 0, stream>>>(values, len_dev, len_host, info, mean ? 1 : 0, out);
    return cudaGetLastError();
}

cudaError_t launch_backward_prep(const CceDev& p, const float* lse_row, const float* grad_loss,
                                 int32_t reduction, float* lse_slot, float* up_slot,
                                 cudaStream_t stream) {
    backward_prep<<<grid_for(p.slots, kThreads), kThreads, 0, stream>>>(
        p, lse_row, grad_loss, reduction, lse_slot, up_slot);
    return cudaGetLastError();
}

cudaError_t launch_convert(const float* src, void* dst, int32_t dtype, int64_t count,
                           cudaStream_t stream) {
    convert_grads<<<grid_for(count, kThreads), kThreads, 0, stream>>>(
        src, static_cast<uint16_t*>(dst), dtype, count);
    return cudaGetLastError();
}

cudaError_t launch_shard_combine(const CceCombine& c, cudaStream_t stream) {
    shard_combine<<<grid_for(c.n, kThreads), kThreads, 0, stream>>>(c);
    return cudaGetLastError();
}

}  // namespace engram::kernels
