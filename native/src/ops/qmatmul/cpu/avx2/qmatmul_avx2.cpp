// qmatmul_avx2.cpp — AVX2 + FMA instantiation of the 2-bit product: a code
// word is broadcast and shifted per lane (vpsrlvd) by 0, 2, .., 14 (first 8
// codes) or 16, .., 30 (last 8), masked with 3 and converted to float.
#include "ops/qmatmul/cpu/qmatmul_tiles.hpp"
#include "cpu/simd_avx2.hpp"

namespace engram::cpu {

namespace {

struct UnpackAvx2 {
    using V = VecAvx2;
    static V codes(uint32_t word, int p) {
        const __m256i shifts = p == 0 ? _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)
                                      : _mm256_setr_epi32(16, 18, 20, 22, 24, 26, 28, 30);
        const __m256i q = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(int(word)), shifts),
                                           _mm256_set1_epi32(3));
        return {_mm256_cvtepi32_ps(q)};
    }
};

}  // namespace

const QmatmulKernels& qmatmul_kernels_avx2() {
    static const QmatmulKernels k = QmatmulTiles<UnpackAvx2, 6, 2>::table(ENGRAM_CPU_ISA_AVX2);
    return k;
}

}  // namespace engram::cpu
