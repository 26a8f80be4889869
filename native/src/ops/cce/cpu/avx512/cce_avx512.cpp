// cce_avx512.cpp — AVX-512 instantiation of the CPU CCE tiles: 12 x 32
// micro-tile (24 zmm accumulators + 2 operand registers of the 32), which ran
// at ~116 GFLOP/s per Zen 4 core in cache (14 x 32 measured the same).
#include "ops/cce/cpu/cce_tiles.hpp"
#include "cpu/simd_avx512.hpp"

namespace engram::cpu {

const CceKernels& cce_kernels_avx512() {
    static const CceKernels k = CceTiles<VecAvx512, 12, 2>::table(ENGRAM_CPU_ISA_AVX512);
    return k;
}

}  // namespace engram::cpu
