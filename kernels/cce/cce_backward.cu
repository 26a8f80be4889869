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
// Non-finite values (the contract of ops/cce/cce_math.h, as on the CPU and in
// torch autograd): G is the plain IEEE arithmetic of dloss/dz * upstream *
// softcap factor, so a NaN lse gives a NaN row, a +inf lse gives NaN at +inf
// columns (exp(inf - inf)), and so on. The filter never hides them: a tile
// with a NaN or infinite |dloss/dz| or upstream gradient is always kept, and
// filter_eps = 0 keeps every tile.
//
// Precision of the 16-bit products: G is rounded to the input dtype for the
// tensor cores. f16 would flush G's small entries to zero (a row with a small
// upstream gradient, 1/N under MEAN), so G is placed in f16's range per row
// for dE and per tile for dC (MmaCore::backward_products), from the largest
// finite |G| that the epilogue records per row and per tile.
#include "cce/cce_common.cuh"
#include "common/mma_core.cuh"
#include "common/simt_core.cuh"

namespace engram::kernels {

namespace {

// acc (raw dot products) -> G = dloss/dz * upstream * softcap factor, zero
// outside the valid rows and columns. Returns whether the tile escapes the
// filter. For f16 it records, as float bits, the largest finite |G| of each
// row (atomicMax into s_gmax) and of the tile (s_gmax_tile).
template <class Core>
__device__ __forceinline__ bool backward_epilogue(Core& core, const CceDev& p,
                                                  const typename Core::T* bias, int64_t col0,
                                                  const int* s_erow, const int* s_tcol,
                                                  const float* s_lse, const float* s_up,
                                                  uint32_t* s_gmax, uint32_t* s_gmax_tile) {
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
    bool keep = !(p.filter_eps > 0.0f);  // eps = 0: exact, nothing is skipped
    uint32_t tile_max = 0;
#pragma unroll
    for (int i = 0; i < Core::ROWS; ++i) {
        const int r = Core::row(i);
        const bool row_ok = s_erow[r] >= 0;
        const float lse = s_lse[r];
        const CceGradCoef coef = cce_grad_coef(lse, p.inv_vocab, p.smoothing, p.z_loss);
        const int64_t tc = s_tcol[r];
        const float up = s_up[r];
        // A NaN or infinite upstream gradient reaches every entry of the row,
        // however small dloss/dz is there.
        if (row_ok && !(fabsf(up) < INFINITY)) keep = true;
        uint32_t row_max = 0;
#pragma unroll
        for (int j = 0; j < Core::COLS; ++j) {
            float g = 0.0f;
            if (row_ok && ok[j]) {
                const float z = softcap_apply(core.at(i, j) + b[j], p.softcap);
                const float raw = cce_logit_grad(z, lse, colg[j] == tc, coef);
                if (!(fabsf(raw) < p.filter_eps)) keep = true;  // NaN and inf escape
                g = raw * (up * softcap_grad(z, p.softcap));
            }
            core.at(i, j) = g;
            if constexpr (Core::kScaleG) {
                const uint32_t bits = __float_as_uint(fabsf(g));
                if (bits < 0x7f800000u && bits > row_max) row_max = bits;  // finite only
            }
        }
        if constexpr (Core::kScaleG) {
#pragma unroll
            for (int o = Core::ROW_XOR_BEGIN; o < Core::ROW_XOR_END; o <<= 1) {
                const uint32_t other = __shfl_xor_sync(0xffffffffu, row_max, o);
                row_max = other > row_max ? other : row_max;
            }
            if (Core::row_leader() && row_max > 0) atomicMax(s_gmax + r, row_max);
            tile_max = row_max > tile_max ? row_max : tile_max;
        }
    }
    if constexpr (Core::kScaleG) {
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            const uint32_t other = __shfl_xor_sync(0xffffffffu, tile_max, o);
            tile_max = other > tile_max ? other : tile_max;
        }
        if ((threadIdx.x & 31) == 0 && tile_max > 0) atomicMax(s_gmax_tile, tile_max);
    }
    return keep;
}

// dbias[col] += sum over the tile's rows of G (fp32, unscaled).
template <class Core>
__device__ __forceinline__ void bias_grad(Core& core, int64_t col0, int64_t v, float* db) {
#pragma unroll
    for (int j = 0; j < Core::COLS; ++j) {
        float s = 0.0f;
#pragma unroll
        for (int i = 0; i < Core::ROWS; ++i) s += core.at(i, j);
#pragma unroll
        for (int o = Core::COL_XOR_BEGIN; o < Core::COL_XOR_END; o <<= 1) s += shfl_xor(s, o);
        const int64_t col = col0 + Core::col(j);
        if (Core::col_leader() && col < v) atomicAdd(db + col, s);
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
    __shared__ uint32_t s_gmax[BM];  // f16: float bits of each row's largest finite |G|
    __shared__ uint32_t s_gmax_tile;

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
            s_gmax[r] = 0u;
        }
        if (threadIdx.x == 0) s_gmax_tile = 0u;
        __syncthreads();

        auto erow = [&](int r) -> int64_t { return s_erow[r]; };
        const int64_t v = p.v;
        auto crow = [=](int r) -> int64_t { return col0 + r < v ? col0 + r : -1; };
        Core core;
        core.template mainloop<kVec>(smem, e, c, p.d, erow, crow);
        const bool keep = backward_epilogue(core, p, bias, col0, s_erow, s_tcol, s_lse, s_up,
                                            s_gmax, &s_gmax_tile);
        // One vote per tile; it is also the barrier that completes s_gmax and
        // after which the mainloop's shared memory may be reused for G.
        const bool any = __syncthreads_or(keep) != 0;
        ++visited;
        if (!any) {
            ++skipped;
            continue;
        }
        if (db) bias_grad(core, col0, p.v, db);
        if (de || dc)
            core.template backward_products<kVec>(smem, e, c, p.d, erow, crow, de, dc, s_gmax,
                                                  s_gmax_tile, nbuf);
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
