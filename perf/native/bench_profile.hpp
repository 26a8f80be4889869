// bench_profile.hpp — `engram-bench profile OP`: a plain loop over one op for
// perf, ncu and nsys. The inputs are generated and uploaded once before the
// loop, no float64 reference is computed, and for the backward phase the
// forward that produces its lse runs once before the loop, so the profile
// holds only the phase asked for (docs/profiling.md).
#pragma once

#include <cstdint>
#include <string>

namespace engram_bench {

struct ProfileSettings {
    std::string op;              // an op ("cce_forward") or a family ("cce", then --phase picks)
    std::string phase;           // forward | backward | forward_backward ("" = from the op)
    std::string backend = "cpu";
    std::string dtype = "f32";
    int64_t n = 4096, v = 32768, d = 1024;
    int iters = 20, warmup = 1, threads = 0;
    float filter_eps = 0.0f;
    uint64_t seed = 1;
};

// Exit status: 0, 1 when the library fails a call, 2 for a usage error.
int run_profile(const ProfileSettings& ps);

// `engram-bench profile OP [options]`: argv[first] is OP.
int profile_command(int argc, char** argv, int first);

// The options, for engram-bench --help.
extern const char kProfileHelp[];

}  // namespace engram_bench
