// mma_core.cuh — a tensor-core tile for f16/bf16 operands: a 128 x 128 tile
// acc = A[rows] B[cols]^T with fp32 accumulation (mma.sync m16n8k16,
// fragments loaded with ldmatrix from shared memory that cp.async fills
// through a 4-stage pipeline), and the two products a backward needs on the
// same tile, dA += G B and dB += G^T A, for a gradient tile G left in the
// accumulators. Rows of A and B are gathered through row maps (arow, brow:
// tile row -> global row, or -1 for a zero row). CCE uses it with A = E
// (tokens) and B = C (classifier rows).
//
// Layout: 8 warps as 2 (A rows) x 4 (B rows); each warp owns a 64 x 32 block
// = 4 x 4 mma tiles of 16 x 8, so a thread holds 64 fp32 accumulators: 8 rows
// x 8 columns (see row() / col()).
//
// Why these sizes: 128 x 128 is the largest tile whose accumulators (64 per
// thread) leave registers for an epilogue's per-row state (~160 registers a
// thread: one CTA of 8 warps per SM, latency hidden by the cp.async
// pipeline); BK = 32 with 4 stages is 80 KB of shared memory, within every
// sm_8x/sm_90 limit, each stage one 64-byte segment per operand row. Rows are
// padded by 16 bytes (SROW = BK + 8) so the 8 row addresses of an ldmatrix
// phase fall in distinct bank groups.
#pragma once

#include <type_traits>

#include "common/elem.cuh"
#include "common/ptx.cuh"
#include "common/tile_load.cuh"

namespace engram::kernels {

template <class Elt>
struct MmaCore {
    using T = uint16_t;
    using Type = Elt;
    static constexpr int BM = 128, BN = 128, BK = 32, STAGES = 4, THREADS = 256;
    static constexpr int WARPS_N = 4, WM = 64, WN = 32, MT = WM / 16, NT = WN / 8;
    static constexpr int SROW = BK + 8;
    static constexpr int STAGE_ELEMS = (BM + BN) * SROW;
    static constexpr int ROWS = MT * 2, COLS = NT * 2;  // per thread
    // Threads holding the same rows: the 4 lanes of a quad (xor 1, 2) in the
    // 4 warps of a warp row; the same columns: lanes xor 4, 8, 16 in the 2
    // warps of a warp column.
    static constexpr int ROW_XOR_BEGIN = 1, ROW_XOR_END = 4, ROW_GROUPS = WARPS_N;
    static constexpr int COL_XOR_BEGIN = 4, COL_XOR_END = 32;

    // Backward products: G tile (16-bit, [BM][GS]) and double-buffered chunks
    // of DC columns of A ([BM][CS]) and B ([BN][CS]).
    static constexpr int DC = 64, GS = BN + 8, CS = DC + 8;
    static constexpr size_t MAIN_SMEM = size_t(STAGES) * STAGE_ELEMS * 2;
    static constexpr size_t G_BYTES = size_t(BM) * GS * 2;
    static constexpr size_t CHUNK_ELEMS = size_t(BM + BN) * CS;
    static constexpr size_t FWD_SMEM_BYTES = MAIN_SMEM;
    // nbuf = 2 (chunk loads overlap the products) needs 106 KB: the host
    // falls back to 1 where a block may not have that much (sm_86/89: 99 KB).
    static constexpr size_t bwd_smem(int nbuf) {
        return G_BYTES + nbuf * CHUNK_ELEMS * 2 > MAIN_SMEM ? G_BYTES + nbuf * CHUNK_ELEMS * 2
                                                           : MAIN_SMEM;
    }
    static_assert(G_BYTES % 16 == 0 && (CHUNK_ELEMS * 2) % 16 == 0, "16-byte aligned regions");

    float acc[MT][NT][4];

    __device__ static int lane() { return threadIdx.x & 31; }
    __device__ static int warp_m() { return (threadIdx.x >> 5) / WARPS_N; }
    __device__ static int warp_n() { return (threadIdx.x >> 5) % WARPS_N; }

    // Tile row of the thread's i-th row and tile column of its j-th column
    // (the m16n8 accumulator layout: c0,c1 at row g, c2,c3 at row g + 8,
    // columns 2t, 2t + 1 with g = lane / 4, t = lane % 4).
    __device__ static int row(int i) {
        return warp_m() * WM + (i >> 1) * 16 + (i & 1) * 8 + (lane() >> 2);
    }
    __device__ static int col(int j) {
        return warp_n() * WN + (j >> 1) * 8 + (lane() & 3) * 2 + (j & 1);
    }
    __device__ float& at(int i, int j) { return acc[i >> 1][j >> 1][(i & 1) * 2 + (j & 1)]; }
    __device__ static int row_group() { return warp_n(); }
    __device__ static bool row_leader() { return (lane() & 3) == 0; }
    __device__ static bool col_leader() { return (lane() >> 2) == 0; }

    // acc = A[arow(r)] . B[brow(r)] over the shared dimension d (the row
    // length of both operands).
    template <bool kVec, class ARow, class BRow>
    __device__ __forceinline__ void mainloop(unsigned char* smem_raw, const uint16_t* a,
                                             const uint16_t* b, int d, ARow arow, BRow brow) {
        uint16_t* smem = reinterpret_cast<uint16_t*>(smem_raw);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int nt = 0; nt < NT; ++nt)
#pragma unroll
                for (int r = 0; r < 4; ++r) acc[mt][nt][r] = 0.0f;
        const int ktiles = (d - 1) / BK + 1;  // d >= 1; no overflow near 2^31
        __syncthreads();  // the previous user of shared memory is done
#pragma unroll
        for (int s = 0; s < STAGES - 1; ++s) {
            if (s < ktiles) load_stage<kVec>(smem + s * STAGE_ELEMS, a, b, d, s * BK, arow, brow);
            cp_async_commit();
        }
        for (int kt = 0; kt < ktiles; ++kt) {
            cp_async_wait<STAGES - 2>();  // stage kt has landed (for this thread)
            __syncthreads();              // ... for all threads; stage kt - 1 is free
            const int next = kt + STAGES - 1;
            if (next < ktiles)
                load_stage<kVec>(smem + (next % STAGES) * STAGE_ELEMS, a, b, d, next * BK, arow,
                                 brow);
            cp_async_commit();
            compute_stage(smem + (kt % STAGES) * STAGE_ELEMS);
        }
        cp_async_wait<0>();
    }

    template <bool kVec, class ARow, class BRow>
    __device__ __forceinline__ static void load_stage(uint16_t* stage, const uint16_t* a,
                                                      const uint16_t* b, int d, int k0, ARow arow,
                                                      BRow brow) {
        load_tile16<BM, BK, SROW, THREADS, kVec>(stage, a, d, k0, d, arow);
        load_tile16<BN, BK, SROW, THREADS, kVec>(stage + BM * SROW, b, d, k0, d, brow);
    }

    __device__ __forceinline__ void compute_stage(const uint16_t* stage) {
        const uint16_t* As = stage;
        const uint16_t* Bs = stage + BM * SROW;
        const int l = lane();
        const int m0 = warp_m() * WM, n0 = warp_n() * WN;
#pragma unroll
        for (int kk = 0; kk < BK; kk += 16) {
            uint32_t a[MT][4], b[NT][2];
#pragma unroll
            for (int mt = 0; mt < MT; ++mt)  // matrices: rows 0-7/8-15 x k 0-7/8-15
                ldmatrix_x4(a[mt], As + (m0 + mt * 16 + (l & 15)) * SROW + kk + (l >> 4) * 8);
#pragma unroll
            for (int p = 0; p < NT / 2; ++p) {  // two n8 tiles: (n 0-7 | 8-15) x (k 0-7 | 8-15)
                uint32_t r[4];
                ldmatrix_x4(r, Bs + (n0 + p * 16 + (l >> 4) * 8 + (l & 7)) * SROW + kk +
                                   ((l >> 3) & 1) * 8);
                b[2 * p][0] = r[0];
                b[2 * p][1] = r[1];
                b[2 * p + 1][0] = r[2];
                b[2 * p + 1][1] = r[3];
            }
#pragma unroll
            for (int mt = 0; mt < MT; ++mt)
#pragma unroll
                for (int nt = 0; nt < NT; ++nt) mma_16816<Elt>(acc[mt][nt], a[mt], b[nt][0], b[nt][1]);
        }
    }

    // f16 has 5 exponent bits, so the backward places G in its range by
    // powers of two (backward_products); bf16 has fp32's range and takes G as
    // it is.
    static constexpr bool kScaleG = std::is_same<Elt, F16>::value;

    // The backward's products for this tile, after the caller's epilogue left
    // G = dloss/dz (the gradient of the tile A B^T) in acc (fp32, zero outside
    // the valid rows and columns). The tensor cores multiply 16-bit operands,
    // so G is rounded to the input dtype in shared memory; accumulation stays
    // fp32:
    //   da[arow(r)] += 2^k_r (G[r] / 2^k_r) B[brow]   (if da)
    //   db[brow(n)] += 2^k_t (G / 2^k_t)^T A[arow]    (if db)
    // For f16, k_r puts row r's largest finite |G| (gmax_row[r], float bits)
    // at the top of f16's range and k_t the tile's (gmax_tile). dA is a
    // product per row, so every row keeps f16's precision whatever its scale
    // (a tile-wide scale flushed rows with a small upstream gradient to zero);
    // dB sums over rows, which must share one scale there, and loses only
    // terms below ~2^-39 of the tile's largest |G|. Powers of two keep the
    // scaling exact. bf16: k = 0.
    template <bool kVec, class ARow, class BRow>
    __device__ __forceinline__ void backward_products(unsigned char* smem_raw, const uint16_t* a,
                                                      const uint16_t* b, int d, ARow arow,
                                                      BRow brow, float* da, float* db,
                                                      const uint32_t* gmax_row,
                                                      uint32_t gmax_tile, int nbuf) {
        uint16_t* G = reinterpret_cast<uint16_t*>(smem_raw);
        if constexpr (kScaleG) {
            const int kt = f16_scale_exp(gmax_tile);
            auto tile_k = [=](int) { return kt; };
            if (da) {
                auto row_k = [=](int r) { return f16_scale_exp(gmax_row[r]); };
                store_g(G, row_k);
                chunk_products<kVec>(smem_raw, a, b, d, arow, brow, da, nullptr, row_k, kt, nbuf);
            }
            if (db) {  // after the dA pass's last barrier nothing reads G
                store_g(G, tile_k);
                chunk_products<kVec>(smem_raw, a, b, d, arow, brow, nullptr, db, tile_k, kt, nbuf);
            }
        } else {
            auto no_k = [](int) { return 0; };
            store_g(G, no_k);
            chunk_products<kVec>(smem_raw, a, b, d, arow, brow, da, db, no_k, 0, nbuf);
        }
    }

    // G / 2^row_k(row) to shared memory in the input dtype. Pairs of columns
    // are adjacent (2t, 2t + 1), so one 32-bit store each.
    template <class RowK>
    __device__ __forceinline__ void store_g(uint16_t* G, RowK row_k) {
#pragma unroll
        for (int i = 0; i < ROWS; ++i) {
            const float inv = exp2_int(-row_k(row(i)));
#pragma unroll
            for (int j = 0; j < COLS; j += 2) {
                const uint32_t lo = Elt::from_f32(at(i, j) * inv),
                               hi = Elt::from_f32(at(i, j + 1) * inv);
                *reinterpret_cast<uint32_t*>(G + row(i) * GS + col(j)) = lo | (hi << 16);
            }
        }
    }

    // da += 2^da_k(r) G B and/or db += 2^db_k G^T A for the G tile in shared
    // memory, over the operands' row length d in chunks of DC columns, double-buffered
    // when nbuf == 2. Ends with a barrier: G and the chunks are free again.
    template <bool kVec, class ARow, class BRow, class RowK>
    __device__ __forceinline__ void chunk_products(unsigned char* smem_raw, const uint16_t* a,
                                                   const uint16_t* b, int d, ARow arow, BRow brow,
                                                   float* da, float* db, RowK da_k, int db_k,
                                                   int nbuf) {
        const uint16_t* G = reinterpret_cast<const uint16_t*>(smem_raw);
        uint16_t* chunks = reinterpret_cast<uint16_t*>(smem_raw + G_BYTES);
        const int nchunks = (d + DC - 1) / DC;
        const bool two = nbuf == 2;
        auto load_chunk = [&](int ch) {
            uint16_t* buf = chunks + (two ? (ch & 1) * CHUNK_ELEMS : 0);
            if (db) load_tile16<BM, DC, CS, THREADS, kVec>(buf, a, d, ch * DC, d, arow);
            if (da) load_tile16<BN, DC, CS, THREADS, kVec>(buf + BM * CS, b, d, ch * DC, d, brow);
            cp_async_commit();
        };
        if (two) load_chunk(0);
        for (int ch = 0; ch < nchunks; ++ch) {
            if (!two) {
                load_chunk(ch);
                cp_async_wait<0>();
            } else if (ch + 1 < nchunks) {
                load_chunk(ch + 1);  // into the buffer freed at the end of ch - 1
                cp_async_wait<1>();
            } else {
                cp_async_wait<0>();
            }
            __syncthreads();  // chunk ch and (first time) G are visible
            const uint16_t* As = chunks + (two ? (ch & 1) * CHUNK_ELEMS : 0);
            const uint16_t* Bs = As + BM * CS;
            if (da) product_da(G, Bs, ch * DC, d, arow, da, da_k);
            if (db) product_db(G, As, ch * DC, d, brow, db, db_k);
            __syncthreads();  // this chunk's buffer may be overwritten next
        }
    }

    // Output warp layout of both products: 4 (rows) x 2 (columns of d)
    // warps of 32 x 32, i.e. 2 x 4 mma tiles each.
    static constexpr int PM = 32, PN = 32, PMT = PM / 16, PNT = PN / 8;

    // B fragments of a row-major [k][n] shared tile (k = summed index):
    // ldmatrix.trans turns its 8 x 8 blocks into the column-major layout
    // mma expects; matrices (k 0-7 | 8-15) x (n 0-7 | 8-15).
    __device__ __forceinline__ static void load_b_trans(uint32_t (&b)[PNT][2], const uint16_t* s,
                                                        int stride, int k0, int n0) {
        const int l = lane();
#pragma unroll
        for (int p = 0; p < PNT / 2; ++p) {
            uint32_t r[4];
            ldmatrix_x4_trans(r, s + (k0 + ((l >> 3) & 1) * 8 + (l & 7)) * stride + n0 + p * 16 +
                                     (l >> 4) * 8);
            b[2 * p][0] = r[0];
            b[2 * p][1] = r[1];
            b[2 * p + 1][0] = r[2];
            b[2 * p + 1][1] = r[3];
        }
    }

    // da chunk [BM x DC] = G [BM x BN] . B chunk [BN x DC].
    template <class ARow, class RowK>
    __device__ __forceinline__ void product_da(const uint16_t* G, const uint16_t* Bs, int d0, int d,
                                               ARow arow, float* da, RowK row_k) {
        const int w = threadIdx.x >> 5, l = lane();
        const int m0 = (w >> 1) * PM, n0 = (w & 1) * PN;
        float o[PMT][PNT][4] = {};
#pragma unroll 2
        for (int kk = 0; kk < BN; kk += 16) {
            uint32_t a[PMT][4], b[PNT][2];
#pragma unroll
            for (int mt = 0; mt < PMT; ++mt)
                ldmatrix_x4(a[mt], G + (m0 + mt * 16 + (l & 15)) * GS + kk + (l >> 4) * 8);
            load_b_trans(b, Bs, CS, kk, n0);
#pragma unroll
            for (int mt = 0; mt < PMT; ++mt)
#pragma unroll
                for (int nt = 0; nt < PNT; ++nt) mma_16816<Elt>(o[mt][nt], a[mt], b[nt][0], b[nt][1]);
        }
        store_atomic(o, m0, n0, d0, d, arow, da, [=](int r) { return exp2_int(row_k(r)); });
    }

    // db chunk [BN x DC] = G^T [BN x BM] . A chunk [BM x DC]. The A
    // fragments of G^T come from G [a row][b row] through ldmatrix.trans:
    // matrices (b row 0-7 | 8-15) x (a row 0-7 | 8-15) as a0..a7 expect.
    template <class BRow>
    __device__ __forceinline__ void product_db(const uint16_t* G, const uint16_t* As, int d0, int d,
                                               BRow brow, float* db, int db_k) {
        const int w = threadIdx.x >> 5, l = lane();
        const int m0 = (w >> 1) * PM, n0 = (w & 1) * PN;
        float o[PMT][PNT][4] = {};
#pragma unroll 2
        for (int kk = 0; kk < BM; kk += 16) {
            uint32_t a[PMT][4], b[PNT][2];
#pragma unroll
            for (int mt = 0; mt < PMT; ++mt)
                ldmatrix_x4_trans(a[mt], G + (kk + (l >> 4) * 8 + (l & 7)) * GS + m0 + mt * 16 +
                                             ((l >> 3) & 1) * 8);
            load_b_trans(b, As, CS, kk, n0);
#pragma unroll
            for (int mt = 0; mt < PMT; ++mt)
#pragma unroll
                for (int nt = 0; nt < PNT; ++nt) mma_16816<Elt>(o[mt][nt], a[mt], b[nt][0], b[nt][1]);
        }
        const float scale = exp2_int(db_k);
        store_atomic(o, m0, n0, d0, d, brow, db, [=](int) { return scale; });
    }

    // out[row_of(r)][d0 + c] += scale_of(r) * o for the warp's 32 x 32 block.
    template <class RowOf, class ScaleOf>
    __device__ __forceinline__ static void store_atomic(const float (&o)[PMT][PNT][4], int m0,
                                                        int n0, int d0, int d, RowOf row_of,
                                                        float* out, ScaleOf scale_of) {
        const int l = lane();
#pragma unroll
        for (int mt = 0; mt < PMT; ++mt)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int r = m0 + mt * 16 + h * 8 + (l >> 2);
                const int64_t grow = row_of(r);
                if (grow < 0) continue;
                const float scale = scale_of(r);
                float* dst = out + grow * int64_t(d);
#pragma unroll
                for (int nt = 0; nt < PNT; ++nt)
#pragma unroll
                    for (int q = 0; q < 2; ++q) {
                        const int k = d0 + n0 + nt * 8 + (l & 3) * 2 + q;
                        if (k < d) atomicAdd(dst + k, scale * o[mt][nt][h * 2 + q]);
                    }
            }
    }
};

}  // namespace engram::kernels
