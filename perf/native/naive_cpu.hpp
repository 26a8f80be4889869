// naive_cpu.hpp — the baseline CCE is measured against: materialise the
// logits [n, v] with a BLAS sgemm, then log-softmax and gather; backward turns
// the stored logits into softmax - onehot in place and runs two more GEMMs.
// This is what a framework does (F.linear + F.cross_entropy).
#pragma once

#include <cstdint>
#include <vector>

#include "bench_problem.hpp"

namespace engram_bench {

class NaiveCpu {
public:
    explicit NaiveCpu(const Problem& p) : p_(p) {}

    // Mean loss over the tokens; per-token loss and lse when given. Keeps the
    // logits for backward().
    float forward(float* loss_tok, float* lse);
    // grad_e [n, d], grad_c [v, d] for upstream gradient `up` per token (1/n
    // for the mean). Frees the logits.
    void backward(float up, float* grad_e, float* grad_c);
    void release();

    // Bytes this baseline allocated at its peak (the logits and row stats).
    uint64_t peak_bytes() const { return peak_; }
    static const char* blas();

private:
    const Problem& p_;
    std::vector<float> logits_, lse_;
    uint64_t peak_ = 0;
};

// GEMM probe: C[m x n] = A[m x k] B[n x k]^T with the same BLAS; best GFLOP/s
// of `reps` runs (0 without a BLAS).
double gemm_probe_gflops(int64_t m, int64_t n, int64_t k, int reps);

// Memory bandwidth probe: STREAM-style triad over three 256 MiB arrays, all
// cores; best GB/s of `reps` runs (3 arrays counted, as STREAM does).
double bandwidth_probe_gbs(int reps);

}  // namespace engram_bench
