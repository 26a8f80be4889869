// bench_machine.cpp — see bench_machine.hpp.
#include "bench_machine.hpp"

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "engram.h"

#if defined(__linux__)
#include <sched.h>
#include <unistd.h>
#endif

// Written at build time by bench_build_info.cmake (commit) and CMake (compiler, flags).
extern "C" const char* engram_bench_commit();
extern "C" const char* engram_bench_commit_utc();

#ifndef ENGRAM_BENCH_COMPILER
#define ENGRAM_BENCH_COMPILER "unknown"
#endif
#ifndef ENGRAM_BENCH_FLAGS
#define ENGRAM_BENCH_FLAGS ""
#endif
#ifndef ENGRAM_BENCH_BUILD_TYPE
#define ENGRAM_BENCH_BUILD_TYPE ""
#endif
#ifndef ENGRAM_BENCH_CUDA_VERSION
#define ENGRAM_BENCH_CUDA_VERSION ""
#endif

namespace engram_bench {

namespace {

std::string trim(const std::string& s) {
    const size_t a = s.find_first_not_of(" \t\n");
    const size_t b = s.find_last_not_of(" \t\n");
    return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

std::string read_line(const std::string& path) {
    std::ifstream f(path);
    std::string line;
    std::getline(f, line);
    return trim(line);
}

// "32K", "1024K", "32M" (sysfs cache sizes) in bytes.
int64_t cache_bytes(const std::string& text) {
    if (text.empty()) return 0;
    int64_t v = 0;
    size_t i = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') v = v * 10 + (text[i++] - '0');
    const char unit = i < text.size() ? text[i] : ' ';
    if (unit == 'K') v <<= 10;
    else if (unit == 'M') v <<= 20;
    else if (unit == 'G') v <<= 30;
    return v;
}

void read_cpuinfo(MachineInfo& m) {
    std::ifstream f("/proc/cpuinfo");
    std::string line;
    std::set<std::pair<std::string, std::string>> cores;
    std::string physical;
    // Extensions that decide which kernels run; the rest of the flags line is noise here.
    static const char* const kInteresting[] = {"sse4_2", "avx", "avx2", "fma", "f16c", "avx512f",
                                               "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
                                               "avx512_fp16", "amx_tile", "amx_bf16", "asimd", "sve"};
    bool flags_done = false;
    while (std::getline(f, line)) {
        const size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        const std::string key = trim(line.substr(0, colon)), value = trim(line.substr(colon + 1));
        if (key == "model name" && m.cpu_model.empty()) m.cpu_model = value;
        else if (key == "physical id") physical = value;
        else if (key == "core id") cores.insert({physical, value});
        else if ((key == "flags" || key == "Features") && !flags_done) {
            std::istringstream words(" " + value + " ");
            std::set<std::string> have;
            for (std::string w; words >> w;) have.insert(w);
            for (const char* x : kInteresting)
                if (have.count(x)) m.isa_flags.push_back(x);
            flags_done = true;
        }
    }
    m.cores = int(cores.size());
}

void read_caches(MachineInfo& m) {
    for (int i = 0; i < 8; ++i) {
        const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
        const std::string level = read_line(dir + "level");
        if (level.empty()) break;
        const std::string type = read_line(dir + "type");
        std::string name = "l" + level;
        if (type == "Data") name += "d";
        else if (type == "Instruction") name += "i";
        m.caches.emplace_back(name, cache_bytes(read_line(dir + "size")));
    }
#if defined(__linux__) && defined(_SC_LEVEL1_DCACHE_SIZE)
    // No cache directory in sysfs (some containers and VMs): glibc's view.
    if (m.caches.empty()) {
        const std::pair<const char*, int> levels[] = {{"l1d", _SC_LEVEL1_DCACHE_SIZE},
                                                      {"l2", _SC_LEVEL2_CACHE_SIZE},
                                                      {"l3", _SC_LEVEL3_CACHE_SIZE}};
        for (const auto& [name, key] : levels) {
            const long v = sysconf(key);
            if (v > 0) m.caches.emplace_back(name, int64_t(v));
        }
    }
#endif
}

int logical_cpus() {
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
#endif
    return int(std::thread::hardware_concurrency());
}

MachineInfo probe_machine() {
    MachineInfo m;
    read_cpuinfo(m);
    read_caches(m);
    m.logical = logical_cpus();
    if (m.cores == 0) m.cores = m.logical;
    engram_device_info info;
    engram_device_info_init(&info);
    if (engram_cuda_device_info(0, &info) == ENGRAM_OK) {
        m.gpu_name = info.name;
        m.gpu_sm_count = info.sm_count;
        m.gpu_cc_major = info.cc_major;
        m.gpu_cc_minor = info.cc_minor;
        m.gpu_memory = info.total_memory;
        // "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15 ..."
        const std::string v = read_line("/proc/driver/nvidia/version");
        const size_t at = v.find("Kernel Module");
        m.gpu_driver = at == std::string::npos ? v : trim(v.substr(at + 13, v.find("  ", at + 15) - at - 13));
    }
    return m;
}

}  // namespace

const MachineInfo& machine_info() {
    static const MachineInfo m = probe_machine();
    return m;
}

const BuildInfo& build_info() {
    static const BuildInfo b = [] {
        BuildInfo x;
        x.commit = engram_bench_commit();
        x.commit_utc = engram_bench_commit_utc();
        x.compiler = ENGRAM_BENCH_COMPILER;
        x.flags = trim(ENGRAM_BENCH_FLAGS);
        x.build_type = ENGRAM_BENCH_BUILD_TYPE;
        x.cuda = ENGRAM_BENCH_CUDA_VERSION;
        return x;
    }();
    return b;
}

void write_machine(Json& j, const std::string& cpu, int cpu_threads, const std::string& isa,
                   const std::string& gpu) {
    const MachineInfo& m = machine_info();
    j.begin_object("machine");
    j.field("cpu", cpu);
    j.field("cpu_threads", cpu_threads);
    j.field("isa", isa);
    if (gpu.empty()) j.null("gpu"); else j.field("gpu", gpu);
    j.field("cpu_model", m.cpu_model);
    j.field("cores", m.cores);
    j.field("logical_cpus", m.logical);
    j.begin_array("isa_flags");
    for (const std::string& f : m.isa_flags) j.field(nullptr, f);
    j.end_array();
    j.begin_object("caches");
    for (const auto& [name, bytes] : m.caches)
        if (name != "l1i") j.field(name.c_str(), bytes);
    j.end_object();
    if (m.gpu_name.empty()) {
        j.null("gpu_info");
    } else {
        j.begin_object("gpu_info");
        j.field("name", m.gpu_name);
        j.field("sm_count", m.gpu_sm_count);
        j.field("compute_capability", std::to_string(m.gpu_cc_major) + "." + std::to_string(m.gpu_cc_minor));
        j.field("memory_bytes", int64_t(m.gpu_memory));
        j.field("driver", m.gpu_driver);
        j.end_object();
    }
    j.end_object();
}

void write_build(Json& j) {
    const BuildInfo& b = build_info();
    j.begin_object("build");
    j.field("commit", b.commit);
    if (b.commit_utc.empty()) j.null("commit_utc"); else j.field("commit_utc", b.commit_utc);
    j.field("compiler", b.compiler);
    j.field("flags", b.flags);
    j.field("build_type", b.build_type);
    if (b.cuda.empty()) j.null("cuda"); else j.field("cuda", b.cuda);
    j.end_object();
}

}  // namespace engram_bench
