// qmatmul_tolerance.cpp — see qmatmul_tolerance.hpp.
#include "qmatmul_tolerance.hpp"

#include <cmath>

namespace engram_suite {

QmatmulExpected expect_qmatmul(const engram_test::RefQWeight& w, int64_t m,
                               const std::vector<double>& x, engram_dtype y_dtype) {
    QmatmulExpected e;
    std::vector<double> mag;
    e.y = engram_test::ref_qmatmul(w, m, x, &mag);
    e.bound.resize(e.y.size());
    const double u = std::ldexp(1.0, -24), tiny = std::ldexp(1.0, -149);
    const double k = double(w.k);
    for (size_t i = 0; i < e.y.size(); ++i) {
        double b = u * (k + 2.0) * mag[i] + (k + 2.0) * tiny;
        if (y_dtype == ENGRAM_DTYPE_F16)
            b += std::ldexp(1.0, -11) * (std::fabs(e.y[i]) + b) + std::ldexp(1.0, -25);
        else if (y_dtype == ENGRAM_DTYPE_BF16)
            b += std::ldexp(1.0, -8) * (std::fabs(e.y[i]) + b) + std::ldexp(1.0, -133);
        e.bound[i] = b;
    }
    return e;
}

double stored_value_bound(double exact, int roundings, engram_dtype dtype) {
    const double u = std::ldexp(1.0, -24);
    double b = double(roundings) * u * std::fabs(exact) * (1.0 + 1e-6) + std::ldexp(1.0, -149);
    if (dtype == ENGRAM_DTYPE_F16) b += std::ldexp(1.0, -11) * (std::fabs(exact) + b) + std::ldexp(1.0, -25);
    return b;
}

}  // namespace engram_suite
