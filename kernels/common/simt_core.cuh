// simt_core.cuh — an fp32 tile with plain FP32 FMA (no TF32: f32 callers
// expect f32 accuracy): a 64 x 64 tile acc = A[rows] B[cols]^T, and the two
// backward products dA += G B and dB += G^T A on the same tile. The same
// interface as MmaCore (mma_core.cuh), so a kernel is written once over both.
//
// 256 threads as a 16 x 16 grid; thread (tx, ty) owns rows ty*4 .. ty*4+3 and
// columns tx*4 .. tx*4+3. Operands are staged transposed in shared memory
// ([k][row], rows padded to 68 floats) so each k step reads one float4 of A
// and one of B per thread for 16 FMAs; global loads for the next k tile are in
// flight (in registers) while the current one is computed.
#pragma once

#include "common/elem.cuh"
#include "common/tile_load.cuh"

namespace engram::kernels {

struct SimtCore {
    using T = float;
    using Type = F32;
    static constexpr int BM = 64, BN = 64, BK = 16, THREADS = 256;
    static constexpr int AS = BM + 4;  // transposed operand row: float4-aligned, staggered banks
    static constexpr int STAGE_FLOATS = 2 * BK * AS;
    static constexpr int ROWS = 4, COLS = 4;
    // Same rows: the 16 lanes of a half warp (xor 1..8), one group. Same
    // columns: lanes xor 16, in all 8 warps.
    static constexpr int ROW_XOR_BEGIN = 1, ROW_XOR_END = 16, ROW_GROUPS = 1;
    static constexpr int COL_XOR_BEGIN = 16, COL_XOR_END = 32;

    static constexpr int DC = 64, GS = BN + 4, CS = DC + 4;
    static constexpr size_t MAIN_SMEM = size_t(2) * STAGE_FLOATS * 4;
    static constexpr size_t BWD_SMEM = size_t(BM * GS + BM * CS + BN * CS) * 4;
    static constexpr size_t FWD_SMEM_BYTES = MAIN_SMEM;
    // One chunk buffer (51 KB) whatever nbuf says: this tile is small enough
    // that several CTAs per SM hide the chunk loads.
    static constexpr size_t bwd_smem(int) { return BWD_SMEM > MAIN_SMEM ? BWD_SMEM : MAIN_SMEM; }

    float acc[ROWS][COLS];

    __device__ static int tx() { return threadIdx.x & 15; }
    __device__ static int ty() { return threadIdx.x >> 4; }
    __device__ static int row(int i) { return ty() * 4 + i; }
    __device__ static int col(int j) { return tx() * 4 + j; }
    __device__ float& at(int i, int j) { return acc[i][j]; }
    __device__ static int row_group() { return 0; }
    __device__ static bool row_leader() { return (threadIdx.x & 15) == 0; }
    __device__ static bool col_leader() { return (threadIdx.x & 31) < 16; }

    template <bool kVec, class ARow, class BRow>
    __device__ __forceinline__ void mainloop(unsigned char* smem_raw, const float* a, const float* b,
                                             int d, ARow arow, BRow brow) {
        float* sm = reinterpret_cast<float*>(smem_raw);
#pragma unroll
        for (int i = 0; i < ROWS; ++i)
#pragma unroll
            for (int j = 0; j < COLS; ++j) acc[i][j] = 0.0f;
        const int ktiles = (d - 1) / BK + 1;  // d >= 1; no overflow near 2^31
        // Loader mapping: 4 threads per operand row, 4 consecutive k each.
        const int lr = threadIdx.x >> 2, lk = (threadIdx.x & 3) * 4;
        __syncthreads();  // the previous user of shared memory is done
        const int64_t er = arow(lr), cr = brow(lr);
        float ra[4], rb[4];
        fetch4<kVec>(ra, a, er, d, lk);
        fetch4<kVec>(rb, b, cr, d, lk);
        store_stage(sm, ra, rb, lr, lk);
        __syncthreads();
        for (int kt = 0; kt < ktiles; ++kt) {
            const bool more = kt + 1 < ktiles;
            if (more) {
                fetch4<kVec>(ra, a, er, d, (kt + 1) * BK + lk);
                fetch4<kVec>(rb, b, cr, d, (kt + 1) * BK + lk);
            }
            compute_stage(sm + (kt & 1) * STAGE_FLOATS);
            if (more) store_stage(sm + ((kt + 1) & 1) * STAGE_FLOATS, ra, rb, lr, lk);
            __syncthreads();
        }
    }

    __device__ __forceinline__ static void store_stage(float* stage, const float (&ra)[4],
                                                       const float (&rb)[4], int lr, int lk) {
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            stage[(lk + q) * AS + lr] = ra[q];
            stage[BK * AS + (lk + q) * AS + lr] = rb[q];
        }
    }

    __device__ __forceinline__ void compute_stage(const float* stage) {
        const float* As = stage;
        const float* Bs = stage + BK * AS;
#pragma unroll
        for (int k = 0; k < BK; ++k) {
            const float4 a = *reinterpret_cast<const float4*>(As + k * AS + ty() * 4);
            const float4 b = *reinterpret_cast<const float4*>(Bs + k * AS + tx() * 4);
            const float av[4] = {a.x, a.y, a.z, a.w}, bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
            for (int i = 0; i < ROWS; ++i)
#pragma unroll
                for (int j = 0; j < COLS; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
        }
    }

    // G stays fp32 here, so nothing needs scaling (no 16-bit operand).
    static constexpr bool kScaleG = false;

    // See MmaCore::backward_products: acc holds G (zero outside the tile's
    // valid rows and columns); da[arow] += G B, db[brow] += G^T A. A and B
    // are the global operands; a and b in the loops are register fragments.
    template <bool kVec, class ARow, class BRow>
    __device__ __forceinline__ void backward_products(unsigned char* smem_raw, const float* A,
                                                      const float* B, int d, ARow arow, BRow brow,
                                                      float* da, float* db,
                                                      const uint32_t* /*gmax_row*/,
                                                      uint32_t /*gmax_tile*/, int /*nbuf*/) {
        float* G = reinterpret_cast<float*>(smem_raw);
        float* As = G + BM * GS;
        float* Bs = As + BM * CS;
#pragma unroll
        for (int i = 0; i < ROWS; ++i)
            *reinterpret_cast<float4*>(G + row(i) * GS + tx() * 4) =
                make_float4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
        const int nchunks = (d + DC - 1) / DC;
        for (int ch = 0; ch < nchunks; ++ch) {
            const int d0 = ch * DC;
            __syncthreads();  // G is visible; the previous chunk's readers are done
#pragma unroll
            for (int it = 0; it < BM * DC / 4 / THREADS; ++it) {
                const int idx = threadIdx.x + it * THREADS;
                const int r = idx / (DC / 4), c4 = (idx % (DC / 4)) * 4;
                float v[4];
                if (db) {
                    fetch4<kVec>(v, A, arow(r), d, d0 + c4);
                    *reinterpret_cast<float4*>(As + r * CS + c4) = make_float4(v[0], v[1], v[2], v[3]);
                }
                if (da) {
                    fetch4<kVec>(v, B, brow(r), d, d0 + c4);
                    *reinterpret_cast<float4*>(Bs + r * CS + c4) = make_float4(v[0], v[1], v[2], v[3]);
                }
            }
            __syncthreads();
            if (da) {
                float o[ROWS][COLS] = {};
                for (int n = 0; n < BN; ++n) {
                    const float4 b = *reinterpret_cast<const float4*>(Bs + n * CS + tx() * 4);
                    const float bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
                    for (int i = 0; i < ROWS; ++i) {
                        const float a = G[row(i) * GS + n];
#pragma unroll
                        for (int j = 0; j < COLS; ++j) o[i][j] = fmaf(a, bv[j], o[i][j]);
                    }
                }
                store_atomic(o, d0, d, arow, da);
            }
            if (db) {
                float o[ROWS][COLS] = {};
                for (int m = 0; m < BM; ++m) {
                    const float4 a = *reinterpret_cast<const float4*>(G + m * GS + ty() * 4);
                    const float4 b = *reinterpret_cast<const float4*>(As + m * CS + tx() * 4);
                    const float av[4] = {a.x, a.y, a.z, a.w}, bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
                    for (int i = 0; i < ROWS; ++i)
#pragma unroll
                        for (int j = 0; j < COLS; ++j) o[i][j] = fmaf(av[i], bv[j], o[i][j]);
                }
                store_atomic(o, d0, d, brow, db);
            }
        }
    }

    template <class RowOf>
    __device__ __forceinline__ static void store_atomic(const float (&o)[ROWS][COLS], int d0, int d,
                                                        RowOf row_of, float* out) {
#pragma unroll
        for (int i = 0; i < ROWS; ++i) {
            const int64_t grow = row_of(row(i));
            if (grow < 0) continue;
#pragma unroll
            for (int j = 0; j < COLS; ++j) {
                const int k = d0 + tx() * 4 + j;
                if (k < d) atomicAdd(out + grow * int64_t(d) + k, o[i][j]);
            }
        }
    }
};

}  // namespace engram::kernels
