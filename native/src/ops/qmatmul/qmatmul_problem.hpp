// qmatmul_problem.hpp — a validated 2-bit weight matrix and product, as the
// API hands them to the backends (qmatmul_api.cpp checks every field first).
#pragma once

#include <cstdint>

#include "engram.h"

namespace engram {

// The CPU-prepared layout interleaves the code words of this many rows.
constexpr int64_t kQmatmulPreparedRows = 4;

struct QWeight {
    engram_dtype scale_dtype = ENGRAM_DTYPE_F32;
    int64_t group = 128;
    engram_qlayout layout = ENGRAM_QLAYOUT_PLAIN;
    int64_t n_out = 0;
    int64_t k = 0;
    const uint32_t* codes = nullptr;
    const void* scales = nullptr;
    const void* zeros = nullptr;

    int64_t words_per_row() const { return k / 16; }
    int64_t groups_per_row() const { return k / group; }
    // Row r's word w is codes[word_index(r, w)].
    int64_t row_base(int64_t r) const {
        if (layout == ENGRAM_QLAYOUT_PLAIN) return r * words_per_row();
        return (r / kQmatmulPreparedRows) * kQmatmulPreparedRows * words_per_row() +
               r % kQmatmulPreparedRows;
    }
    int64_t word_step() const {
        return layout == ENGRAM_QLAYOUT_PLAIN ? 1 : kQmatmulPreparedRows;
    }
};

struct QMatmulProblem {
    QWeight w;
    int64_t m = 0;
    engram_dtype x_dtype = ENGRAM_DTYPE_F32;
    engram_dtype y_dtype = ENGRAM_DTYPE_F32;
    const void* x = nullptr;
    void* y = nullptr;
};

struct QuantizeProblem {
    int64_t n_out = 0, k = 0, group = 128;
    engram_dtype w_dtype = ENGRAM_DTYPE_F32;
    engram_dtype scale_dtype = ENGRAM_DTYPE_F32;
    const void* w = nullptr;
    uint32_t* codes = nullptr;
    void* scales = nullptr;
    void* zeros = nullptr;
};

// Words of code storage for n_out x k (k a multiple of 16) in a layout.
inline uint64_t qmatmul_code_words(int64_t n_out, int64_t k, engram_qlayout layout) {
    const int64_t rows = layout == ENGRAM_QLAYOUT_PLAIN
                             ? n_out
                             : (n_out + kQmatmulPreparedRows - 1) / kQmatmulPreparedRows *
                                   kQmatmulPreparedRows;
    return uint64_t(rows) * uint64_t(k / 16);
}

}  // namespace engram
