// qmatmul_harness.hpp — 2-bit weight test cases end to end: generate a
// quantized matrix and activations (seeded; 16-bit values rounded to their
// dtype), hand them to engram_qmatmul in either code layout, and compute the
// float64 reference with an error bound per output entry.
//
// The error model of every entry's bound is the family's one tolerance model,
// perf/native/suites/qmatmul_tolerance.hpp (shared with the case suite).
#pragma once

#include <string>
#include <vector>

#include "engram.h"
#include "ops/qmatmul/reference/qmatmul_reference.hpp"

namespace engram_test {

enum class QValues {
    Random,       // s ~ U(0.01, 1) (random sign), z ~ N(0, 1), random codes
    EqualGroups,  // s = 0 everywhere: W_hat = z per group
    HugeScales,   // s, z ~ 1e30 (f32) or ~6e4 (f16); x ~ 1e-6
    TinyScales,   // s, z ~ 1e-35 (f32) or f16 subnormals ~1e-7
};

struct QSpec {
    int64_t n_out = 5, k = 128, group = 32, m = 1;
    engram_dtype x_dtype = ENGRAM_DTYPE_F32;
    engram_dtype y_dtype = ENGRAM_DTYPE_F32;
    engram_dtype scale_dtype = ENGRAM_DTYPE_F32;
    engram_qlayout layout = ENGRAM_QLAYOUT_PLAIN;
    QValues values = QValues::Random;
    uint64_t seed = 1;
    std::string label() const;
};

struct QData {
    QSpec spec;
    RefQWeight ref;                  // plain words, decoded scales/zeros
    std::vector<uint32_t> words;     // codes in spec.layout
    std::vector<uint8_t> scales_raw, zeros_raw, x_raw;
    std::vector<double> x;           // x as the library reads it

    engram_qweight qweight() const;  // pointers into this object
};

QData make_qdata(const QSpec& spec);

// y (as f32) from engram_qmatmul on a CPU context with `threads` workers
// (0 = default); ASSERTs success.
std::vector<float> run_qmatmul(const QData& d, int threads = 0);

// Reference y and the bound of every entry.
void qmatmul_expected(const QData& d, std::vector<double>& ref, std::vector<double>& bound);

}  // namespace engram_test
