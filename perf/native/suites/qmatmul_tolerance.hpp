// qmatmul_tolerance.hpp — the 2-bit weight family's tolerance model: the
// float64 reference (native/src/ops/qmatmul/reference) and an error bound for
// every entry of y = x . W_hat^T. Used by the qmatmul case suite and the
// GoogleTest harness (tests/native/ops/qmatmul/qmatmul_harness.cpp).
//
// Error model (why the bound is what it is). The library dequantises each
// weight with one fp32 fma, W = fl(s q + z) (relative error <= u = 2^-24),
// multiplies by x (read exactly: 16-bit activations widen exactly) and sums
// the k products in fp32 in some order (lanes, then across lanes). Any such
// order is within u (k + 2) sum_c |x_c W_c| of the exact sum (the standard
// gamma_n bound for n = k + 1 roundings, plus the dequantisation's u), plus
// one 2^-149 per rounding for products or sums in the subnormal range. A
// wrong or missing term costs about |x_c W_c| ~ sum / k, far above the bound
// for the sizes tested. A 16-bit y is rounded once more: 2^-11 (f16, plus
// 2^-25 for subnormals) or 2^-8 (bf16) of |y|.
#pragma once

#include <cstdint>
#include <vector>

#include "engram.h"
#include "ops/qmatmul/reference/qmatmul_reference.hpp"

namespace engram_suite {

struct QmatmulExpected {
    std::vector<double> y, bound;  // [m, n_out]
};

// x: [m, k] as the library reads it (16-bit values already decoded).
QmatmulExpected expect_qmatmul(const engram_test::RefQWeight& w, int64_t m,
                               const std::vector<double>& x, engram_dtype y_dtype);

// Bound on |stored - exact| for a value computed with `roundings` fp32
// roundings and then stored in `dtype` (F32 or F16; F16 adds its own rounding
// and subnormal spacing).
double stored_value_bound(double exact, int roundings, engram_dtype dtype);

}  // namespace engram_suite
