// qmatmul_bitstack_reference.hpp — the plain float64 reference of BitStack
// sign planes, written from engram_qmatmul.h ("BitStack: sign planes"):
//   sign_j[r, c] = (signs[(j n_out + r) (k / 32) + c / 32] >> (c % 32)) & 1 ? +1 : -1
//   W_hat_p[r, c] = sum_{j < p} sign_j[r, c] u_j[r] v_j[c]
//   y[i, r] = sum_c x[i, c] W_hat_p[r, c]
#pragma once

#include <cstdint>
#include <vector>

namespace engram_test {

struct RefBitstack {
    int64_t n_out = 0, k = 0;
    int planes = 0;
    std::vector<uint32_t> signs;  // planes * n_out * k / 32
    std::vector<double> u;        // [planes, n_out]
    std::vector<double> v;        // [planes, k]
};

// +1 or -1.
double ref_bitstack_sign(const RefBitstack& b, int plane, int64_t r, int64_t c);
// W_hat_p [n_out, k].
std::vector<double> ref_bitstack_dequantise(const RefBitstack& b, int p);
// y [m, n_out] over the first p planes, and in `magnitude` (if not NULL)
// sum_j |u_j[r]| sum_c |x[i, c] v_j[c]| per entry (for error bounds).
std::vector<double> ref_bitstack_matmul(const RefBitstack& b, int p, int64_t m,
                                        const std::vector<double>& x,
                                        std::vector<double>* magnitude = nullptr);

}  // namespace engram_test
