// cce_launch.cuh — the contract between the CUDA backend's host code
// (native/src/ops/cce/cuda/cce_cuda.cpp) and the CCE kernels (kernels/cce/*.cu): plain
// structs of device pointers and the launchers. Host C++ only — no device
// code — so a .cpp compiled by the host compiler can include it.
//
// Vocabulary of the kernels: the valid (non-ignored) tokens are compacted into
// "slots": slot k is the k-th token whose target is not ignore_index, in token
// order. rows[k] is its token index, tcol[k] its target's column in this
// classifier shard (-1 when the target lies in another shard). Every per-token
// scratch array below is indexed by slot, so ignored tokens cost nothing.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "common/dtype.cuh"

namespace engram::kernels {

// Small device-side record of an op, read back by the host once at most.
struct CceInfo {
    int32_t valid;                      // number of slots (written by the scan)
    uint32_t first_bad;                 // smallest index of an out-of-range target; ~0u if none
    unsigned long long blocks_total;    // logit tiles the backward visited
    unsigned long long blocks_skipped;  // ... of which the gradient filter skipped
};

// The targets and how to read them.
struct CceTargets {
    const void* targets;
    int32_t i64;            // 1: int64 ids, 0: int32 ids
    int32_t check;          // 1: record the first id outside [0, vocab_total)
    int32_t n;              // tokens
    int64_t ignore_index;
    int64_t vocab_start;    // first global id held by this shard
    int64_t v;              // ids held by this shard
    int64_t vocab_total;    // global vocabulary size
};

// Token compaction scratch. block_counts has cce_scan_blocks(n) entries.
struct CceTokens {
    int32_t* rows;
    int32_t* tcol;
    int32_t* block_counts;
    CceInfo* info;          // zeroed with first_bad = ~0u before the launch
};

int32_t cce_scan_blocks(int32_t n);

// Counts the valid tokens (-> info->valid), records the first bad id when
// check is set, and, when `scatter`, writes rows/tcol for every slot.
cudaError_t launch_compact_tokens(const CceTargets& t, const CceTokens& k, bool scatter,
                                  cudaStream_t stream);

// One CCE problem as the tile kernels see it.
struct CceDev {
    const void* e;          // [n, d]
    const void* c;          // [v, d]
    const void* bias;       // [v] or null
    const int32_t* rows;    // [slots]
    const int32_t* tcol;    // [slots]
    CceInfo* info;          // info->valid: how many slots hold a token
    int32_t dtype;          // Elem (common/dtype.cuh)
    int32_t n, d, v;
    int32_t slots;          // capacity of the slot arrays (>= info->valid)
    float softcap, smoothing, z_loss, filter_eps, inv_vocab;
};

// Forward, stage 1: each CTA reduces a token tile against one vocabulary
// split; partials[split * slots + slot] = {max, sum exp(z - lse_shift(max)),
// target logit (0 if not in the split), sum of logits} ({max, sum} is an
// LseState of ops/cce/cce_math.h). Returns the number of splits for this
// problem (the host sizes `partials` with it).
int32_t cce_forward_splits(const CceDev& p, int32_t sm_count);
cudaError_t launch_forward_partials(const CceDev& p, int32_t splits, float* partials,
                                    cudaStream_t stream);

// Forward, stage 2: merge the splits per slot; every output may be null.
struct CceMergeOut {
    float* lse_row;      // [n] by token: lse (forward) or the shard's lse
    float* loss_row;     // [n] by token: per-token loss (reduction NONE)
    float* slot_loss;    // [slots]: per-token loss, summed later (SUM / MEAN)
    float* target_row;   // [n] by token: target logit (shard forward)
    float* sum_row;      // [n] by token: sum of logits (shard forward)
    float* lse_slot;     // [slots]: lse for the backward
};
cudaError_t launch_forward_merge(const CceDev& p, int32_t splits, const float* partials,
                                 const CceMergeOut& out, cudaStream_t stream);

// Deterministic sum of values[0 .. len) in double, len = *len_dev when
// len_dev is given, else len_host; out[0] = sum, or sum / info->valid for a
// mean (0 when no token is valid).
cudaError_t launch_reduce_loss(const float* values, const int32_t* len_dev, int32_t len_host,
                               const CceInfo* info, bool mean, float* out, cudaStream_t stream);

// Backward inputs per slot: lse (gathered from the caller's [n] array unless
// lse_row is null, then lse_slot was filled by the merge) and the upstream
// gradient (grad_loss[row] for NONE, grad_loss[0] (/ valid for MEAN)
// otherwise; 1 when grad_loss is null).
cudaError_t launch_backward_prep(const CceDev& p, const float* lse_row, const float* grad_loss,
                                 int32_t reduction, float* lse_slot, float* up_slot,
                                 cudaStream_t stream);

// Backward tiles: recompute the logit tile, G = dloss/dz * upstream, skip the
// tile when filter_eps > 0, every |raw g| < filter_eps and every upstream
// gradient is finite, then de[row] += G C, dc[col] += G^T E,
// db[col] += sum G, all fp32 atomics into zeroed [n, d], [v, d], [v] arrays
// (each may be null). Counts tiles into info->blocks_total/skipped.
// max_smem: the device's per-block shared memory limit (opt-in), which picks
// single or double buffering of the products' operand chunks.
cudaError_t launch_backward_tiles(const CceDev& p, const float* lse_slot, const float* up_slot,
                                  float* de, float* dc, float* db, int32_t max_smem,
                                  cudaStream_t stream);

// dst[i] = round(src[i]) to a 16-bit dtype.
cudaError_t launch_convert(const float* src, void* dst, int32_t dtype, int64_t count,
                           cudaStream_t stream);

// Shard combine per token: lse = merge of shard_lse[s * n + i]; token_loss
// from target_logit and logit_sum (may be null). Writes lse[i] (if lse) and
// loss[i] (reduction NONE) or token_loss[i] (to be summed); 0 for ignored.
struct CceCombine {
    const float* shard_lse;
    const float* target_logit;
    const float* logit_sum;
    const void* targets;
    int32_t i64;
    int32_t n;
    int32_t num_shards;
    int64_t ignore_index;
    float inv_vocab, smoothing, z_loss;
    float* lse;
    float* loss_row;
    float* token_loss;
};
cudaError_t launch_shard_combine(const CceCombine& c, cudaStream_t stream);

// Least dynamic shared memory the tile kernels need (plus ~10 KB static), so
// the host can report a device that cannot run them.
size_t cce_forward_smem(int32_t dtype);
size_t cce_backward_smem(int32_t dtype);

}  // namespace engram::kernels
