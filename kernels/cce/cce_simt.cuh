// cce_simt.cuh — the fp32 tile of the CCE kernels: a 64 x 64 logit tile with
// plain FP32 FMA (no TF32: f32 callers expect f32 accuracy), and the
// backward's two products on the same tile.
//
// 256 threads as a 16 x 16 grid; thread (tx, ty) owns rows ty*4 .. ty*4+3 and
// columns tx*4 .. tx*4+3. Operands are staged transposed in shared memory
// ([k][row], rows padded to 68 floats) so each k step reads one float4 of E
// and one of C per thread for 16 FMAs; global loads for the next k tile are in
// flight (in registers) while the current one is computed.
#pragma once

#include "cce/cce_common.cuh"

namespace engram::kernels {

// r[0..3] = g[row][k .. k+3] (zero outside the row range or past d). kVec:
// one float4 load (d % 4 == 0 and a 16-byte aligned base, checked by the host).
template <bool kVec>
__device__ __forceinline__ void fetch4(float (&r)[4], const float* g, int64_t row, int d, int k) {
    if (row < 0) {
        r[0] = r[1] = r[2] = r[3] = 0.0f;
        return;
    }
    const float* src = g + row * int64_t(d) + k;
    if constexpr (kVec) {
        if (k < d) {
            const float4 v = *reinterpret_cast<const float4*>(src);
            r[0] = v.x, r[1] = v.y, r[2] = v.z, r[3] = v.w;
        } else {
            r[0] = r[1] = r[2] = r[3] = 0.0f;
        }
    } else {
#pragma unroll
        for (int q = 0; q < 4; ++q) r[q] = k + q < d ? src[q] : 0.0f;
    }
}

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

    template <bool kVec, class ERow, class CRow>
    __device__ __forceinline__ void mainloop(unsigned char* smem_raw, const float* e, const float* c,
                                             int d, ERow erow, CRow crow) {
        float* sm = reinterpret_cast<float*>(smem_raw);
#pragma unroll
        for (int i = 0; i < ROWS; ++i)
#pragma unroll
            for (int j = 0; j < COLS; ++j) acc[i][j] = 0.0f;
        const int ktiles = (d - 1) / BK + 1;  // d >= 1; no overflow near 2^31
        // Loader mapping: 4 threads per operand row, 4 consecutive k each.
        const int lr = threadIdx.x >> 2, lk = (threadIdx.x & 3) * 4;
        __syncthreads();  // the previous user of shared memory is done
        const int64_t er = erow(lr), cr = crow(lr);
        float ra[4], rb[4];
        fetch4<kVec>(ra, e, er, d, lk);
        fetch4<kVec>(rb, c, cr, d, lk);
        store_stage(sm, ra, rb, lr, lk);
        __syncthreads();
        for (int kt = 0; kt < ktiles; ++kt) {
            const bool more = kt + 1 < ktiles;
            if (more) {
                fetch4<kVec>(ra, e, er, d, (kt + 1) * BK + lk);
                fetch4<kVec>(rb, c, cr, d, (kt + 1) * BK + lk);
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
    // valid rows and columns); de[erow] += G C, dc[crow] += G^T E.
    template <bool kVec, class ERow, class CRow>
    __device__ __forceinline__ void backward_products(unsigned char* smem_raw, const float* e,
                                                      const float* c, int d, ERow erow, CRow crow,
                                                      float* de, float* dc,
                                                      const uint32_t* /*gmax_row*/,
                                                      uint32_t /*gmax_tile*/, int /*nbuf*/) {
        float* G = reinterpret_cast<float*>(smem_raw);
        float* Es = G + BM * GS;
        float* Cs = Es + BM * CS;
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
                if (dc) {
                    fetch4<kVec>(v, e, erow(r), d, d0 + c4);
                    *reinterpret_cast<float4*>(Es + r * CS + c4) = make_float4(v[0], v[1], v[2], v[3]);
                }
                if (de) {
                    fetch4<kVec>(v, c, crow(r), d, d0 + c4);
                    *reinterpret_cast<float4*>(Cs + r * CS + c4) = make_float4(v[0], v[1], v[2], v[3]);
                }
            }
            __syncthreads();
            if (de) {
                float o[ROWS][COLS] = {};
                for (int n = 0; n < BN; ++n) {
                    const float4 b = *reinterpret_cast<const float4*>(Cs + n * CS + tx() * 4);
                    const float bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
                    for (int i = 0; i < ROWS; ++i) {
                        const float a = G[row(i) * GS + n];
#pragma unroll
                        for (int j = 0; j < COLS; ++j) o[i][j] = fmaf(a, bv[j], o[i][j]);
                    }
                }
                store_atomic(o, d0, d, erow, de);
            }
            if (dc) {
                float o[ROWS][COLS] = {};
                for (int m = 0; m < BM; ++m) {
                    const float4 a = *reinterpret_cast<const float4*>(G + m * GS + ty() * 4);
                    const float4 b = *reinterpret_cast<const float4*>(Es + m * CS + tx() * 4);
                    const float av[4] = {a.x, a.y, a.z, a.w}, bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
                    for (int i = 0; i < ROWS; ++i)
#pragma unroll
                        for (int j = 0; j < COLS; ++j) o[i][j] = fmaf(av[i], bv[j], o[i][j]);
                }
                store_atomic(o, d0, d, crow, dc);
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
