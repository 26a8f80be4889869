// attention_avx2.cpp — AVX2 + FMA instantiation of the attention kernels.
#include "ops/attention/cpu/attention_tiles.hpp"
#include "cpu/simd_avx2.hpp"

namespace engram::cpu {

const AttentionKernels& attention_kernels_avx2() {
    static const AttentionKernels k = AttentionTiles<VecAvx2>::table(ENGRAM_CPU_ISA_AVX2);
    return k;
}

}  // namespace engram::cpu
