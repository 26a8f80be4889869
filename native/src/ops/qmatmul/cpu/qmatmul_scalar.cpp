// qmatmul_scalar.cpp — the portable instantiation of the 2-bit product (any
// CPU): one-lane vectors, codes extracted with a shift and a mask.
#include "ops/qmatmul/cpu/qmatmul_tiles.hpp"
#include "cpu/simd_scalar.hpp"

namespace engram::cpu {

namespace {

struct UnpackScalar {
    using V = VecScalar;
    static V codes(uint32_t word, int p) { return V::set1(float((word >> (2 * p)) & 3u)); }
};

}  // namespace

const QmatmulKernels& qmatmul_kernels_scalar() {
    static const QmatmulKernels k = QmatmulTiles<UnpackScalar, 4, 8>::table(ENGRAM_CPU_ISA_SCALAR);
    return k;
}

}  // namespace engram::cpu
