// qmatmul_reference.cpp — see qmatmul_reference.hpp.
#include "ops/qmatmul/reference/qmatmul_reference.hpp"

#include <cmath>

namespace engram_test {

uint32_t ref_code(const RefQWeight& w, int64_t r, int64_t c) {
    return (w.words[size_t(r * (w.k / 16) + c / 16)] >> (2 * (c % 16))) & 3u;
}

std::vector<double> ref_dequantise(const RefQWeight& w) {
    std::vector<double> out(size_t(w.n_out * w.k));
    const int64_t groups = w.k / w.group;
    for (int64_t r = 0; r < w.n_out; ++r)
        for (int64_t c = 0; c < w.k; ++c) {
            const size_t g = size_t(r * groups + c / w.group);
            out[size_t(r * w.k + c)] = w.scales[g] * double(ref_code(w, r, c)) + w.zeros[g];
        }
    return out;
}

std::vector<double> ref_qmatmul(const RefQWeight& w, int64_t m, const std::vector<double>& x,
                                std::vector<double>* magnitude) {
    const std::vector<double> wd = ref_dequantise(w);
    std::vector<double> y(size_t(m * w.n_out));
    if (magnitude) magnitude->assign(y.size(), 0.0);
    for (int64_t i = 0; i < m; ++i)
        for (int64_t r = 0; r < w.n_out; ++r) {
            double sum = 0.0, mag = 0.0;
            for (int64_t c = 0; c < w.k; ++c) {
                const double t = x[size_t(i * w.k + c)] * wd[size_t(r * w.k + c)];
                sum += t;
                mag += std::fabs(t);
            }
            y[size_t(i * w.n_out + r)] = sum;
            if (magnitude) (*magnitude)[size_t(i * w.n_out + r)] = mag;
        }
    return y;
}

std::vector<uint32_t> ref_pack(int64_t n_out, int64_t k, const std::vector<uint8_t>& codes) {
    std::vector<uint32_t> words(size_t(n_out * (k / 16)), 0u);
    for (int64_t r = 0; r < n_out; ++r)
        for (int64_t c = 0; c < k; ++c)
            words[size_t(r * (k / 16) + c / 16)] |= uint32_t(codes[size_t(r * k + c)])
                                                    << (2 * (c % 16));
    return words;
}

std::vector<uint32_t> ref_prepare(int64_t n_out, int64_t k, const std::vector<uint32_t>& plain) {
    const int64_t W = k / 16, rows = (n_out + 3) / 4 * 4;
    std::vector<uint32_t> out(size_t(rows * W), 0u);
    for (int64_t r = 0; r < n_out; ++r)
        for (int64_t w = 0; w < W; ++w) out[size_t(((r / 4) * W + w) * 4 + r % 4)] = plain[size_t(r * W + w)];
    return out;
}

}  // namespace engram_test
