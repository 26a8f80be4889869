// qmatmul.cu — the 2-bit weight product y = x . W_hat^T on CUDA.
//
//   small m (<= 16)  qmatmul_small: one warp per weight row; each lane takes
//                    4 consecutive code words (64 codes, one 16-byte load) at
//                    a time, dequantises them in registers (one fma each)
//                    and multiplies them into all m activation rows, so each
//                    weight byte is read from memory once; the 32 lane sums
//                    are combined by a fixed butterfly.
//   large m          qmatmul_large: 64 x 64 output tiles; per 32-column step
//                    the block expands a 64 x 32 weight tile to fp32 in shared
//                    memory (the scale and zero of one group cover it: 32
//                    divides the group) next to the 64 x 32 activation tile,
//                    and each thread accumulates a 4 x 4 block with fp32 FMA.
//                    No tensor cores: the contract dequantises in fp32 and
//                    accumulates in fp32, which f16/bf16 MMA operands break.
//
// Every y entry is summed by one warp or one thread in a fixed order, so the
// results are bit-identical run to run. Host side: ops/qmatmul/cuda/.
#include "common/launch.cuh"
#include "qmatmul/qmatmul_common.cuh"

namespace engram::kernels {

namespace {

constexpr int kSmallWarps = 4;  // weight rows per block of the small kernel
constexpr int kLargeThreads = 256;

// Adds row r's word w (columns 16 w .. 16 w + 15) to the m sums of the lane.
template <int MB, class X>
__device__ __forceinline__ void small_word(const QmatmulDev& d, int64_t r, int64_t w,
                                           uint32_t word, int64_t groups, float (&acc)[MB]) {
    const int64_t c0 = w * 16;
    const int64_t gi = r * groups + c0 / d.group;
    const float s = qm_scale(d.scales, d.scale_f16, gi);
    const float z = qm_scale(d.zeros, d.scale_f16, gi);
    float wv[16];
#pragma unroll
    for (int j = 0; j < 16; ++j) wv[j] = qm_dequant(word, j, s, z);
#pragma unroll
    for (int i = 0; i < MB; ++i) {
        if (i >= d.m) break;
        float xv[16];
        qm_load_x16<X>(d.x, int64_t(i) * d.k + c0, d.vec_x, xv);
#pragma unroll
        for (int j = 0; j < 16; ++j) acc[i] = fmaf(xv[j], wv[j], acc[i]);
    }
}

template <int MB, class X>
__global__ void __launch_bounds__(kSmallWarps * 32) qmatmul_small(QmatmulDev d) {
    const int lane = threadIdx.x & 31;
    const int64_t words = d.k / 16, groups = d.k / d.group;
    // r is the same for the whole warp: the loop and the shuffles stay uniform.
    for (int64_t r = int64_t(blockIdx.x) * kSmallWarps + (threadIdx.x >> 5); r < d.n_out;
         r += int64_t(gridDim.x) * kSmallWarps) {
        float acc[MB];
#pragma unroll
        for (int i = 0; i < MB; ++i) acc[i] = 0.0f;
        // Lane l takes chunks l, l + 32, ... of 4 words (64 columns): with a
        // 16-byte load where the layout and alignment allow, else word by word
        // in the same order, so both code layouts give the same bits.
        const int64_t chunks = (words + 3) / 4;
        for (int64_t ch = lane; ch < chunks; ch += 32) {
            const int64_t w0 = ch * 4;
            uint32_t q[4] = {0u, 0u, 0u, 0u};
            if (d.vec_codes) {  // words % 4 == 0: the chunk is whole
                const uint4 v = reinterpret_cast<const uint4*>(d.codes + r * words)[ch];
                q[0] = v.x, q[1] = v.y, q[2] = v.z, q[3] = v.w;
            } else {
#pragma unroll
                for (int t = 0; t < 4; ++t)
                    if (w0 + t < words) q[t] = d.codes[qm_word_index(d, r, w0 + t, words)];
            }
            const int nw = words - w0 < 4 ? int(words - w0) : 4;
#pragma unroll 1
            for (int t = 0; t < nw; ++t) small_word<MB, X>(d, r, w0 + t, q[t], groups, acc);
        }
#pragma unroll
        for (int i = 0; i < MB; ++i) {
            float v = acc[i];
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
            if (lane == 0 && i < d.m) qm_store_y(d.y, d.y_dtype, int64_t(i) * d.n_out + r, v);
        }
    }
}

__global__ void __launch_bounds__(kLargeThreads) qmatmul_large(QmatmulDev d) {
    // Transposed tiles ([k][row]), rows padded by 4 floats: float4 reads below.
    __shared__ __align__(16) float xs[kQmTileK][kQmTileM + 4];
    __shared__ __align__(16) float ws[kQmTileK][kQmTileN + 4];
    const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    const int64_t words = d.k / 16, groups = d.k / d.group;
    const int64_t mtiles = (d.m + kQmTileM - 1) / kQmTileM;
    const int64_t ntiles = (d.n_out + kQmTileN - 1) / kQmTileN;
    for (int64_t nt = blockIdx.x; nt < ntiles; nt += gridDim.x) {
        const int64_t n0 = nt * kQmTileN;
        for (int64_t mt = blockIdx.y; mt < mtiles; mt += gridDim.y) {
            const int64_t m0 = mt * kQmTileM;
            float acc[4][4];
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
            for (int64_t k0 = 0; k0 < d.k; k0 += kQmTileK) {
                __syncthreads();  // the previous step's reads of xs/ws are done
                // Activations: 64 rows x 32 columns, 8 per thread, columns
                // consecutive across a warp (coalesced reads).
#pragma unroll
                for (int it = 0; it < kQmTileM * kQmTileK / kLargeThreads; ++it) {
                    const int idx = threadIdx.x + it * kLargeThreads;
                    const int rr = idx / kQmTileK, cc = idx % kQmTileK;
                    const int64_t gi = m0 + rr;
                    xs[cc][rr] = gi < d.m ? qm_load_x(d.x, d.x_dtype, gi * d.k + k0 + cc) : 0.0f;
                }
                // Weights: 64 rows x 2 words; one word (16 codes) per thread.
                if (threadIdx.x < kQmTileN * (kQmTileK / 16)) {
                    const int rr = threadIdx.x >> 1, wi = threadIdx.x & 1;
                    const int64_t gr = n0 + rr;
                    if (gr < d.n_out) {
                        const uint32_t word = d.codes[qm_word_index(d, gr, k0 / 16 + wi, words)];
                        const int64_t gi = gr * groups + k0 / d.group;
                        const float s = qm_scale(d.scales, d.scale_f16, gi);
                        const float z = qm_scale(d.zeros, d.scale_f16, gi);
#pragma unroll
                        for (int j = 0; j < 16; ++j) ws[wi * 16 + j][rr] = qm_dequant(word, j, s, z);
                    } else {
#pragma unroll
                        for (int j = 0; j < 16; ++j) ws[wi * 16 + j][rr] = 0.0f;
                    }
                }
                __syncthreads();
#pragma unroll 8
                for (int kk = 0; kk < kQmTileK; ++kk) {
                    const float4 a = *reinterpret_cast<const float4*>(&xs[kk][ty * 4]);
                    const float4 b = *reinterpret_cast<const float4*>(&ws[kk][tx * 4]);
                    const float av[4] = {a.x, a.y, a.z, a.w}, bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
                    for (int i = 0; i < 4; ++i)
#pragma unroll
                        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
                }
            }
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const int64_t gi = m0 + ty * 4 + i;
                if (gi >= d.m) continue;
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    const int64_t gn = n0 + tx * 4 + j;
                    if (gn < d.n_out) qm_store_y(d.y, d.y_dtype, gi * d.n_out + gn, acc[i][j]);
                }
            }
        }
    }
}

template <class X>
void launch_small_for(const QmatmulDev& d, unsigned blocks, unsigned threads, cudaStream_t stream) {
    if (d.m <= 1)
        qmatmul_small<1, X><<<blocks, threads, 0, stream>>>(d);
    else if (d.m <= 2)
        qmatmul_small<2, X><<<blocks, threads, 0, stream>>>(d);
    else if (d.m <= 4)
        qmatmul_small<4, X><<<blocks, threads, 0, stream>>>(d);
    else if (d.m <= 8)
        qmatmul_small<8, X><<<blocks, threads, 0, stream>>>(d);
    else
        qmatmul_small<16, X><<<blocks, threads, 0, stream>>>(d);
}

}  // namespace

cudaError_t launch_qmatmul_small(const QmatmulDev& d, cudaStream_t stream) {
    const unsigned blocks = grid_for(d.n_out, kSmallWarps);
    const unsigned threads = kSmallWarps * 32;
    if (d.x_dtype == kF32)
        launch_small_for<F32>(d, blocks, threads, stream);
    else if (d.x_dtype == kF16)
        launch_small_for<F16>(d, blocks, threads, stream);
    else
        launch_small_for<BF16>(d, blocks, threads, stream);
    return cudaGetLastError();
}

cudaError_t launch_qmatmul_large(const QmatmulDev& d, cudaStream_t stream, uint64_t* tiles) {
    const int64_t mtiles = (d.m + kQmTileM - 1) / kQmTileM;
    const int64_t ntiles = (d.n_out + kQmTileN - 1) / kQmTileN;
    *tiles = uint64_t(mtiles) * uint64_t(ntiles) * uint64_t(d.k / kQmTileK);
    // Both dimensions loop grid-stride past these caps.
    const dim3 grid(unsigned(ntiles < (1 << 20) ? ntiles : (1 << 20)),
                    unsigned(mtiles < 65535 ? mtiles : 65535));
    qmatmul_large<<<grid, kLargeThreads, 0, stream>>>(d);
    return cudaGetLastError();
}

}  // namespace engram::kernels
