// scan.cu — causal linear attention (engram_scan.h) on CUDA.
//
//   forward  one block per (sequence, value head, tile of 32 value columns):
//            the state's columns evolve independently, so each block carries
//            its [K, 32] slice of the fp32 state in shared memory across the
//            chunks. Per chunk of n tokens (n <= 16): load q (scaled), k and
//            its v columns as fp32; the cumulative log-decay b of the chunk in
//            float64 (one thread per gate entry, in token order, with the CPU's
//            reset rule); the masked scores A = (Q K^T . D); the outputs
//            O = (Q . D0) S + A V; then S <- Dl . S + (K . Dk)^T V. The same
//            formulas, factor by factor, as ops/scan/cpu/scan_head.cpp.
//   decode   one thread per (sequence, head, value column): the recurrence
//            step down that column of the state, in place safe (each state
//            entry is read, then written, by the thread that owns it).
//
// Every output entry and state entry is computed by one thread in a fixed
// order: results are bit-identical run to run. Host side: ops/scan/cuda/.
#include "common/elem.cuh"
#include "common/launch.cuh"
#include "engram.h"
#include "scan/scan_launch.cuh"

namespace engram::kernels {

namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float scan_load(const void* base, int dtype, int64_t i) {
    if (dtype == kF32) return static_cast<const float*>(base)[i];
    const uint16_t v = static_cast<const uint16_t*>(base)[i];
    return dtype == kF16 ? f16_to_f32(v) : bf16_to_f32(v);
}

__device__ __forceinline__ void scan_store(void* base, int dtype, int64_t i, float v) {
    if (dtype == kF32)
        static_cast<float*>(base)[i] = v;
    else
        static_cast<uint16_t*>(base)[i] = dtype == kF16 ? f32_to_f16(v) : f32_to_bf16(v);
}

// The chunk's decay factors (as Decay in scan_head.cpp): b the log-decay
// since the last reset in the chunk, r that reset's token (-1 none).
struct ChunkDecay {
    const double* b;
    const int32_t* r;
    int width;

    // exp of the log-decay from token j (exclusive) to i (inclusive), j <= i:
    // 0 when a reset lies in (j, i], NaN once b is NaN.
    __device__ float between(int i, int j, int c) const {
        const double bi = b[i * width + c];
        if (j >= r[i * width + c]) return float(exp(bi - b[j * width + c]));
        return isnan(bi) ? __int_as_float(0x7fc00000) : 0.0f;
    }
    // From the chunk's start (the carried state) to token i inclusive.
    __device__ float from_start(int i, int c) const {
        const double bi = b[i * width + c];
        if (r[i * width + c] < 0) return float(exp(bi));
        return isnan(bi) ? __int_as_float(0x7fc00000) : 0.0f;
    }
};

struct ForwardSmem {
    double* b;   // [C, max(W, 1)]
    int32_t* r;  // [C, max(W, 1)]
    float* s;    // [K, kScanColTile] the state slice
    float* q;    // [C, K] q times scale
    float* k;    // [C, K]
    float* v;    // [C, kScanColTile]
    float* a;    // [C, C] masked scores

    __device__ static ForwardSmem carve(unsigned char* base, int c, int kd, int w) {
        const int wn = w > 0 ? w : 1;
        ForwardSmem m;
        m.b = reinterpret_cast<double*>(base);
        m.r = reinterpret_cast<int32_t*>(m.b + c * wn);
        m.s = reinterpret_cast<float*>(m.r + c * wn);
        m.q = m.s + kd * kScanColTile;
        m.k = m.q + c * kd;
        m.v = m.k + c * kd;
        m.a = m.v + c * kScanColTile;
        return m;
    }
};

__global__ void __launch_bounds__(kThreads) scan_forward(ScanDev d) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    const int K = d.k_dim, V = d.v_dim, C = d.chunk, W = d.width;
    const int tid = threadIdx.x;
    const ForwardSmem sm = ForwardSmem::carve(smem_raw, C, K, W);
    const ChunkDecay dec{sm.b, sm.r, W};
    const int vtiles = (V + kScanColTile - 1) / kScanColTile;
    const int64_t pairs = d.batch * d.heads;
    const int64_t group = d.heads / d.qk_heads;
    for (int64_t unit = blockIdx.x; unit < pairs * vtiles; unit += gridDim.x) {
        const int64_t pair = unit / vtiles;
        const int x0 = int(unit % vtiles) * kScanColTile;
        const int cols = V - x0 < kScanColTile ? V - x0 : kScanColTile;
        const int64_t bb = pair / d.heads, h = pair % d.heads, hk = h / group;
        const int64_t state0 = pair * int64_t(K) * V;
        __syncthreads();  // the previous unit is done with shared memory
        for (int e = tid; e < K * kScanColTile; e += kThreads) {
            const int c = e / kScanColTile, x = e % kScanColTile;
            sm.s[e] = (x < cols && d.initial_state) ? d.initial_state[state0 + int64_t(c) * V + x0 + x]
                                                    : 0.0f;
        }
        for (int64_t t0 = 0; t0 < d.t; t0 += C) {
            const int n = d.t - t0 < C ? int(d.t - t0) : C;
            __syncthreads();  // the state slice is written / the last chunk is done
            for (int e = tid; e < n * K; e += kThreads) {
                const int i = e / K, c = e % K;
                const int64_t at = ((bb * d.t + t0 + i) * d.qk_heads + hk) * K + c;
                sm.q[e] = scan_load(d.q, d.dtype, at) * d.scale;
                sm.k[e] = scan_load(d.k, d.dtype, at);
            }
            for (int e = tid; e < n * kScanColTile; e += kThreads) {
                const int i = e / kScanColTile, x = e % kScanColTile;
                sm.v[e] = x < cols ? scan_load(d.v, d.dtype, ((bb * d.t + t0 + i) * d.heads + h) * V + x0 + x)
                                   : 0.0f;
            }
            if (tid < W) {  // W <= K <= 256 = kThreads: one thread per gate entry
                double acc = 0.0;
                int32_t reset = -1;
                for (int i = 0; i < n; ++i) {
                    const double gi = double(d.g[((bb * d.t + t0 + i) * d.heads + h) * W + tid]);
                    if (isinf(gi) && gi < 0.0 && isfinite(acc)) {
                        acc = 0.0;  // S_i = 0 * S_{i-1} + k_i v_i^T
                        reset = i;
                    } else {
                        acc += gi;  // NaN (or +inf) stays non-finite
                    }
                    sm.b[i * W + tid] = acc;
                    sm.r[i * W + tid] = reset;
                }
            }
            __syncthreads();
            // Scores A[i, j] = sum_c q_ic k_jc D_c[i, j], j <= i.
            for (int e = tid; e < n * n; e += kThreads) {
                const int i = e / n, j = e % n;
                float s = 0.0f;
                if (j <= i) {
                    const float* qi = sm.q + i * K;
                    const float* kj = sm.k + j * K;
                    if (d.gate == ENGRAM_SCAN_GATE_VECTOR) {
                        for (int c = 0; c < K; ++c) s += qi[c] * kj[c] * dec.between(i, j, c);
                    } else {
                        for (int c = 0; c < K; ++c) s += qi[c] * kj[c];
                        if (d.gate == ENGRAM_SCAN_GATE_SCALAR) s *= dec.between(i, j, 0);
                    }
                }
                sm.a[e] = s;
            }
            __syncthreads();
            // O[i] = (q_i . D0_i)^T S + sum_{j <= i} A[i, j] v_j.
            for (int e = tid; e < n * kScanColTile; e += kThreads) {
                const int i = e / kScanColTile, x = e % kScanColTile;
                if (x >= cols) continue;
                const float* qi = sm.q + i * K;
                const float ds = d.gate == ENGRAM_SCAN_GATE_SCALAR ? dec.from_start(i, 0) : 1.0f;
                float o = 0.0f;
                for (int c = 0; c < K; ++c) {
                    const float dd = d.gate == ENGRAM_SCAN_GATE_VECTOR ? dec.from_start(i, c) : ds;
                    o += qi[c] * dd * sm.s[c * kScanColTile + x];
                }
                for (int j = 0; j <= i; ++j) o += sm.a[i * n + j] * sm.v[j * kScanColTile + x];
                scan_store(d.o, d.out_dtype, ((bb * d.t + t0 + i) * d.heads + h) * V + x0 + x, o);
            }
            __syncthreads();
            // S <- Dl . S + sum_j (k_j . Dk_j) v_j^T (decay to the chunk's last token).
            const int last = n - 1;
            for (int e = tid; e < K * kScanColTile; e += kThreads) {
                const int c = e / kScanColTile, x = e % kScanColTile;
                const int gc = d.gate == ENGRAM_SCAN_GATE_VECTOR ? c : 0;
                float s = sm.s[e];
                if (d.gate != ENGRAM_SCAN_GATE_NONE) s *= dec.from_start(last, gc);
                for (int j = 0; j < n; ++j) {
                    const float dd = d.gate == ENGRAM_SCAN_GATE_NONE ? 1.0f : dec.between(last, j, gc);
                    s += (sm.k[j * K + c] * dd) * sm.v[j * kScanColTile + x];
                }
                sm.s[e] = s;
            }
        }
        __syncthreads();
        if (d.state_out)
            for (int e = tid; e < K * kScanColTile; e += kThreads) {
                const int c = e / kScanColTile, x = e % kScanColTile;
                if (x < cols) d.state_out[state0 + int64_t(c) * V + x0 + x] = sm.s[e];
            }
    }
}

__global__ void __launch_bounds__(kThreads) scan_decode(ScanDev d) {
    const int K = d.k_dim, V = d.v_dim;
    const int64_t pairs = d.batch * d.heads, group = d.heads / d.qk_heads;
    for (int64_t e = int64_t(blockIdx.x) * kThreads + threadIdx.x; e < pairs * V;
         e += int64_t(gridDim.x) * kThreads) {
        const int64_t pair = e / V;
        const int x = int(e % V);
        const int64_t bb = pair / d.heads, h = pair % d.heads;
        const int64_t qk0 = (bb * d.qk_heads + h / group) * K;  // t = 1
        const int64_t state0 = pair * int64_t(K) * V;
        const float vx = scan_load(d.v, d.dtype, pair * V + x);
        const float* g = d.width ? d.g + pair * d.width : nullptr;
        float o = 0.0f;
        for (int c = 0; c < K; ++c) {
            const float a = d.gate == ENGRAM_SCAN_GATE_NONE     ? 1.0f
                            : d.gate == ENGRAM_SCAN_GATE_SCALAR ? expf(g[0])
                                                                : expf(g[c]);
            const int64_t at = state0 + int64_t(c) * V + x;
            const float in = d.initial_state ? d.initial_state[at] : 0.0f;
            const float out = a * in + scan_load(d.k, d.dtype, qk0 + c) * vx;
            if (d.state_out) d.state_out[at] = out;
            o += (scan_load(d.q, d.dtype, qk0 + c) * d.scale) * out;
        }
        scan_store(d.o, d.out_dtype, pair * V + x, o);
    }
}

}  // namespace

size_t scan_forward_smem(const ScanDev& d) {
    const size_t c = size_t(d.chunk), kd = size_t(d.k_dim);
    const size_t wn = size_t(d.width > 0 ? d.width : 1);
    return c * wn * 8 + c * wn * 4 +
           (kd * kScanColTile + 2 * c * kd + c * kScanColTile + c * c) * sizeof(float);
}

cudaError_t launch_scan_forward(const ScanDev& d, cudaStream_t stream) {
    const size_t smem = scan_forward_smem(d);
    cudaError_t err = cudaFuncSetAttribute(scan_forward, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           int(smem));
    if (err != cudaSuccess) return err;
    const int64_t vtiles = (d.v_dim + kScanColTile - 1) / kScanColTile;
    scan_forward<<<grid_for(d.batch * d.heads * vtiles, 1), kThreads, smem, stream>>>(d);
    return cudaGetLastError();
}

cudaError_t launch_scan_decode(const ScanDev& d, cudaStream_t stream) {
    scan_decode<<<grid_for(d.batch * d.heads * d.v_dim, kThreads), kThreads, 0, stream>>>(d);
    return cudaGetLastError();
}

}  // namespace engram::kernels
