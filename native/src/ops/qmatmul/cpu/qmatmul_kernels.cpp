// qmatmul_kernels.cpp — picks the per-ISA 2-bit product kernel at run time.
#include "ops/qmatmul/cpu/qmatmul_kernels.hpp"

#include "cpu/cpu_features.hpp"

namespace engram::cpu {

namespace {

const QmatmulKernels* kernels_for(engram_cpu_isa isa) {
    switch (isa) {
#if defined(ENGRAM_HAVE_X86_KERNELS)
        // No bf16-specific 2-bit kernel: an AVX512_BF16 machine runs the
        // AVX-512 one (it used to fall through to the scalar kernel here).
        case ENGRAM_CPU_ISA_AVX512_BF16:
        case ENGRAM_CPU_ISA_AVX512: return &qmatmul_kernels_avx512();
        case ENGRAM_CPU_ISA_AVX2: return &qmatmul_kernels_avx2();
#endif
        default: return &qmatmul_kernels_scalar();
    }
}

}  // namespace

const QmatmulKernels& qmatmul_kernels() {
    static const QmatmulKernels* k = kernels_for(detected_isa());
    return *k;
}

}  // namespace engram::cpu
