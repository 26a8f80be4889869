// cpu_features.cpp — runtime ISA detection (cpuid via the compiler builtins).
#include "cpu/cpu_features.hpp"

#include <cstdlib>
#include <cstring>
#include <fstream>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace engram::cpu {

namespace {

#if defined(__x86_64__) && defined(ENGRAM_HAVE_X86_KERNELS)
// cpuid and xgetbv directly rather than __builtin_cpu_supports: clang rejects
// some feature names gcc accepts ("f16c"), and the OS must also have enabled
// the register state (XCR0) for AVX and AVX-512, which cpuid alone does not say.
struct CpuidRegs {
    unsigned a = 0, b = 0, c = 0, d = 0;
};

CpuidRegs cpuid(unsigned leaf, unsigned sub) {
    CpuidRegs r;
    if (!__get_cpuid_count(leaf, sub, &r.a, &r.b, &r.c, &r.d)) return CpuidRegs{};
    return r;
}

unsigned long long xcr0() {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (static_cast<unsigned long long>(hi) << 32) | lo;
}

bool bit(unsigned reg, int b) { return (reg >> b) & 1u; }
#endif

engram_cpu_isa hardware_isa() {
#if defined(__x86_64__) && defined(ENGRAM_HAVE_X86_KERNELS)
    const CpuidRegs l1 = cpuid(1, 0);
    const bool osxsave = bit(l1.c, 27);
    if (!osxsave) return ENGRAM_CPU_ISA_SCALAR;
    const unsigned long long xcr = xcr0();
    const bool ymm_state = (xcr & 0x6) == 0x6;      // SSE + AVX registers
    const bool zmm_state = (xcr & 0xe6) == 0xe6;    // + opmask, ZMM0-15 high, ZMM16-31
    const CpuidRegs l7 = cpuid(7, 0);
    const bool avx2 = bit(l7.b, 5), fma = bit(l1.c, 12), f16c = bit(l1.c, 29), avx = bit(l1.c, 28);
    const bool avx512 = bit(l7.b, 16) /*F*/ && bit(l7.b, 17) /*DQ*/ && bit(l7.b, 30) /*BW*/ &&
                        bit(l7.b, 31) /*VL*/;
    // AVX512_BF16 (VDPBF16PS) is leaf 7 subleaf 1, EAX bit 5; it uses the
    // same ZMM state as the rest of AVX-512.
    const bool avx512_bf16 = l7.a >= 1 && bit(cpuid(7, 1).a, 5);
    if (avx512 && avx512_bf16 && avx2 && fma && f16c && zmm_state) return ENGRAM_CPU_ISA_AVX512_BF16;
    if (avx512 && avx2 && fma && f16c && zmm_state) return ENGRAM_CPU_ISA_AVX512;
    if (avx && avx2 && fma && f16c && ymm_state) return ENGRAM_CPU_ISA_AVX2;
#endif
    return ENGRAM_CPU_ISA_SCALAR;
}

engram_cpu_isa resolve() {
    engram_cpu_isa isa = hardware_isa();
    if (const char* force = std::getenv("ENGRAM_CPU_ISA")) {
        engram_cpu_isa want = isa;
        if (std::strcmp(force, "scalar") == 0) want = ENGRAM_CPU_ISA_SCALAR;
        if (std::strcmp(force, "avx2") == 0) want = ENGRAM_CPU_ISA_AVX2;
        if (std::strcmp(force, "avx512") == 0) want = ENGRAM_CPU_ISA_AVX512;
        if (std::strcmp(force, "avx512_bf16") == 0) want = ENGRAM_CPU_ISA_AVX512_BF16;
        if (want < isa) isa = want;  // can only lower what the hardware has
    }
    return isa;
}

}  // namespace

engram_cpu_isa detected_isa() {
    static const engram_cpu_isa isa = resolve();
    return isa;
}

std::string cpu_name() {
    std::ifstream info("/proc/cpuinfo");
    std::string line;
    while (std::getline(info, line)) {
        if (line.rfind("model name", 0) == 0) {
            auto colon = line.find(':');
            if (colon != std::string::npos) {
                auto start = line.find_first_not_of(' ', colon + 1);
                return start == std::string::npos ? std::string() : line.substr(start);
            }
        }
    }
#if defined(__x86_64__)
    return "x86-64";
#elif defined(__aarch64__)
    return "aarch64";
#else
    return "unknown";
#endif
}

}  // namespace engram::cpu
