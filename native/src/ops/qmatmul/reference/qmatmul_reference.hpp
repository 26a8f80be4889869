// qmatmul_reference.hpp — the plain, obviously-correct reference of the 2-bit
// weight family in double precision, written from engram_qmatmul.h:
//
//   q[r, c]     = (words[r * (k/16) + c/16] >> (2 (c % 16))) & 3   (plain layout)
//   W_hat[r, c] = s[r, c/G] * q[r, c] + z[r, c/G]
//   y[i, r]     = sum_c x[i, c] * W_hat[r, c]                      (dequantise, then matmul)
//
// Inputs are doubles holding the values the library sees (16-bit values
// already decoded), so the reference is exact up to double rounding.
#pragma once

#include <cstdint>
#include <vector>

namespace engram_test {

struct RefQWeight {
    int64_t n_out = 0, k = 0, group = 128;
    std::vector<uint32_t> words;  // plain layout, n_out * k / 16
    std::vector<double> scales;   // [n_out, k / group]
    std::vector<double> zeros;    // [n_out, k / group]
};

// Code of (r, c) from plain words.
uint32_t ref_code(const RefQWeight& w, int64_t r, int64_t c);
// W_hat [n_out, k].
std::vector<double> ref_dequantise(const RefQWeight& w);
// y [m, n_out] = x [m, k] . W_hat^T, and in `magnitude` (if not NULL) the
// sum_c |x[i, c] W_hat[r, c]| of every entry (for error bounds).
std::vector<double> ref_qmatmul(const RefQWeight& w, int64_t m, const std::vector<double>& x,
                                std::vector<double>* magnitude = nullptr);

// Plain words <-> one code per byte, and plain <-> CPU-prepared (4-row
// interleaved, zero-padded) words, from the header's formulas.
std::vector<uint32_t> ref_pack(int64_t n_out, int64_t k, const std::vector<uint8_t>& codes);
std::vector<uint32_t> ref_prepare(int64_t n_out, int64_t k, const std::vector<uint32_t>& plain);

}  // namespace engram_test
