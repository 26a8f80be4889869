// attention_decode.cu — split-S decode attention over the KV cache on CUDA
// (flash-decoding): the kept tokens of each unit (one query token and one KV
// head, see attention_launch.cuh) are cut into splits; one block per (split,
// unit, block of up to 8 query heads) reads each key and value row of its
// split once for all those query heads (GQA), keeps an online softmax per
// query head and writes a partial state (acc[D], m, l); a merge kernel then
// combines the splits in split order.
//
// Inside a block, warp w takes tokens w, w + 4, ... of the split; its lanes
// hold D / 32 elements of the row; the score is a lane-partial dot finished by
// a fixed butterfly. The four warps' states are combined in warp order.
// Online-softmax rules: ops/attention/attention_math.h (NaN / inf as PyTorch),
// plus one guard: a state whose maximum is still -inf holds exact zeros, so it
// is rescaled by 0 rather than by exp(0 - m'), which overflows for m' < -88.
// Every sum runs in a fixed order: bit-identical results run to run.
#include "attention/attention_launch.cuh"
#include "common/elem.cuh"
#include "common/launch.cuh"
#include "ops/attention/attention_math.h"

namespace engram::kernels {

namespace {

constexpr int kThreads = kAttnWarps * 32;
constexpr int kMaxJ = 8;  // row elements per lane: D <= 256

__device__ __forceinline__ float attn_load(const void* base, int dtype, int64_t i) {
    if (dtype == kF32) return static_cast<const float*>(base)[i];
    const uint16_t v = static_cast<const uint16_t*>(base)[i];
    return dtype == kF16 ? f16_to_f32(v) : bf16_to_f32(v);
}

__device__ __forceinline__ void attn_store(void* base, int dtype, int64_t i, float v) {
    if (dtype == kF32)
        static_cast<float*>(base)[i] = v;
    else
        static_cast<uint16_t*>(base)[i] = dtype == kF16 ? f32_to_f16(v) : f32_to_bf16(v);
}

// Factor that moves a state of maximum m to the maximum m_new (m_new is
// max_nan(m, ...)). A state at m = -inf holds only zero weights: factor 0.
__device__ __forceinline__ float attn_factor(float m, float m_new) {
    if (m == -INFINITY && m_new != -INFINITY) return 0.0f;
    return attention_rescale(m, m_new);
}

__global__ void __launch_bounds__(kThreads) attn_partials(AttnDecodeDev d) {
    extern __shared__ __align__(16) float smem[];
    const int D = d.head_dim, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int g0 = int(blockIdx.z) * kAttnHeadsPerBlock;
    const int gb = d.group - g0 < kAttnHeadsPerBlock ? d.group - g0 : kAttnHeadsPerBlock;
    const int row_bytes = D * (d.storage == kF32 ? 4 : 2);
    float* qs = smem;                               // [8][D] f32 queries
    float* ws = smem + kAttnHeadsPerBlock * D;      // [4][8][D + 2] warp states
    const int64_t split = blockIdx.x;
    for (int64_t u = blockIdx.y; u < d.n_units; u += gridDim.y) {
        const AttnUnit& unit = d.units[u];
        __syncthreads();  // the previous unit is done with qs / ws
        for (int e = threadIdx.x; e < gb * D; e += kThreads) {
            const int g = e / D, c = e % D;
            qs[e] = attn_load(d.q, d.io_dtype, (unit.q_row + int64_t(g0 + g) * d.q_head_stride) * D + c);
        }
        __syncthreads();
        float m[kAttnHeadsPerBlock], l[kAttnHeadsPerBlock], acc[kAttnHeadsPerBlock][kMaxJ];
#pragma unroll
        for (int g = 0; g < kAttnHeadsPerBlock; ++g) {
            m[g] = -INFINITY;
            l[g] = 0.0f;
#pragma unroll
            for (int j = 0; j < kMaxJ; ++j) acc[g][j] = 0.0f;
        }
        const int64_t t_begin = split * d.split_len;
        const int64_t t_end = t_begin + d.split_len < unit.total ? t_begin + d.split_len : unit.total;
        for (int64_t t = t_begin + warp; t < t_end; t += kAttnWarps) {
            int s = 0;
            int64_t off = t;
            while (s + 1 < unit.nsegs && off >= unit.segs[s].count) off -= unit.segs[s++].count;
            const char* kr = static_cast<const char*>(unit.segs[s].k) + off * row_bytes;
            const char* vr = static_cast<const char*>(unit.segs[s].v) + off * row_bytes;
            float kv[kMaxJ], vv[kMaxJ];
#pragma unroll
            for (int j = 0; j < kMaxJ; ++j) {
                const int c = lane + 32 * j;
                kv[j] = c < D ? attn_load(kr, d.storage, c) : 0.0f;
                vv[j] = c < D ? attn_load(vr, d.storage, c) : 0.0f;
            }
#pragma unroll
            for (int g = 0; g < kAttnHeadsPerBlock; ++g) {
                if (g >= gb) break;
                float part = 0.0f;
#pragma unroll
                for (int j = 0; j < kMaxJ; ++j)
                    if (lane + 32 * j < D) part = fmaf(qs[g * D + lane + 32 * j], kv[j], part);
#pragma unroll
                for (int o = 16; o > 0; o >>= 1) part += __shfl_xor_sync(0xffffffffu, part, o);
                const float sc = part * d.scale;
                const float m_new = attention_max_nan(m[g], sc);
                const float alpha = attn_factor(m[g], m_new);
                const float p = expf(sc - attention_shift(m_new));
                l[g] = l[g] * alpha + p;
#pragma unroll
                for (int j = 0; j < kMaxJ; ++j) acc[g][j] = fmaf(p, vv[j], acc[g][j] * alpha);
                m[g] = m_new;
            }
        }
        const int ws_stride = D + 2;
#pragma unroll
        for (int g = 0; g < kAttnHeadsPerBlock; ++g) {
            if (g >= gb) break;
            float* w = ws + (warp * kAttnHeadsPerBlock + g) * ws_stride;
#pragma unroll
            for (int j = 0; j < kMaxJ; ++j)
                if (lane + 32 * j < D) w[lane + 32 * j] = acc[g][j];
            if (lane == 0) {
                w[D] = m[g];
                w[D + 1] = l[g];
            }
        }
        __syncthreads();
        // Combine the four warps (in warp order) into the block's partial.
        for (int e = threadIdx.x; e < gb * ws_stride; e += kThreads) {
            const int g = e / ws_stride, c = e % ws_stride;
            float mm = -INFINITY;
            for (int w = 0; w < kAttnWarps; ++w)
                mm = attention_max_nan(mm, ws[(w * kAttnHeadsPerBlock + g) * ws_stride + D]);
            float r = 0.0f;
            if (c == D) {
                r = mm;
            } else {
                const int src = c == D + 1 ? D + 1 : c;
                for (int w = 0; w < kAttnWarps; ++w) {
                    const float* st = ws + (w * kAttnHeadsPerBlock + g) * ws_stride;
                    r = fmaf(attn_factor(st[D], mm), st[src], r);
                }
            }
            d.part[((u * d.group + g0 + g) * d.splits + split) * ws_stride + c] = r;
        }
    }
}

// out = (sum_s f_s acc_s) / (sum_s f_s l_s), splits in order.
__global__ void __launch_bounds__(256) attn_merge(AttnDecodeDev d) {
    const int D = d.head_dim, stride = D + 2;
    const int64_t items = d.n_units * d.group * D;
    for (int64_t e = int64_t(blockIdx.x) * 256 + threadIdx.x; e < items; e += int64_t(gridDim.x) * 256) {
        const int c = int(e % D);
        const int64_t ug = e / D;  // u * G + g
        const int64_t u = ug / d.group;
        const int g = int(ug % d.group);
        const float* base = d.part + ug * d.splits * stride;
        float mm = -INFINITY;
        for (int s = 0; s < d.splits; ++s) mm = attention_max_nan(mm, base[s * stride + D]);
        float a = 0.0f, l = 0.0f;
        for (int s = 0; s < d.splits; ++s) {
            const float f = attn_factor(base[s * stride + D], mm);
            a = fmaf(f, base[s * stride + c], a);
            l = fmaf(f, base[s * stride + D + 1], l);
        }
        const AttnUnit& unit = d.units[u];
        attn_store(d.out, d.io_dtype, (unit.q_row + int64_t(g) * d.q_head_stride) * D + c, a / l);
    }
}

__global__ void __launch_bounds__(256) attn_store_rows(const float* src, int64_t n, int32_t storage,
                                                       uint16_t* dst) {
    for (int64_t i = int64_t(blockIdx.x) * 256 + threadIdx.x; i < n; i += int64_t(gridDim.x) * 256)
        dst[i] = storage == kF16 ? f32_to_f16(src[i]) : f32_to_bf16(src[i]);
}

}  // namespace

cudaError_t launch_attn_decode(const AttnDecodeDev& d, cudaStream_t stream) {
    const size_t smem = (size_t(kAttnHeadsPerBlock) * d.head_dim +
                         size_t(kAttnWarps) * kAttnHeadsPerBlock * (d.head_dim + 2)) *
                        sizeof(float);  // <= 41 KB for D = 256: no opt-in needed
    const int64_t gblocks = (d.group + kAttnHeadsPerBlock - 1) / kAttnHeadsPerBlock;
    const dim3 grid(unsigned(d.splits), unsigned(d.n_units < 65535 ? d.n_units : 65535),
                    unsigned(gblocks));
    attn_partials<<<grid, kThreads, smem, stream>>>(d);
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return err;
    attn_merge<<<grid_for(d.n_units * d.group * d.head_dim, 256), 256, 0, stream>>>(d);
    return cudaGetLastError();
}

cudaError_t launch_attn_store(const void* src, int32_t src_dtype, int64_t elements,
                              int32_t storage, void* dst, cudaStream_t stream) {
    if (src_dtype == storage)
        return cudaMemcpyAsync(dst, src, size_t(elements) * (storage == kF32 ? 4 : 2),
                               cudaMemcpyDeviceToDevice, stream);
    // The API gives keys and values as F32 or the storage dtype: F32 -> 16-bit.
    attn_store_rows<<<grid_for(elements, 256), 256, 0, stream>>>(
        static_cast<const float*>(src), elements, storage, static_cast<uint16_t*>(dst));
    return cudaGetLastError();
}

}  // namespace engram::kernels
