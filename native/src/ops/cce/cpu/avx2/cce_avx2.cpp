// cce_avx2.cpp — AVX2 + FMA instantiation of the CPU CCE tiles: 6 x 16
// micro-tile (12 accumulators + 2 operand registers of the 16 ymm).
#include "ops/cce/cpu/cce_tiles.hpp"
#include "cpu/simd_avx2.hpp"

namespace engram::cpu {

const CceKernels& cce_kernels_avx2() {
    static const CceKernels k = CceTiles<VecAvx2, 6, 2>::table(ENGRAM_CPU_ISA_AVX2);
    return k;
}

}  // namespace engram::cpu
