// cce_avx512_bf16.cpp — the AVX-512 CCE tiles plus the bf16 logits product on
// VDPBF16PS. f32 and f16 inputs run the AVX-512 functions themselves (same
// code, same results bit for bit); bf16 inputs compute their logits from bf16
// pairs, 12 x 32 micro-tiles like the f32 kernel (the token panels, tile
// padding and epilogues are shared, so MR and NR must match it).
#include "ops/cce/cpu/cce_tiles_bf16.hpp"

namespace engram::cpu {

const CceKernels& cce_kernels_avx512_bf16() {
    static const CceKernels k = [] {
        const CceKernels& f32 = cce_kernels_avx512();
        using T = CceTilesBf16<12, 2>;
        static_assert(T::NR == 32, "token panels are shared with the f32 kernel (12 x 32)");
        return T::table(f32, ENGRAM_CPU_ISA_AVX512_BF16);
    }();
    return k;
}

}  // namespace engram::cpu
