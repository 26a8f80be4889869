// half_test.cpp — the f16 / bf16 <-> f32 conversions of native/src/shared/half.h
// (shared by the CPU backend and the CUDA kernels): known values, every 16-bit
// pattern, every rounding tie, subnormals, infinities, NaN and overflow,
// against an independent round-to-nearest-even written with ldexp/nearbyint,
// and against the F16C instructions where the CPU has them (this file alone is
// compiled with -mf16c; the F16C tests skip on a CPU without it).
#include <gtest/gtest.h>

#include <cfenv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>

#include "shared/half.h"

#if defined(__F16C__)
#include <cpuid.h>
#include <immintrin.h>
#define ENGRAM_TEST_F16C 1
#endif

namespace {

using engram::bf16_to_f32;
using engram::f16_to_f32;
using engram::f32_to_bf16;
using engram::f32_to_f16;

float from_bits(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
uint32_t to_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

bool f16_is_nan(uint16_t h) { return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0; }
bool bf16_is_nan(uint16_t h) { return (h & 0x7f80u) == 0x7f80u && (h & 0x7fu) != 0; }

// Independent references: x rounded to nearest-even with `mant` explicit
// mantissa bits, minimum normal exponent `emin`, overflowing to infinity at
// or above max + half an ulp. All arithmetic is exact in double.
double ref_round(float x, int mant, int emin, double max_finite) {
    if (std::isnan(x)) return std::numeric_limits<double>::quiet_NaN();
    const double a = std::fabs(double(x));
    double r;
    if (std::isinf(x)) {
        r = INFINITY;
    } else if (a == 0) {
        r = 0;
    } else {
        const int e = std::max(std::ilogb(a), emin);
        r = std::ldexp(std::nearbyint(std::ldexp(a, mant - e)), e - mant);  // FE_TONEAREST
        if (r > max_finite) r = INFINITY;
    }
    return std::signbit(x) ? -r : r;
}
double ref_f16(float x) { return ref_round(x, 10, -14, 65504.0); }
double ref_bf16(float x) { return ref_round(x, 7, -126, std::ldexp(255.0, 120)); }

// Value of an f16 bit pattern from its definition.
double f16_value(uint16_t h) {
    const int sign = h >> 15, exp = (h >> 10) & 31, man = h & 1023;
    double v;
    if (exp == 31) v = man ? NAN : INFINITY;
    else if (exp == 0) v = std::ldexp(double(man), -24);
    else v = std::ldexp(1.0 + man / 1024.0, exp - 15);
    return sign ? -v : v;
}

::testing::AssertionResult same_value(double expected, float got) {
    if (std::isnan(expected) && std::isnan(got)) return ::testing::AssertionSuccess();
    if (expected == double(got) && std::signbit(expected) == std::signbit(got))
        return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "expected " << expected << ", got " << got;
}

// --- f16 ------------------------------------------------------------------------------

struct Known {
    float x;
    uint16_t bits;
};

TEST(HalfF16, KnownValues) {
    const Known known[] = {
        {0.0f, 0x0000},
        {-0.0f, 0x8000},
        {1.0f, 0x3c00},
        {-2.0f, 0xc000},
        {0.5f, 0x3800},
        {0.1f, 0x2e66},
        {3.14159274f, 0x4248},
        {65504.0f, 0x7bff},                      // largest finite
        {std::nextafter(65520.0f, 0.0f), 0x7bff},  // just below the overflow tie
        {65520.0f, 0x7c00},                      // tie between 65504 and 2^16: even is inf
        {1e6f, 0x7c00},
        {-1e6f, 0xfc00},
        {INFINITY, 0x7c00},
        {-INFINITY, 0xfc00},
        {std::ldexp(1.0f, -14), 0x0400},  // smallest normal
        {std::ldexp(1.0f, -24), 0x0001},  // smallest subnormal
        {-std::ldexp(1.0f, -24), 0x8001},
        {std::ldexp(1.0f, -25), 0x0000},  // tie between 0 and 2^-24: even is 0
        {-std::ldexp(1.0f, -25), 0x8000},
        {std::nextafter(std::ldexp(1.0f, -25), 1.0f), 0x0001},
        {std::ldexp(3.0f, -25), 0x0002},     // tie 1 | 2: even 2
        {std::ldexp(5.0f, -25), 0x0002},     // tie 2 | 3: even 2
        {std::ldexp(2047.0f, -25), 0x0400},  // tie 0x3ff | 0x400: even 0x400
        {std::ldexp(2045.0f, -25), 0x03fe},  // tie 0x3fe | 0x3ff: even 0x3fe
        {1.0f + std::ldexp(1.0f, -11), 0x3c00},                         // tie: even
        {1.0f + std::ldexp(3.0f, -11), 0x3c02},                         // tie: even
        {1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -23), 0x3c01}, // above the tie
        {1e-8f, 0x0000},
        {1e-40f, 0x0000},   // f32 subnormal
        {-1e-40f, 0x8000},
        {2048.0f + 1.0f, 0x6800},  // 2049: tie between 2048 and 2050 -> 2048
        {2048.0f + 3.0f, 0x6802},  // 2051: tie -> 2052
    };
    for (const Known& k : known)
        EXPECT_EQ(k.bits, f32_to_f16(k.x)) << "f32_to_f16(" << k.x << ") bits " << std::hex
                                           << to_bits(k.x);
}

TEST(HalfF16, NanStaysNan) {
    for (uint32_t bits : {0x7fc00000u, 0x7f800001u, 0x7fbfffffu, 0xffc00000u, 0xff800001u, 0x7fffffffu}) {
        const uint16_t h = f32_to_f16(from_bits(bits));
        EXPECT_TRUE(f16_is_nan(h)) << std::hex << bits << " -> " << h;
        EXPECT_EQ(bits >> 31, uint32_t(h >> 15)) << "sign of NaN " << std::hex << bits;
    }
}

TEST(HalfF16, EveryPatternWidensExactlyAndRoundTrips) {
    for (uint32_t h = 0; h <= 0xffff; ++h) {
        const float f = f16_to_f32(uint16_t(h));
        const double v = f16_value(uint16_t(h));
        if (std::isnan(v)) {
            ASSERT_TRUE(std::isnan(f)) << std::hex << h;
            ASSERT_TRUE(f16_is_nan(f32_to_f16(f))) << std::hex << h;
            continue;
        }
        ASSERT_TRUE(same_value(v, f)) << "f16_to_f32(0x" << std::hex << h << ")";
        ASSERT_EQ(h, f32_to_f16(f)) << "round trip of 0x" << std::hex << h;
    }
}

TEST(HalfF16, EveryTieRoundsToEven) {
    // Midpoints between neighbouring f16 values (exact in f32), and one f32 ulp
    // either side of each.
    for (uint32_t h = 0; h < 0x7c00; ++h) {
        const double lo = f16_value(uint16_t(h));
        const double hi = h + 1 == 0x7c00 ? 65536.0 : f16_value(uint16_t(h + 1));
        const float mid = float((lo + hi) / 2);
        ASSERT_EQ(double(mid), (lo + hi) / 2);
        for (float x : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, INFINITY)}) {
            for (float s : {x, -x}) {
                ASSERT_TRUE(same_value(ref_f16(s), f16_to_f32(f32_to_f16(s))))
                    << "f32_to_f16(" << s << ") bits " << std::hex << to_bits(s);
            }
        }
    }
}

TEST(HalfF16, RandomValuesMatchTheReference) {
    std::mt19937 gen(12345);
    for (int i = 0; i < 400000; ++i) {
        // Half uniform bit patterns, half within and around the f16 range.
        uint32_t bits = gen();
        if (i & 1) bits = (bits & 0x807fffffu) | (uint32_t(127 - 30 + gen() % 50) << 23);
        const float x = from_bits(bits);
        if (std::isnan(x)) continue;
        ASSERT_TRUE(same_value(ref_f16(x), f16_to_f32(f32_to_f16(x))))
            << "f32_to_f16 of bits 0x" << std::hex << bits;
    }
}

// --- bf16 -----------------------------------------------------------------------------

TEST(HalfBf16, KnownValues) {
    const Known known[] = {
        {0.0f, 0x0000},
        {-0.0f, 0x8000},
        {1.0f, 0x3f80},
        {-2.0f, 0xc000},
        {3.14159274f, 0x4049},
        {from_bits(0x3f808000u), 0x3f80},  // tie: even
        {from_bits(0x3f818000u), 0x3f82},  // tie: even
        {from_bits(0x3f808001u), 0x3f81},  // above the tie
        {from_bits(0x3f807fffu), 0x3f80},  // below the tie
        {from_bits(0x7f7fffffu), 0x7f80},  // FLT_MAX rounds to inf
        {from_bits(0x7f7f7fffu), 0x7f7f},  // largest that stays finite
        {from_bits(0x7f7f8000u), 0x7f80},  // tie at the top: even is inf
        {INFINITY, 0x7f80},
        {-INFINITY, 0xff80},
        {from_bits(0x00008000u), 0x0000},  // subnormal tie: even 0
        {from_bits(0x00018000u), 0x0002},  // subnormal tie: even 2
        {from_bits(0x00010000u), 0x0001},  // smallest bf16 subnormal
        {from_bits(0x807f8000u), 0x8080},  // rounds up into the smallest normal
    };
    for (const Known& k : known)
        EXPECT_EQ(k.bits, f32_to_bf16(k.x)) << "f32_to_bf16 of bits 0x" << std::hex << to_bits(k.x);
}

TEST(HalfBf16, NanStaysNan) {
    // 0x7f800001 truncated would be 0x7f80 (infinity): it must stay NaN.
    for (uint32_t bits : {0x7fc00000u, 0x7f800001u, 0x7f80ffffu, 0xff800001u, 0x7fffffffu, 0xffc00000u}) {
        const uint16_t h = f32_to_bf16(from_bits(bits));
        EXPECT_TRUE(bf16_is_nan(h)) << std::hex << bits << " -> " << h;
        EXPECT_EQ(bits >> 31, uint32_t(h >> 15)) << "sign of NaN " << std::hex << bits;
    }
}

TEST(HalfBf16, EveryPatternWidensExactlyAndRoundTrips) {
    for (uint32_t h = 0; h <= 0xffff; ++h) {
        const float f = bf16_to_f32(uint16_t(h));
        ASSERT_EQ(h << 16, to_bits(f)) << std::hex << h;
        if (bf16_is_nan(uint16_t(h))) {
            ASSERT_TRUE(bf16_is_nan(f32_to_bf16(f))) << std::hex << h;
            continue;
        }
        ASSERT_EQ(h, f32_to_bf16(f)) << "round trip of 0x" << std::hex << h;
    }
}

TEST(HalfBf16, EveryTieRoundsToEven) {
    for (uint32_t h = 0; h < 0x7f80; ++h) {
        const uint32_t mid = (h << 16) | 0x8000u;  // exactly halfway to h + 1
        for (uint32_t bits : {mid, mid - 1, mid + 1, mid | 0x80000000u}) {
            const float x = from_bits(bits);
            ASSERT_TRUE(same_value(ref_bf16(x), bf16_to_f32(f32_to_bf16(x))))
                << "f32_to_bf16 of bits 0x" << std::hex << bits;
        }
    }
}

TEST(HalfBf16, RandomValuesMatchTheReference) {
    std::mt19937 gen(54321);
    for (int i = 0; i < 400000; ++i) {
        const uint32_t bits = gen();
        const float x = from_bits(bits);
        if (std::isnan(x)) continue;
        ASSERT_TRUE(same_value(ref_bf16(x), bf16_to_f32(f32_to_bf16(x))))
            << "f32_to_bf16 of bits 0x" << std::hex << bits;
    }
}

// --- against the hardware -------------------------------------------------------------

bool cpu_has_f16c() {
#if defined(ENGRAM_TEST_F16C)
    unsigned a, b, c, d;  // cpuid leaf 1, ECX bit 29 (clang has no "f16c" builtin name)
    return __get_cpuid(1, &a, &b, &c, &d) && ((c >> 29) & 1u);
#else
    return false;
#endif
}

TEST(HalfF16C, WideningMatchesTheHardware) {
    if (!cpu_has_f16c()) GTEST_SKIP() << "this CPU (or compiler target) has no F16C";
#if defined(ENGRAM_TEST_F16C)
    for (uint32_t h = 0; h <= 0xffff; ++h) {
        const float hw = _cvtsh_ss(uint16_t(h));
        const float sw = f16_to_f32(uint16_t(h));
        if (std::isnan(hw)) {
            ASSERT_TRUE(std::isnan(sw)) << std::hex << h;
            ASSERT_EQ(std::signbit(hw), std::signbit(sw)) << std::hex << h;
        } else {
            ASSERT_EQ(to_bits(hw), to_bits(sw)) << "f16 0x" << std::hex << h;
        }
    }
#endif
}

TEST(HalfF16C, NarrowingMatchesTheHardware) {
    if (!cpu_has_f16c()) GTEST_SKIP() << "this CPU (or compiler target) has no F16C";
#if defined(ENGRAM_TEST_F16C)
    auto check = [](float x) {
        const uint16_t hw = uint16_t(_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT));
        const uint16_t sw = f32_to_f16(x);
        if (f16_is_nan(hw)) {
            if (!f16_is_nan(sw) || (hw >> 15) != (sw >> 15))
                return ::testing::AssertionFailure() << "NaN " << std::hex << to_bits(x) << " -> " << sw;
            return ::testing::AssertionSuccess();
        }
        if (hw != sw)
            return ::testing::AssertionFailure() << "bits 0x" << std::hex << to_bits(x) << ": hardware 0x"
                                                 << hw << ", engram 0x" << sw;
        return ::testing::AssertionSuccess();
    };
    // Every tie and its neighbours, specials, then random patterns.
    for (uint32_t h = 0; h < 0x7c00; ++h) {
        const double lo = f16_value(uint16_t(h));
        const double hi = h + 1 == 0x7c00 ? 65536.0 : f16_value(uint16_t(h + 1));
        const float mid = float((lo + hi) / 2);
        for (float x : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, INFINITY), float(lo)})
            for (float s : {x, -x}) ASSERT_TRUE(check(s));
    }
    for (uint32_t bits : {0x7f800000u, 0xff800000u, 0x7fc00000u, 0x7f800001u, 0xffc00001u, 0x00000001u,
                          0x80000001u, 0x007fffffu, 0x7f7fffffu})
        ASSERT_TRUE(check(from_bits(bits)));
    std::mt19937 gen(777);
    for (int i = 0; i < 400000; ++i) {
        uint32_t bits = gen();
        if (i & 1) bits = (bits & 0x807fffffu) | (uint32_t(127 - 30 + gen() % 50) << 23);
        ASSERT_TRUE(check(from_bits(bits)));
    }
#endif
}

}  // namespace
