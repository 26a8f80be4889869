// runtime_cublas.cpp — see runtime_cublas.hpp.
#include "runtime_cublas.hpp"

#include <dlfcn.h>

#include <string>

namespace engram_bench {

namespace {

// The C entry points' signatures (cublasGemmEx is overloaded in C++, so no decltype).
using CreateFn = cublasStatus_t (*)(cublasHandle_t*);
using DestroyFn = cublasStatus_t (*)(cublasHandle_t);
using SetStreamFn = cublasStatus_t (*)(cublasHandle_t, cudaStream_t);
using GemmExFn = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                    const void*, const void*, cudaDataType_t, int, const void*, cudaDataType_t,
                                    int, const void*, void*, cudaDataType_t, int, cublasComputeType_t,
                                    cublasGemmAlgo_t);
using StatusStringFn = const char* (*)(cublasStatus_t);

struct Cublas {
    CreateFn create = nullptr;
    DestroyFn destroy = nullptr;
    SetStreamFn set_stream = nullptr;
    GemmExFn gemm_ex = nullptr;
    StatusStringFn status_string = nullptr;
    std::string name;
};

template <typename F>
bool bind(void* lib, const char* symbol, F& fn) {
    fn = reinterpret_cast<F>(dlsym(lib, symbol));
    return fn != nullptr;
}

Cublas load() {
    Cublas c;
    for (const char* name : {"libcublas.so", "libcublas.so.13", "libcublas.so.12", "libcublas.so.11"}) {
        void* lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
        if (!lib) continue;
        if (bind(lib, "cublasCreate_v2", c.create) && bind(lib, "cublasDestroy_v2", c.destroy) &&
            bind(lib, "cublasSetStream_v2", c.set_stream) && bind(lib, "cublasGemmEx", c.gemm_ex)) {
            bind(lib, "cublasGetStatusString", c.status_string);  // optional (CUDA >= 11.4)
            c.name = name;
            return c;  // kept loaded for the life of the process
        }
        dlclose(lib);
        c = Cublas{};
    }
    c.name = "no cuBLAS found (libcublas.so, .so.13, .so.12, .so.11)";
    return c;
}

const Cublas& cublas() {
    static const Cublas c = load();
    return c;
}

}  // namespace

cublasStatus_t cublas_create(cublasHandle_t* handle) {
    return cublas().create ? cublas().create(handle) : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t cublas_destroy(cublasHandle_t handle) {
    return cublas().destroy ? cublas().destroy(handle) : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t cublas_set_stream(cublasHandle_t handle, cudaStream_t stream) {
    return cublas().set_stream ? cublas().set_stream(handle, stream) : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t cublas_gemm_ex(cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                              int k, const void* alpha, const void* a, cudaDataType_t a_type, int lda,
                              const void* b, cudaDataType_t b_type, int ldb, const void* beta, void* c,
                              cudaDataType_t c_type, int ldc, cublasComputeType_t compute, cublasGemmAlgo_t algo) {
    if (!cublas().gemm_ex) return CUBLAS_STATUS_NOT_INITIALIZED;
    return cublas().gemm_ex(handle, ta, tb, m, n, k, alpha, a, a_type, lda, b, b_type, ldb, beta, c, c_type, ldc,
                            compute, algo);
}

const char* cublas_status_string(cublasStatus_t status) {
    if (!cublas().create) return cublas().name.c_str();
    return cublas().status_string ? cublas().status_string(status) : "cuBLAS error";
}

const char* cublas_library() { return cublas().name.c_str(); }

}  // namespace engram_bench
