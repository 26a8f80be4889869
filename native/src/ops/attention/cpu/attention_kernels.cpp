// attention_kernels.cpp — picks the per-ISA attention table at run time.
#include "ops/attention/cpu/attention_kernels.hpp"

#include "cpu/cpu_features.hpp"

namespace engram::cpu {

const AttentionKernels& attention_kernels() {
    static const AttentionKernels* k = [] {
        switch (detected_isa()) {
#if defined(ENGRAM_HAVE_X86_KERNELS)
            // An AVX512_BF16 CPU runs the AVX-512 kernels (the bf16 dot
            // instructions are not used here); without this case it fell to
            // the scalar kernels.
            case ENGRAM_CPU_ISA_AVX512_BF16:
            case ENGRAM_CPU_ISA_AVX512: return &attention_kernels_avx512();
            case ENGRAM_CPU_ISA_AVX2: return &attention_kernels_avx2();
#endif
            default: return &attention_kernels_scalar();
        }
    }();
    return *k;
}

}  // namespace engram::cpu
