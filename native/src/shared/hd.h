// hd.h — one macro so a formula can be written once and compiled for both the
// CPU backend (plain C++) and the CUDA kernels (nvcc): ENGRAM_HD marks it
// __host__ __device__ under nvcc and plain inline elsewhere.
#pragma once

#if defined(__CUDACC__)
#define ENGRAM_HD __host__ __device__ __forceinline__
#else
#define ENGRAM_HD inline
#endif
