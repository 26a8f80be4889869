// cpu_features.cpp — runtime ISA detection (cpuid via the compiler builtins).
#include "cpu_features.hpp"

#include <cstdlib>
#include <cstring>
#include <fstream>

namespace engram::cpu {

namespace {

engram_cpu_isa hardware_isa() {
#if defined(__x86_64__) && defined(ENGRAM_HAVE_X86_KERNELS)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return ENGRAM_CPU_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        __builtin_cpu_supports("f16c"))
        return ENGRAM_CPU_ISA_AVX2;
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
