// qmatmul_bitstack_reference.cpp — see qmatmul_bitstack_reference.hpp.
#include "ops/qmatmul/reference/qmatmul_bitstack_reference.hpp"

#include <cmath>

namespace engram_test {

double ref_bitstack_sign(const RefBitstack& b, int plane, int64_t r, int64_t c) {
    const uint32_t word = b.signs[size_t((int64_t(plane) * b.n_out + r) * (b.k / 32) + c / 32)];
    return (word >> (c % 32)) & 1u ? 1.0 : -1.0;
}

std::vector<double> ref_bitstack_dequantise(const RefBitstack& b, int p) {
    std::vector<double> w(size_t(b.n_out * b.k), 0.0);
    for (int j = 0; j < p; ++j)
        for (int64_t r = 0; r < b.n_out; ++r)
            for (int64_t c = 0; c < b.k; ++c)
                w[size_t(r * b.k + c)] += ref_bitstack_sign(b, j, r, c) * b.u[size_t(j * b.n_out + r)] *
                                          b.v[size_t(j * b.k + c)];
    return w;
}

std::vector<double> ref_bitstack_matmul(const RefBitstack& b, int p, int64_t m,
                                        const std::vector<double>& x, std::vector<double>* magnitude) {
    const std::vector<double> w = ref_bitstack_dequantise(b, p);
    std::vector<double> y(size_t(m * b.n_out), 0.0);
    if (magnitude) magnitude->assign(y.size(), 0.0);
    for (int64_t i = 0; i < m; ++i)
        for (int64_t r = 0; r < b.n_out; ++r) {
            double sum = 0.0;
            for (int64_t c = 0; c < b.k; ++c) sum += x[size_t(i * b.k + c)] * w[size_t(r * b.k + c)];
            y[size_t(i * b.n_out + r)] = sum;
            if (magnitude) {
                double mag = 0.0;
                for (int j = 0; j < p; ++j) {
                    double row = 0.0;
                    for (int64_t c = 0; c < b.k; ++c)
                        row += std::fabs(x[size_t(i * b.k + c)] * b.v[size_t(j * b.k + c)]);
                    mag += std::fabs(b.u[size_t(j * b.n_out + r)]) * row;
                }
                (*magnitude)[size_t(i * b.n_out + r)] = mag;
            }
        }
    return y;
}

}  // namespace engram_test
