// naive_cuda.hpp — the naive GPU baseline of the CCE benchmarks: what a
// framework does without a fused kernel.
//
//   forward:  logits [n, v] fp32 = E C^T with cuBLAS (cublasGemmEx, fp32
//             accumulation, tensor cores for f16/bf16, plain FP32 for f32),
//             then one kernel per row: log-sum-exp, loss = lse - z[target];
//             then the mean over non-ignored tokens.
//   backward: G = (softmax - onehot) / valid, in place over the logits (for
//             f16/bf16 inputs into a [n, v] copy in the input dtype, as a
//             framework's autograd would hold it), then dE = G C and
//             dC = G^T E with cuBLAS, fp32 outputs.
//
// The buffers (logits, G, per-row scratch) are kept between calls, like a
// framework's caching allocator, so timed repetitions do not pay cudaMalloc;
// allocated_bytes() reports what they cost. Errors are returned, never
// printed. Build: nvcc -std=c++17 -c naive_cuda.cu; link cuBLAS (-lcublas).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>

namespace engram_bench {

enum class NaiveDtype { f32, f16, bf16 };

// All pointers are device memory on the current device.
struct NaiveCceProblem {
    const void* e = nullptr;        // [n, d] row-major, dtype
    const void* c = nullptr;        // [v, d] row-major, dtype
    const void* targets = nullptr;  // [n], int64 or int32
    bool targets_i64 = true;
    int64_t n = 0, v = 0, d = 0;
    NaiveDtype dtype = NaiveDtype::f32;
    int64_t ignore_index = -100;    // such tokens (and ids outside [0, v)) are skipped
};

class NaiveCudaCce {
public:
    explicit NaiveCudaCce(cudaStream_t stream = nullptr);
    ~NaiveCudaCce();
    NaiveCudaCce(const NaiveCudaCce&) = delete;
    NaiveCudaCce& operator=(const NaiveCudaCce&) = delete;

    // Mean loss over the non-ignored tokens into loss[0] (device); lse [n]
    // (device, may be null) gets each token's log-sum-exp (0 if ignored).
    // Returns false with error() set on failure. Asynchronous on the stream.
    bool forward(const NaiveCceProblem& p, float* loss, float* lse = nullptr);

    // forward(), then grad_e [n, d] and grad_c [v, d] (device, fp32; either
    // may be null) of the mean loss.
    bool forward_backward(const NaiveCceProblem& p, float* loss, float* grad_e, float* grad_c);

    // Device memory this object holds (its peak: buffers only grow).
    uint64_t allocated_bytes() const { return allocated_; }
    const std::string& error() const { return error_; }
    // Frees the cached buffers (allocated_bytes() drops to 0).
    void release();

private:
    struct Buffer {
        void* ptr = nullptr;
        uint64_t bytes = 0;
    };
    bool ensure(Buffer& b, uint64_t bytes, const char* what);
    bool check(cudaError_t err, const char* what);
    bool check_blas(int status, const char* what);
    bool logits_and_loss(const NaiveCceProblem& p, float* loss, float* lse);

    cudaStream_t stream_ = nullptr;
    void* blas_ = nullptr;  // cublasHandle_t
    Buffer logits_;         // [n, v] fp32
    Buffer grad16_;         // [n, v] f16/bf16 (16-bit inputs only)
    Buffer rows_;           // [n] row loss, [n] lse, valid count
    uint64_t allocated_ = 0;
    std::string error_;
};

}  // namespace engram_bench
