// cce_scalar.cpp — the portable instantiation of the CPU CCE tiles (any CPU,
// any architecture): one-lane "vectors", a 4 x 8 micro-tile the compiler can
// still auto-vectorise.
#include "ops/cce/cpu/cce_tiles.hpp"
#include "cpu/simd_scalar.hpp"

namespace engram::cpu {

const CceKernels& cce_kernels_scalar() {
    static const CceKernels k = CceTiles<VecScalar, 4, 8>::table(ENGRAM_CPU_ISA_SCALAR);
    return k;
}

}  // namespace engram::cpu
