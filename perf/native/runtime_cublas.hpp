// runtime_cublas.hpp — cuBLAS for the naive CUDA baseline and the GEMM probe,
// loaded at run time (dlopen of libcublas), so that engram-bench does not need
// the CUDA toolkit's libraries to start: without cuBLAS every call returns
// CUBLAS_STATUS_NOT_INITIALIZED and the baseline reports why.
#pragma once

#include <cublas_v2.h>

namespace engram_bench {

cublasStatus_t cublas_create(cublasHandle_t* handle);
cublasStatus_t cublas_destroy(cublasHandle_t handle);
cublasStatus_t cublas_set_stream(cublasHandle_t handle, cudaStream_t stream);
cublasStatus_t cublas_gemm_ex(cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                              int k, const void* alpha, const void* a, cudaDataType_t a_type, int lda,
                              const void* b, cudaDataType_t b_type, int ldb, const void* beta, void* c,
                              cudaDataType_t c_type, int ldc, cublasComputeType_t compute, cublasGemmAlgo_t algo);
const char* cublas_status_string(cublasStatus_t status);
// The library loaded (e.g. "libcublas.so.12"), or why none was.
const char* cublas_library();

}  // namespace engram_bench
