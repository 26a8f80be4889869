// runtime_blas.cpp — see runtime_blas.hpp.
#include "runtime_blas.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <vector>

namespace engram_bench {

namespace {

RuntimeBlas load() {
    RuntimeBlas blas;
    std::vector<std::string> candidates;
    const char* explicit_path = std::getenv("ENGRAM_BLAS");
    if (explicit_path && *explicit_path) candidates.push_back(explicit_path);
    else candidates = {"libopenblas.so.0", "libopenblas.so", "libmkl_rt.so", "libblas.so.3"};
    for (const std::string& lib : candidates) {
        void* handle = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!handle) continue;
        if (void* fn = dlsym(handle, "cblas_sgemm")) {
            blas.sgemm = reinterpret_cast<CblasSgemm>(fn);
            blas.sgemv = reinterpret_cast<CblasSgemv>(dlsym(handle, "cblas_sgemv"));
            blas.sbgemm = reinterpret_cast<CblasSbgemm>(dlsym(handle, "cblas_sbgemm"));
            blas.name = lib;
            return blas;  // kept loaded for the life of the process
        }
        dlclose(handle);
    }
    blas.name = explicit_path && *explicit_path
                    ? "no BLAS: ENGRAM_BLAS=" + std::string(explicit_path) + " has no cblas_sgemm or does not load"
                    : "no BLAS found (libopenblas.so.0, libmkl_rt.so, libblas.so.3)";
    return blas;
}

}  // namespace

const RuntimeBlas& runtime_blas() {
    static const RuntimeBlas blas = load();
    return blas;
}

}  // namespace engram_bench
