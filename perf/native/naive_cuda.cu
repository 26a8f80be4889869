// naive_cuda.cu — the materialised-logits baseline (see naive_cuda.hpp).
#include "naive_cuda.hpp"

#include "runtime_cublas.hpp"
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <climits>
#include <cmath>
#include <cstdio>

namespace engram_bench {

namespace {

constexpr int kRowThreads = 256;

__device__ __forceinline__ int64_t target_at(const void* t, bool i64, int64_t i) {
    return i64 ? int64_t(static_cast<const long long*>(t)[i]) : int64_t(static_cast<const int*>(t)[i]);
}

__device__ __forceinline__ bool kept(int64_t t, int64_t ignore_index, int64_t v) {
    return t != ignore_index && t >= 0 && t < v;
}

// (max, sum exp(x - max)) merge.
__device__ __forceinline__ void merge(float& m, float& s, float m2, float s2) {
    if (m2 > m) {
        s = s * expf(m - m2) + s2;
        m = m2;
    } else if (m2 > -INFINITY) {
        s += s2 * expf(m2 - m);
    }
}

// One block per row: lse over the row's v logits (one pass, per-thread online
// max/sum, then a block merge), loss = lse - z[target].
__global__ void __launch_bounds__(kRowThreads)
    row_lse_loss(const float* logits, int64_t v, const void* targets, bool i64,
                 int64_t ignore_index, float* lse_out, float* row_loss, int* row_valid) {
    __shared__ float sm[kRowThreads], ss[kRowThreads];
    const int64_t row = blockIdx.x;
    const float* z = logits + row * v;
    float m = -INFINITY, s = 0.0f;
    for (int64_t j = threadIdx.x; j < v; j += kRowThreads) merge(m, s, z[j], 1.0f);
    sm[threadIdx.x] = m;
    ss[threadIdx.x] = s;
    __syncthreads();
    for (int w = kRowThreads / 2; w > 0; w >>= 1) {
        if (int(threadIdx.x) < w) {
            float a = sm[threadIdx.x], b = ss[threadIdx.x];
            merge(a, b, sm[threadIdx.x + w], ss[threadIdx.x + w]);
            sm[threadIdx.x] = a;
            ss[threadIdx.x] = b;
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        const int64_t t = target_at(targets, i64, row);
        const bool ok = kept(t, ignore_index, v);
        const float lse = sm[0] + logf(ss[0]);
        lse_out[row] = ok ? lse : 0.0f;
        row_loss[row] = ok ? lse - z[t] : 0.0f;
        row_valid[row] = ok ? 1 : 0;
    }
}

// One block: loss[0] = mean of row_loss over valid rows; *valid = count.
__global__ void __launch_bounds__(1024)
    mean_loss(const float* row_loss, const int* row_valid, int64_t n, float* loss, int* valid) {
    __shared__ double sum[1024];
    __shared__ int cnt[1024];
    double acc = 0.0;
    int c = 0;
    for (int64_t i = threadIdx.x; i < n; i += 1024) {
        acc += row_loss[i];
        c += row_valid[i];
    }
    sum[threadIdx.x] = acc;
    cnt[threadIdx.x] = c;
    __syncthreads();
    for (int w = 512; w > 0; w >>= 1) {
        if (int(threadIdx.x) < w) {
            sum[threadIdx.x] += sum[threadIdx.x + w];
            cnt[threadIdx.x] += cnt[threadIdx.x + w];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        *valid = cnt[0];
        loss[0] = cnt[0] > 0 ? float(sum[0] / cnt[0]) : 0.0f;
    }
}

template <class Out>
__device__ __forceinline__ Out to_out(float x);
template <>
__device__ __forceinline__ float to_out<float>(float x) { return x; }
template <>
__device__ __forceinline__ __half to_out<__half>(float x) { return __float2half_rn(x); }
template <>
__device__ __forceinline__ __nv_bfloat16 to_out<__nv_bfloat16>(float x) {
    return __float2bfloat16_rn(x);
}

// G = (softmax - onehot) / valid per row (0 for ignored rows); Out = float
// writes over the logits in place.
template <class Out>
__global__ void __launch_bounds__(kRowThreads)
    softmax_grad(float* logits, Out* g, int64_t v, const float* lse, const void* targets, bool i64,
                 int64_t ignore_index, const int* valid) {
    const int64_t row = blockIdx.x;
    const int64_t t = target_at(targets, i64, row);
    const bool ok = kept(t, ignore_index, v) && *valid > 0;
    const float scale = ok ? 1.0f / float(*valid) : 0.0f;
    const float l = lse[row];
    const float* z = logits + row * v;
    Out* out = g + row * v;
    for (int64_t j = threadIdx.x; j < v; j += kRowThreads) {
        const float p = ok ? expf(z[j] - l) : 0.0f;
        out[j] = to_out<Out>((p - (j == t ? 1.0f : 0.0f)) * scale);
    }
}

cudaDataType_t blas_type(NaiveDtype dt) {
    switch (dt) {
        case NaiveDtype::f16: return CUDA_R_16F;
        case NaiveDtype::bf16: return CUDA_R_16BF;
        default: return CUDA_R_32F;
    }
}

}  // namespace

NaiveCudaCce::NaiveCudaCce(cudaStream_t stream) : stream_(stream) {
    cublasHandle_t h = nullptr;
    if (!check_blas(cublas_create(&h), "cublasCreate")) return;
    blas_ = h;
    check_blas(cublas_set_stream(h, stream_), "cublasSetStream");
}

NaiveCudaCce::~NaiveCudaCce() {
    release();
    if (blas_) cublas_destroy(static_cast<cublasHandle_t>(blas_));
}

void NaiveCudaCce::release() {
    for (Buffer* b : {&logits_, &grad16_, &rows_}) {
        if (b->ptr) cudaFree(b->ptr);
        b->ptr = nullptr;
        b->bytes = 0;
    }
    allocated_ = 0;
}

bool NaiveCudaCce::check(cudaError_t err, const char* what) {
    if (err == cudaSuccess) return true;
    cudaGetLastError();
    error_ = std::string(what) + ": " + cudaGetErrorString(err);
    return false;
}

bool NaiveCudaCce::check_blas(int status, const char* what) {
    if (status == CUBLAS_STATUS_SUCCESS) return true;
    char buf[160];
    std::snprintf(buf, sizeof buf, ": cuBLAS status %d (%s)", status,
                  cublas_status_string(cublasStatus_t(status)));
    error_ = std::string(what) + buf;
    return false;
}

bool NaiveCudaCce::ensure(Buffer& b, uint64_t bytes, const char* what) {
    if (b.bytes >= bytes) return true;
    if (b.ptr) {
        cudaFree(b.ptr);
        allocated_ -= b.bytes;
        b.ptr = nullptr;
        b.bytes = 0;
    }
    if (!check(cudaMalloc(&b.ptr, size_t(bytes)), what)) return false;
    b.bytes = bytes;
    allocated_ += bytes;
    return true;
}

bool NaiveCudaCce::logits_and_loss(const NaiveCceProblem& p, float* loss, float* lse) {
    error_.clear();
    if (!blas_) {
        if (error_.empty()) error_ = "cuBLAS handle was not created";
        return false;
    }
    if (p.n <= 0 || p.v <= 0 || p.d <= 0 || p.n > INT_MAX || p.v > INT_MAX || p.d > INT_MAX ||
        !p.e || !p.c || !p.targets || !loss) {
        error_ = "naive CCE: bad problem (null pointer or size outside [1, INT_MAX])";
        return false;
    }
    const uint64_t n = uint64_t(p.n), v = uint64_t(p.v);
    if (!ensure(logits_, n * v * 4, "cudaMalloc(logits)")) return false;
    if (!ensure(rows_, n * 4 * 3 + 16, "cudaMalloc(row scratch)")) return false;
    float* row_loss = static_cast<float*>(rows_.ptr);
    float* row_lse = row_loss + n;
    int* row_valid = reinterpret_cast<int*>(row_lse + n);
    int* valid = row_valid + n;
    float* lse_out = lse ? lse : row_lse;

    // Row-major logits[n][v] = E[n][d] . C[v][d]^T. cuBLAS is column-major:
    // the same memory is a [v x n] matrix = C-view^T [v x d] . E-view [d x n],
    // where C-view is C read as a [d x v] column-major matrix (ld d).
    const float one = 1.0f, zero = 0.0f;
    const cudaDataType_t t = blas_type(p.dtype);
    auto h = static_cast<cublasHandle_t>(blas_);
    if (!check_blas(cublas_gemm_ex(h, CUBLAS_OP_T, CUBLAS_OP_N, int(p.v), int(p.n), int(p.d), &one,
                                 p.c, t, int(p.d), p.e, t, int(p.d), &zero, logits_.ptr,
                                 CUDA_R_32F, int(p.v), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                    "cublas_gemm_ex(logits)"))
        return false;
    row_lse_loss<<<unsigned(p.n), kRowThreads, 0, stream_>>>(
        static_cast<const float*>(logits_.ptr), p.v, p.targets, p.targets_i64, p.ignore_index,
        lse_out, row_loss, row_valid);
    mean_loss<<<1, 1024, 0, stream_>>>(row_loss, row_valid, p.n, loss, valid);
    return check(cudaGetLastError(), "naive CCE forward kernels");
}

bool NaiveCudaCce::forward(const NaiveCceProblem& p, float* loss, float* lse) {
    return logits_and_loss(p, loss, lse);
}

bool NaiveCudaCce::forward_backward(const NaiveCceProblem& p, float* loss, float* grad_e,
                                    float* grad_c) {
    if (!logits_and_loss(p, loss, nullptr)) return false;
    const uint64_t n = uint64_t(p.n), v = uint64_t(p.v);
    float* logits = static_cast<float*>(logits_.ptr);
    const float* row_lse = static_cast<const float*>(rows_.ptr) + n;
    const int* valid = reinterpret_cast<const int*>(row_lse + n) + n;

    const void* g = logits;
    switch (p.dtype) {
        case NaiveDtype::f32:
            softmax_grad<float><<<unsigned(p.n), kRowThreads, 0, stream_>>>(
                logits, logits, p.v, row_lse, p.targets, p.targets_i64, p.ignore_index, valid);
            break;
        case NaiveDtype::f16:
            if (!ensure(grad16_, n * v * 2, "cudaMalloc(grad logits)")) return false;
            softmax_grad<__half><<<unsigned(p.n), kRowThreads, 0, stream_>>>(
                logits, static_cast<__half*>(grad16_.ptr), p.v, row_lse, p.targets,
                p.targets_i64, p.ignore_index, valid);
            g = grad16_.ptr;
            break;
        case NaiveDtype::bf16:
            if (!ensure(grad16_, n * v * 2, "cudaMalloc(grad logits)")) return false;
            softmax_grad<__nv_bfloat16><<<unsigned(p.n), kRowThreads, 0, stream_>>>(
                logits, static_cast<__nv_bfloat16*>(grad16_.ptr), p.v, row_lse, p.targets,
                p.targets_i64, p.ignore_index, valid);
            g = grad16_.ptr;
            break;
    }
    if (!check(cudaGetLastError(), "naive CCE gradient kernel")) return false;

    const float one = 1.0f, zero = 0.0f;
    const cudaDataType_t t = blas_type(p.dtype);
    auto h = static_cast<cublasHandle_t>(blas_);
    // grad_e[n][d] = G[n][v] . C[v][d]  (column-major: [d x n] = C^T-view [d x v] . G-view [v x n])
    if (grad_e &&
        !check_blas(cublas_gemm_ex(h, CUBLAS_OP_N, CUBLAS_OP_N, int(p.d), int(p.n), int(p.v), &one,
                                 p.c, t, int(p.d), g, t, int(p.v), &zero, grad_e, CUDA_R_32F,
                                 int(p.d), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                    "cublas_gemm_ex(grad_e)"))
        return false;
    // grad_c[v][d] = G^T[v][n] . E[n][d]  (column-major: [d x v] = E-view [d x n] . G-view^T [n x v])
    if (grad_c &&
        !check_blas(cublas_gemm_ex(h, CUBLAS_OP_N, CUBLAS_OP_T, int(p.d), int(p.v), int(p.n), &one,
                                 p.e, t, int(p.d), g, t, int(p.v), &zero, grad_c, CUDA_R_32F,
                                 int(p.d), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                    "cublas_gemm_ex(grad_c)"))
        return false;
    return true;
}

}  // namespace engram_bench
