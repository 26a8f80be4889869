// cce_backward.cu — the backward of fused linear cross-entropy, one CTA per
// (token tile, vocabulary tile): recompute the logit tile, turn it into
// G = dloss/dz with the shared formulas (cce_grad_coef, cce_logit_grad,
// softcap_grad), skip the whole tile when every |raw g| is below filter_eps
// (a block-wide vote), else add G's contribution to dbias, dE and dC with fp32
// atomics. No [n, v] buffer exists; the only per-token inputs are lse and the
// upstream gradient per slot.
//
// Tile order: token tile fastest, so CTAs in flight together read the same
// classifier tile (from L2) and all of E stays hot in L2 (8192 x 2304 bf16 is
// 38 MB); the dE atomics of concurrent CTAs then land on different rows.
//
// Precision of the 16-bit products: G is rounded to the input dtype for the
// tensor cores. Scaled by the upstream gradient (1/N under MEAN), f16 would
// lose G's small entries to subnormals, so the tile stores G' = G / s with s =
// max |upstream| over its rows and multiplies s back in fp32 after the product.
#include "cce_mma.cuh"
#include "cce_simt.cuh"

namespace engram::kernels {

namespace {

// acc (raw dot products) -> G' = dloss/dz * upstream / scale, zero outside
// the valid rows and columns. Returns whether any valid entry escapes the
// filter (|raw| >= filter_eps; NaN escapes too, so errors stay visible).
template <class Core>
__device__ __forceinline__ bool backward_epilogue(Core& core, const CceDev& p,
                                                  const typename Core::T* bias, int64_t col0,
                                                  const int* s_erow, const int* s_tcol,
                                                  const float* s_lse, const float* s_up,
                                                  float inv_scale) {
    using Elt = typename Core::Type;
    int64_t colg[Core::COLS];
    bool ok[Core::COLS];
    float b[Core::COLS];
#pragma unroll
    for (int j = 0; j < Core::COLS; ++j) {
        colg[j] = col0 + Core::col(j);
        ok[j] = colg[j] < p.v;
        b[j] = (bias && ok[j]) ? Elt::to_f32(bias[colg[j]]) : 0.0f;
    }
    bool keep = false;
#pragma unroll
    for (int i = 0; i < Core::ROWS; ++i) {
        const int r = Core::row(i);
        const bool row_ok = s_erow[r] >= 0;
        const float lse = s_lse[r];
        const CceGradCoef coef = cce_grad_coef(lse, p.inv_vocab, p.smoothing, p.z_loss);
        const int64_t tc = s_tcol[r];
        const float w = s_up[r] * inv_scale;
#pragma unroll
        for (int j = 0; j < Core::COLS; ++j) {
            float g = 0.0f;
            if (row_ok && ok[j]) {
                const float z = softcap_apply(core.at(i, j) + b[j], p.softcap);
                const float raw = cce_logit_grad(z, lse, colg[j] == tc, coef);
                keep |= !(fabsf(raw) < p.filter_eps);
                g = raw * w * softcap_grad(z, p.softcap);
            }
            core.at(i, j) = g;
        }
    }
    return keep;
}

// dbias[col] += scale * sum over the tile's rows of G'.
template <class Core>
__device__ __forceinline__ void bias_grad(Core& core, int64_t col0, int64_t v, float* db,
                                          float scale) {
#pragma unroll
    for (int j = 0; j < Core::COLS; ++j) {
        float s = 0.0f;
#pragma unroll
        for (int i = 0; i < Core::ROWS; ++i) s += core.at(i, j);
#pragma unroll
        for (int o = Core::COL_XOR_BEGIN; o < Core::COL_XOR_END; o <<= 1) s += shfl_xor(s, o);
        const int64_t col = col0 + Core::col(j);
        if (Core::col_leader() && col < v) atomicAdd(db + col, s * scale);
    }
}

template <class Core, bool kVec>
__global__ void __launch_bounds__(Core::THREADS)
    cce_backward_tiles(CceDev p, const float* lse_slot, const float* up_slot, float* de,
                       float* dc, float* db, int32_t nbuf) {
    using T = typename Core::T;
    constexpr int BM = Core::BM, BN = Core::BN;
    extern __shared__ __align__(16) unsigned char smem[];
    __shared__ int s_erow[BM];
    __shared__ int s_tcol[BM];
    __shared__ float s_lse[BM];
    __shared__ float s_up[BM];
    __shared__ float s_scale;

    const T* e = static_cast<const T*>(p.e);
    const T* c = static_cast<const T*>(p.c);
    const T* bias = static_cast<const T*>(p.bias);
    const int count = p.info->valid;
    const int64_t token_tiles = (int64_t(p.slots) + BM - 1) / BM;
    const int64_t vocab_tiles = (int64_t(p.v) + BN - 1) / BN;
    const int64_t total = token_tiles * vocab_tiles;
    unsigned long long visited = 0, skipped = 0;

    for (int64_t tile = blockIdx.x; tile < total; tile += gridDim.x) {
        const int slot0 = int(tile % token_tiles) * BM;
        const int64_t col0 = (tile / token_tiles) * BN;
        if (slot0 >= count) continue;  // uniform: tiles past the valid tokens

        __syncthreads();  // the previous tile's readers of the row arrays are done
        for (int r = threadIdx.x; r < BM; r += Core::THREADS) {
            const int slot = slot0 + r;
            const bool ok = slot < count;
            s_erow[r] = ok ? p.rows[slot] : -1;
            s_tcol[r] = ok ? p.tcol[slot] : -1;
            s_lse[r] = ok ? lse_slot[slot] : 0.0f;
            s_up[r] = ok ? up_slot[slot] : 0.0f;
        }
        __syncthreads();
        if (threadIdx.x < 32) {  // scale = max |upstream| of the tile's rows
            float m = 0.0f;
            for (int r = threadIdx.x; r < BM; r += 32) m = fmaxf(m, fabsf(s_up[r]));
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, shfl_xor(m, o));
            if (threadIdx.x == 0) s_scale = m;
        }

        auto erow = [&](int r) -> int64_t { return s_erow[r]; };
        const int64_t v = p.v;
        auto crow = [=](int r) -> int64_t { return col0 + r < v ? col0 + r : -1; };
        Core core;
        core.template mainloop<kVec>(smem, e, c, p.d, erow, crow);  // its barriers publish s_scale
        float scale = s_scale;
        scale = (scale > 0.0f && scale < INFINITY) ? scale : 1.0f;
        const bool keep =
            backward_epilogue(core, p, bias, col0, s_erow, s_tcol, s_lse, s_up, 1.0f / scale);
        // One vote per tile; it is also the barrier after which the mainloop's
        // shared memory may be reused for G.
        const bool any = __syncthreads_or(keep) != 0;
        ++visited;
        if (!any) {
            ++skipped;
            continue;
        }
        if (db) bias_grad(core, col0, p.v, db, scale);
        if (de || dc)
            core.template backward_products<kVec>(smem, e, c, p.d, erow, crow, de, dc, scale, nbuf);
    }
    if (threadIdx.x == 0 && visited > 0) {
        atomicAdd(&p.info->blocks_total, visited);
        if (skipped > 0) atomicAdd(&p.info->blocks_skipped, skipped);
    }
}

template <class Core, bool kVec>
cudaError_t launch(const CceDev& p, const float* lse_slot, const float* up_slot, float* de,
                   float* dc, float* db, int32_t max_smem, cudaStream_t stream) {
    auto kernel = cce_backward_tiles<Core, kVec>;
    cudaFuncAttributes attr{};
    cudaError_t err = cudaFuncGetAttributes(&attr, kernel);
    if (err != cudaSuccess) return err;
    const int32_t nbuf = attr.sharedSizeBytes + Core::bwd_smem(2) <= size_t(max_smem) ? 2 : 1;
    const size_t smem = Core::bwd_smem(nbuf);
    err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
    if (err != cudaSuccess) return err;
    const int64_t token_tiles = (int64_t(p.slots) + Core::BM - 1) / Core::BM;
    const int64_t vocab_tiles = (int64_t(p.v) + Core::BN - 1) / Core::BN;
    int64_t grid = token_tiles * vocab_tiles;
    grid = grid > INT32_MAX ? INT32_MAX : grid;
    kernel<<<unsigned(grid), Core::THREADS, smem, stream>>>(p, lse_slot, up_slot, de, dc, db,
                                                            nbuf);
    return cudaGetLastError();
}

template <class Core>
cudaError_t launch_core(const CceDev& p, const float* lse_slot, const float* up_slot, float* de,
                        float* dc, float* db, int32_t max_smem, cudaStream_t stream) {
    return use_vec_loads(p)
               ? launch<Core, true>(p, lse_slot, up_slot, de, dc, db, max_smem, stream)
               : launch<Core, false>(p, lse_slot, up_slot, de, dc, db, max_smem, stream);
}

}  // namespace

cudaError_t launch_backward_tiles(const CceDev& p, const float* lse_slot, const float* up_slot,
                                  float* de, float* dc, float* db, int32_t max_smem,
                                  cudaStream_t stream) {
    switch (p.dtype) {
        case kF32:
            return launch_core<SimtCore>(p, lse_slot, up_slot, de, dc, db, max_smem, stream);
        case kF16:
            return launch_core<MmaCore<F16>>(p, lse_slot, up_slot, de, dc, db, max_smem, stream);
        case kBF16:
            return launch_core<MmaCore<BF16>>(p, lse_slot, up_slot, de, dc, db, max_smem, stream);
        default: return cudaErrorInvalidValue;
    }
}

size_t cce_backward_smem(int32_t dtype) {
    return dtype == kF32 ? SimtCore::bwd_smem(1) : MmaCore<BF16>::bwd_smem(1);
}

}  // namespace engram::kernels
