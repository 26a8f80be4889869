// half.h — IEEE binary16 (f16) and bfloat16 (bf16) <-> f32 conversions on raw
// bits, shared by host and device code. Rounding is round-to-nearest-even, NaN
// stays NaN, overflow goes to infinity — the same results as the hardware
// conversions (F16C, cvt.rn), so CPU and GPU round identically.
#pragma once

#include <stdint.h>
#include <string.h>

#include "shared/hd.h"

namespace engram {

ENGRAM_HD uint32_t f32_bits(float f) {
#if defined(__CUDA_ARCH__)
    return __float_as_uint(f);
#else
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
#endif
}

ENGRAM_HD float bits_f32(uint32_t u) {
#if defined(__CUDA_ARCH__)
    return __uint_as_float(u);
#else
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
#endif
}

ENGRAM_HD float bf16_to_f32(uint16_t h) { return bits_f32(uint32_t(h) << 16); }

ENGRAM_HD uint16_t f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40u);  // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);                                           // RNE
    return uint16_t(u >> 16);
}

ENGRAM_HD float f16_to_f32(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1fu) return bits_f32(sign | 0x7f800000u | (man << 13));  // inf / NaN
    if (exp != 0) return bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
    if (man == 0) return bits_f32(sign);  // signed zero
    // Subnormal: value = man * 2^-24, exact in f32.
    float v = float(man) * 5.9604644775390625e-8f;
    return sign ? -v : v;
}

ENGRAM_HD uint16_t f32_to_f16(float f) {
    const uint32_t u = f32_bits(f);
    const uint16_t sign = uint16_t((u >> 16) & 0x8000u);
    const uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return uint16_t(sign | 0x7e00u);   // NaN
    if (a >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // rounds to >= 65520: inf
    if (a >= 0x38800000u) {                                 // normal f16 range
        uint32_t r = a - 0x38000000u;                       // rebias 127 -> 15
        r += 0xfffu + ((r >> 13) & 1u);                     // RNE on the 13 dropped bits
        return uint16_t(sign | (r >> 13));
    }
    if (a < 0x33000000u) return sign;  // below half the smallest subnormal: zero
    // Subnormal result: shift the implicit-one mantissa right, round to nearest even.
    const uint32_t e = a >> 23;
    const uint32_t m = (a & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126u - e;  // 14..24
    uint32_t r = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (r & 1u))) ++r;
    return uint16_t(sign | r);
}

}  // namespace engram
