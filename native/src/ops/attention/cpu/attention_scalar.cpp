// attention_scalar.cpp — portable (one-lane) instantiation of the attention kernels.
#include "ops/attention/cpu/attention_tiles.hpp"
#include "cpu/simd_scalar.hpp"

namespace engram::cpu {

const AttentionKernels& attention_kernels_scalar() {
    static const AttentionKernels k = AttentionTiles<VecScalar>::table(ENGRAM_CPU_ISA_SCALAR);
    return k;
}

}  // namespace engram::cpu
