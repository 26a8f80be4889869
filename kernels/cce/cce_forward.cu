// cce_forward.cu — forward stage 1 of fused linear cross-entropy: per token,
// the online log-sum-exp over one split of the vocabulary, the target logit
// and the sum of logits, without ever storing a logit tile in memory.
//
// Grid: (token tile x vocabulary split), token tile fastest so that the CTAs
// running together share classifier tiles in L2. Each CTA loops over its
// split in BN-column tiles; every thread keeps the running state of its own
// rows over its own columns (no cross-thread work per tile), and the row
// states are merged across threads once, at the end of the split. The
// partial states then go to a [splits x slots] scratch array (16 bytes each)
// that kernels/cce/cce.cu merges — a fixed order, so the loss is deterministic.
#include "cce/cce_common.cuh"
#include "common/mma_core.cuh"
#include "common/simt_core.cuh"

namespace engram::kernels {

namespace {

// Folds one logit tile into the thread's row states: z = softcap(acc + bias),
// running (max, sum exp), target logit and logit sum over valid columns.
//
// Non-finite logits follow torch.logsumexp (the LseState contract of
// ops/cce/cce_math.h, the same on the CPU): the tile's sum is taken relative to
// lse_shift(lmax), never to an infinite lmax, so a NaN gives a NaN lse, a +inf
// (no NaN) gives lse = +inf, and -inf logits contribute exp = 0.
template <class Core>
__device__ __forceinline__ void forward_epilogue(Core& core, const CceDev& p,
                                                 const typename Core::T* bias, int64_t col0,
                                                 int64_t vend, const int* s_tcol,
                                                 LseState (&st)[Core::ROWS],
                                                 float (&tgt)[Core::ROWS],
                                                 float (&lsum)[Core::ROWS]) {
    using Elt = typename Core::Type;
    int64_t colg[Core::COLS];
    bool ok[Core::COLS];
    float b[Core::COLS];
#pragma unroll
    for (int j = 0; j < Core::COLS; ++j) {
        colg[j] = col0 + Core::col(j);
        ok[j] = colg[j] < vend;
        b[j] = (bias && ok[j]) ? Elt::to_f32(bias[colg[j]]) : 0.0f;
    }
#pragma unroll
    for (int i = 0; i < Core::ROWS; ++i) {
        const int64_t tc = s_tcol[Core::row(i)];
        float lmax = -INFINITY;
#pragma unroll
        for (int j = 0; j < Core::COLS; ++j) {
            float z = softcap_apply(core.at(i, j) + b[j], p.softcap);
            if (ok[j]) {
                lsum[i] += z;
                if (colg[j] == tc) tgt[i] = z;
                lmax = (z > lmax || z != z) ? z : lmax;  // fmaxf would drop a NaN
            } else {
                z = -INFINITY;
            }
            core.at(i, j) = z;
        }
        // Block-wise online update: one rescale per row per tile, and nothing
        // to merge when every logit is -inf or past the vocabulary (exp = 0).
        if (!(lmax == -INFINITY)) {  // NaN passes, so a NaN row yields a NaN lse
            const float shift = lse_shift(lmax);  // z - lmax would be inf - inf = NaN
            float s = 0.0f;
#pragma unroll
            for (int j = 0; j < Core::COLS; ++j) s += expf(core.at(i, j) - shift);
            st[i] = lse_merge(st[i], LseState{lmax, s});
        }
    }
}

template <class Core, bool kVec>
__global__ void __launch_bounds__(Core::THREADS)
    cce_forward_tiles(CceDev p, int32_t splits, int64_t cols_per_split, float4* partials) {
    using T = typename Core::T;
    constexpr int BM = Core::BM, BN = Core::BN, ROWS = Core::ROWS;
    extern __shared__ __align__(16) unsigned char smem[];
    __shared__ int s_erow[BM];
    __shared__ int s_tcol[BM];
    __shared__ float4 s_red[Core::ROW_GROUPS][BM];

    const T* e = static_cast<const T*>(p.e);
    const T* c = static_cast<const T*>(p.c);
    const T* bias = static_cast<const T*>(p.bias);
    const int count = p.info->valid;
    const int64_t token_tiles = (int64_t(p.slots) + BM - 1) / BM;
    const int64_t total = token_tiles * splits;

    for (int64_t tile = blockIdx.x; tile < total; tile += gridDim.x) {
        const int tt = int(tile % token_tiles);
        const int split = int(tile / token_tiles);
        const int slot0 = tt * BM;
        if (slot0 >= count) continue;  // uniform: tiles past the valid tokens
        const int64_t vbeg = int64_t(split) * cols_per_split;
        const int64_t vend = vbeg + cols_per_split < p.v ? vbeg + cols_per_split : p.v;

        __syncthreads();  // the previous tile's readers of s_erow / s_red are done
        for (int r = threadIdx.x; r < BM; r += Core::THREADS) {
            const int slot = slot0 + r;
            s_erow[r] = slot < count ? p.rows[slot] : -1;
            s_tcol[r] = slot < count ? p.tcol[slot] : -1;
        }
        __syncthreads();

        LseState st[ROWS];
        float tgt[ROWS], lsum[ROWS];
#pragma unroll
        for (int i = 0; i < ROWS; ++i) {
            st[i] = lse_empty();
            tgt[i] = 0.0f;
            lsum[i] = 0.0f;
        }
        Core core;
        auto erow = [&](int r) -> int64_t { return s_erow[r]; };
        for (int64_t col0 = vbeg; col0 < vend; col0 += BN) {
            auto crow = [=](int r) -> int64_t { return col0 + r < vend ? col0 + r : -1; };
            core.template mainloop<kVec>(smem, e, c, p.d, erow, crow);
            forward_epilogue(core, p, bias, col0, vend, s_tcol, st, tgt, lsum);
        }

        // Merge the row states of the threads sharing a row: lanes first, then
        // the warps of a warp row through shared memory, in a fixed order.
#pragma unroll
        for (int i = 0; i < ROWS; ++i) {
#pragma unroll
            for (int o = Core::ROW_XOR_BEGIN; o < Core::ROW_XOR_END; o <<= 1) {
                st[i] = lse_merge(st[i], shfl_xor(st[i], o));
                tgt[i] += shfl_xor(tgt[i], o);
                lsum[i] += shfl_xor(lsum[i], o);
            }
            if (Core::row_leader())
                s_red[Core::row_group()][Core::row(i)] = make_float4(st[i].m, st[i].s, tgt[i], lsum[i]);
        }
        __syncthreads();
        for (int r = threadIdx.x; r < BM; r += Core::THREADS) {
            const int slot = slot0 + r;
            if (slot >= count) continue;
            float4 a = s_red[0][r];
            LseState m{a.x, a.y};
            float tg = a.z, sm = a.w;
#pragma unroll
            for (int g = 1; g < Core::ROW_GROUPS; ++g) {
                a = s_red[g][r];
                m = lse_merge(m, LseState{a.x, a.y});
                tg += a.z;
                sm += a.w;
            }
            partials[int64_t(split) * p.slots + slot] = make_float4(m.m, m.s, tg, sm);
        }
    }
}

template <class Core>
struct ForwardPlan {
    int32_t splits;
    int64_t cols_per_split;
    int64_t grid;
};

// Budget for the partial states (16 bytes per split and slot): with N = 8192
// tokens it allows 8 splits, and keeps the forward's scratch under 2 MB.
constexpr int64_t kPartialsBudget = int64_t(1) << 20;

// Splitting the vocabulary gives more CTAs than the token tiles alone (N =
// 8192 is only 64 tiles of 128 rows). The split count minimises the time
// model waves(s) / s — a CTA's work shrinks as 1/s, and the GPU runs
// `resident` CTAs per wave — so that the last wave does not leave SMs idle;
// ties go to fewer splits (less scratch, a cheaper merge). Each split keeps
// at least 4 vocabulary tiles, so the partials (16 bytes per split and token)
// stay below 1/64 of the logit matrix they replace (4 bytes per logit).
template <class Core>
ForwardPlan<Core> plan(const CceDev& p, int64_t resident, int32_t splits) {
    const int64_t token_tiles = (int64_t(p.slots) + Core::BM - 1) / Core::BM;
    const int64_t vocab_tiles = (int64_t(p.v) + Core::BN - 1) / Core::BN;
    if (splits <= 0) {
        resident = resident > 0 ? resident : 1;
        int64_t smax = kPartialsBudget / (int64_t(p.slots) * 16);
        smax = smax < 1 ? 1 : smax;
        const int64_t by_vocab = vocab_tiles / 4 > 1 ? vocab_tiles / 4 : 1;
        smax = smax > by_vocab ? by_vocab : smax;
        smax = smax > 64 ? 64 : smax;
        int64_t best = 1;
        double best_cost = 2.0;
        for (int64_t s = 1; s <= smax; ++s) {
            const int64_t waves = (token_tiles * s + resident - 1) / resident;
            const double cost = double(waves) / double(s);
            if (cost < best_cost * 0.999) {
                best = s;
                best_cost = cost;
            }
        }
        splits = int32_t(best);
    }
    const int64_t tiles_per_split = (vocab_tiles + splits - 1) / splits;
    int64_t grid = token_tiles * splits;
    grid = grid > INT32_MAX ? INT32_MAX : grid;
    return ForwardPlan<Core>{splits, tiles_per_split * Core::BN, grid};
}

template <class Core, bool kVec>
cudaError_t prepare_kernel() {
    return cudaFuncSetAttribute(cce_forward_tiles<Core, kVec>,
                                cudaFuncAttributeMaxDynamicSharedMemorySize,
                                int(Core::FWD_SMEM_BYTES));
}

// CTAs of the tile kernel that run at once on the whole GPU.
template <class Core, bool kVec>
int64_t resident_ctas(int32_t sm_count) {
    int per_sm = 0;
    if (prepare_kernel<Core, kVec>() != cudaSuccess ||
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, cce_forward_tiles<Core, kVec>,
                                                      Core::THREADS,
                                                      Core::FWD_SMEM_BYTES) != cudaSuccess) {
        cudaGetLastError();  // the launch reports real problems
        per_sm = 1;
    }
    return int64_t(per_sm > 0 ? per_sm : 1) * (sm_count > 0 ? sm_count : 1);
}

template <class Core, bool kVec>
cudaError_t launch(const CceDev& p, int32_t splits, float* partials, cudaStream_t stream) {
    const ForwardPlan<Core> pl = plan<Core>(p, 0, splits);
    const cudaError_t err = prepare_kernel<Core, kVec>();
    if (err != cudaSuccess) return err;
    cce_forward_tiles<Core, kVec><<<unsigned(pl.grid), Core::THREADS, Core::FWD_SMEM_BYTES, stream>>>(
        p, pl.splits, pl.cols_per_split, reinterpret_cast<float4*>(partials));
    return cudaGetLastError();
}

template <class Core>
cudaError_t launch_core(const CceDev& p, int32_t splits, float* partials, cudaStream_t stream) {
    return use_vec_loads(p) ? launch<Core, true>(p, splits, partials, stream)
                            : launch<Core, false>(p, splits, partials, stream);
}

template <class Core>
int32_t splits_for(const CceDev& p, int32_t sm_count) {
    const int64_t resident = use_vec_loads(p) ? resident_ctas<Core, true>(sm_count)
                                              : resident_ctas<Core, false>(sm_count);
    return plan<Core>(p, resident, 0).splits;
}

}  // namespace

int32_t cce_forward_splits(const CceDev& p, int32_t sm_count) {
    switch (p.dtype) {
        case kF32: return splits_for<SimtCore>(p, sm_count);
        case kF16: return splits_for<MmaCore<F16>>(p, sm_count);
        default: return splits_for<MmaCore<BF16>>(p, sm_count);
    }
}

cudaError_t launch_forward_partials(const CceDev& p, int32_t splits, float* partials,
                                    cudaStream_t stream) {
    switch (p.dtype) {
        case kF32: return launch_core<SimtCore>(p, splits, partials, stream);
        case kF16: return launch_core<MmaCore<F16>>(p, splits, partials, stream);
        case kBF16: return launch_core<MmaCore<BF16>>(p, splits, partials, stream);
        default: return cudaErrorInvalidValue;
    }
}

size_t cce_forward_smem(int32_t dtype) {
    return dtype == kF32 ? SimtCore::FWD_SMEM_BYTES : MmaCore<BF16>::FWD_SMEM_BYTES;
}

}  // namespace engram::kernels
