// qmatmul_onnx.hpp — conversions between ONNX Runtime's MatMulNBits weight
// layout (bits = 2) and Engram's 2-bit format (engram_qmatmul.h, "ONNX Runtime
// MatMulNBits layout"). Inputs arrive validated (qmatmul_onnx_api.cpp).
//
// The codes need no repacking: a MatMulNBits row is k / 4 bytes, byte c / 4
// holding column c at bits 2 (c % 4); an Engram plain row is k / 16 uint32
// words, word c / 16 holding column c at bits 2 (c % 16). On a little-endian
// host, byte c / 4 of the row's words is exactly that byte, so a plain row
// and a MatMulNBits row are the same bytes.
#pragma once

#include <cstdint>
#include <vector>

#include "engram.h"
#include "ops/qmatmul/qmatmul_problem.hpp"

namespace engram {

// A validated MatMulNBits weight (bits 2, block_size dividing k).
struct OnnxNbits {
    int64_t n = 0, k = 0, block = 0;
    engram_dtype scale_dtype = ENGRAM_DTYPE_F32;
    engram_onnx_zero_points zp_kind = ENGRAM_ONNX_ZP_PACKED;
    const uint8_t* b = nullptr;
    const void* scales = nullptr;
    const void* zero_points = nullptr;
    int64_t blocks() const { return k / block; }
    // Bytes of one row's packed zero points.
    int64_t zp_row_bytes() const { return (blocks() + 3) / 4; }
};

// Zero point of (row, block) as a double.
double onnx_zero_point(const OnnxNbits& o, int64_t row, int64_t block);

// MatMulNBits -> plain words, s, z (scale_dtype F32 or F16).
void onnx_to_engram(const OnnxNbits& o, engram_dtype scale_dtype, uint32_t* codes, void* scales,
                    void* zeros);

// The zero point of every group of w for export as `kind`, or -1 with the
// first group (row, group) that cannot be exported in `bad_row`, `bad_group`.
bool engram_zero_points(const QWeight& w, engram_onnx_zero_points kind, std::vector<double>& zp,
                        int64_t& bad_row, int64_t& bad_group);

// Writes B, scales and zero points (zp from engram_zero_points).
void engram_to_onnx(const QWeight& w, engram_onnx_zero_points kind, const std::vector<double>& zp,
                    uint8_t* b, void* scales, void* zero_points);

}  // namespace engram
