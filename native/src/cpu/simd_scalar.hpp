// simd_scalar.hpp — the one-lane "vector" used by the portable fallback, with
// the same interface as the AVX2/AVX-512 wrappers so the tile code is written
// once (cce_tiles.hpp) and instantiated per ISA.
#pragma once

#include <cmath>
#include <cstdint>

#include "engram.h"

namespace engram::cpu {

struct VecScalar {
    static constexpr int lanes = 1;
    float v;

    static VecScalar zero() { return {0.0f}; }
    static VecScalar set1(float x) { return {x}; }
    static VecScalar load(const float* p) { return {*p}; }
    static VecScalar load_partial(const float* p, int n) { return {n > 0 ? *p : 0.0f}; }
    void store(float* p) const { *p = v; }
    void store_partial(float* p, int n) const {
        if (n > 0) *p = v;
    }
    friend VecScalar operator+(VecScalar a, VecScalar b) { return {a.v + b.v}; }
    friend VecScalar operator-(VecScalar a, VecScalar b) { return {a.v - b.v}; }
    friend VecScalar operator*(VecScalar a, VecScalar b) { return {a.v * b.v}; }
    static VecScalar fma(VecScalar a, VecScalar b, VecScalar c) { return {std::fma(a.v, b.v, c.v)}; }
    static VecScalar max(VecScalar a, VecScalar b) { return {a.v > b.v ? a.v : b.v}; }
    static VecScalar abs(VecScalar a) { return {std::fabs(a.v)}; }
    static VecScalar max_nan(VecScalar a, VecScalar b) { return (a.v != a.v || a.v > b.v) ? a : b; }
    static VecScalar select_lt(VecScalar a, VecScalar b, VecScalar x, VecScalar y) {
        return a.v < b.v ? x : y;
    }
    static VecScalar select_eq(VecScalar a, VecScalar b, VecScalar x, VecScalar y) {
        return a.v == b.v ? x : y;
    }
    static VecScalar exp(VecScalar a) { return {std::exp(a.v)}; }
    static VecScalar tanh(VecScalar a) { return {std::tanh(a.v)}; }
    // No vector conversion: the caller's scalar tail (half.h) does it all.
    static int64_t convert_from_16(const uint16_t*, engram_dtype, int64_t, float*) { return 0; }
    static int64_t convert_to_16(const float*, engram_dtype, int64_t, uint16_t*) { return 0; }
    template <int MR>
    static void pack_rows(const float* src, int64_t ld, int m_eff, int64_t kc, float* dst) {
        for (int i = 0; i < MR; ++i)
            for (int64_t k = 0; k < kc; ++k) dst[k * MR + i] = i < m_eff ? src[i * ld + k] : 0.0f;
    }
    float reduce_add() const { return v; }
    float reduce_max() const { return v; }
    // True if any lane is >= t (used by the gradient filter).
    bool any_ge(VecScalar t) const { return v >= t.v; }
    bool all_lt(VecScalar t) const { return v < t.v; }
};

}  // namespace engram::cpu
