// cce_kernels.cpp — picks the per-ISA kernel table at run time.
#include "ops/cce/cpu/cce_kernels.hpp"

#include "cpu/cpu_features.hpp"

namespace engram::cpu {

const CceKernels* cce_kernels_for(engram_cpu_isa isa) {
    if (isa > detected_isa()) return nullptr;
    switch (isa) {
#if defined(ENGRAM_HAVE_X86_KERNELS)
        case ENGRAM_CPU_ISA_AVX512_BF16: return &cce_kernels_avx512_bf16();
        case ENGRAM_CPU_ISA_AVX512: return &cce_kernels_avx512();
        case ENGRAM_CPU_ISA_AVX2: return &cce_kernels_avx2();
#endif
        case ENGRAM_CPU_ISA_SCALAR: return &cce_kernels_scalar();
        default: return nullptr;
    }
}

const CceKernels& cce_kernels() {
    static const CceKernels* k = cce_kernels_for(detected_isa());
    return *k;
}

}  // namespace engram::cpu
