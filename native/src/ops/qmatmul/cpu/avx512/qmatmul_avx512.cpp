// qmatmul_avx512.cpp — AVX-512 instantiation of the 2-bit product: one code
// word fills a 16-lane vector — broadcast, shift lane j by 2 j (vpsrlvd),
// mask with 3, convert to float.
#include "ops/qmatmul/cpu/qmatmul_tiles.hpp"
#include "cpu/simd_avx512.hpp"

namespace engram::cpu {

namespace {

struct UnpackAvx512 {
    using V = VecAvx512;
    static V codes(uint32_t word, int) {
        const __m512i shifts = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24,
                                                 26, 28, 30);
        const __m512i q = _mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32(int(word)), shifts),
                                           _mm512_set1_epi32(3));
        return {_mm512_cvtepi32_ps(q)};
    }
};

}  // namespace

const QmatmulKernels& qmatmul_kernels_avx512() {
    static const QmatmulKernels k = QmatmulTiles<UnpackAvx512, 12, 2>::table(ENGRAM_CPU_ISA_AVX512);
    return k;
}

}  // namespace engram::cpu
