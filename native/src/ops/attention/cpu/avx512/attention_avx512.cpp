// attention_avx512.cpp — AVX-512 instantiation of the attention kernels.
#include "ops/attention/cpu/attention_tiles.hpp"
#include "cpu/simd_avx512.hpp"

namespace engram::cpu {

const AttentionKernels& attention_kernels_avx512() {
    static const AttentionKernels k = AttentionTiles<VecAvx512>::table(ENGRAM_CPU_ISA_AVX512);
    return k;
}

}  // namespace engram::cpu
