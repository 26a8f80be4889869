// bench_machine.hpp — what engram-bench records about the machine and the
// build in its JSON (docs/bench-json.md, engram-bench/3), so that a reader
// can tell whether two runs' absolute times compare and which commit made
// them (`engram compare`, `engram history`).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bench_util.hpp"

namespace engram_bench {

struct MachineInfo {
    std::string cpu_model;  // /proc/cpuinfo "model name" (the full name)
    int cores = 0;          // physical cores (distinct physical id / core id pairs)
    int logical = 0;        // logical CPUs this process may run on
    std::vector<std::string> isa_flags;  // the vector ISA extensions of interest the CPU reports
    // ("l1d", bytes), ("l1i", ...), ("l2", ...), ("l3", ...) of CPU 0.
    std::vector<std::pair<std::string, int64_t>> caches;
    std::string gpu_name, gpu_driver;  // empty without a GPU
    int gpu_sm_count = 0;
    int gpu_cc_major = 0, gpu_cc_minor = 0;
    uint64_t gpu_memory = 0;
};

// Read once per process (Linux /proc and /sys; fields stay empty elsewhere).
const MachineInfo& machine_info();

struct BuildInfo {
    std::string commit, commit_utc;  // "abc1234" (+"-dirty"), ISO 8601; "unknown" outside git
    std::string compiler, flags, build_type, cuda;
};

const BuildInfo& build_info();

// The "machine" object: cpu (the library's CPU name, what old files have),
// cpu_threads, isa, gpu (as before), then cpu_model, cores, isa_flags,
// caches, gpu_info.
void write_machine(Json& j, const std::string& cpu, int cpu_threads, const std::string& isa,
                   const std::string& gpu);
// The "build" object.
void write_build(Json& j);

}  // namespace engram_bench
