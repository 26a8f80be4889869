// fuzz_support.hpp — what the fuzz harness's parts share: harness assertions
// (they abort, so libFuzzer records the input as a crash and prints its path),
// exact-size buffers (ASan then sees any overrun), canaries, and a portable
// seeded random generator (inputs must replay identically).
#pragma once

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engram.h"

namespace fuzz {

// Printed with every harness failure: what the input was doing.
extern std::string g_trace;

[[noreturn]] inline void harness_fail(const char* file, int line, const char* fmt, ...) {
    std::fprintf(stderr, "\n==== engram fuzz harness: assertion failed at %s:%d\n", file, line);
    std::fprintf(stderr, "     call: %s\n     ", g_trace.c_str());
    va_list args;
    va_start(args, fmt);
    std::vfprintf(stderr, fmt, args);
    va_end(args);
    std::fprintf(stderr, "\n");
    std::abort();
}

#define FUZZ_CHECK(cond, ...)                                                  \
    do {                                                                       \
        if (!(cond)) ::fuzz::harness_fail(__FILE__, __LINE__, __VA_ARGS__);    \
    } while (0)

// A status and the last-error substrings a call must produce. Two needles for
// "<a> overlaps <b>", where either order is accepted.
struct Expect {
    engram_status status = ENGRAM_OK;
    std::vector<std::string> needles;
};

// `needle` occurs in `msg` as a whole name: "lse" is not found in "shard_lse"
// nor "grads" in "grads->grad_e", so a message about another argument fails.
inline bool names(const std::string& msg, const std::string& needle) {
    auto ident = [](char c) { return std::isalnum((unsigned char)c) || c == '_'; };
    for (size_t pos = msg.find(needle); pos != std::string::npos; pos = msg.find(needle, pos + 1)) {
        const size_t end = pos + needle.size();
        const bool left = pos == 0 || !(ident(msg[pos - 1]) || msg[pos - 1] == '>');
        const bool right = end == msg.size() || !(ident(msg[end]) || msg[end] == '-');
        if (left && right) return true;
    }
    return false;
}

inline void check_status(const char* what, engram_status got, const Expect& want) {
    const std::string msg = engram_last_error();
    FUZZ_CHECK(got == want.status, "%s returned %s, expected %s; message \"%s\"", what,
               engram_status_string(got), engram_status_string(want.status), msg.c_str());
    if (got == ENGRAM_OK) {
        FUZZ_CHECK(msg.empty(), "%s succeeded but engram_last_error() is \"%s\"", what, msg.c_str());
        return;
    }
    FUZZ_CHECK(!msg.empty(), "%s failed with an empty message", what);
    for (const std::string& n : want.needles)
        FUZZ_CHECK(names(msg, n), "%s: message \"%s\" does not name \"%s\"", what, msg.c_str(),
                   n.c_str());
}

// Heap blocks of exactly the requested size, freed with the arena. snapshot()
// records every block, so a test can prove a call wrote nothing (after a
// failure) or did not write its inputs (after a success).
class Arena {
public:
    struct Block {
        uint8_t* p;
        size_t bytes;
        bool input;  // read-only for the library
        const char* name;
        std::vector<uint8_t> snapshot;
    };
    Arena() = default;
    Arena(const Arena&) = delete;
    Arena& operator=(const Arena&) = delete;
    ~Arena() {
        for (Block& b : blocks_) std::free(b.p);
    }
    // An output: 0xFF is NaN in f32, f16 and bf16, so an entry the library
    // fails to write never passes a comparison with a finite reference.
    uint8_t* output(size_t bytes, const char* name) { return alloc(bytes, name, false, 0xFF); }
    // An input holding `bytes` of src, starting `offset` bytes into its block.
    uint8_t* input(const void* src, size_t bytes, const char* name, size_t offset = 0) {
        uint8_t* p = alloc(bytes + offset, name, true, 0);
        if (bytes) std::memcpy(p + offset, src, bytes);
        return p + offset;
    }
    uint8_t* alloc(size_t bytes, const char* name, bool input, int fill) {
        auto* p = static_cast<uint8_t*>(std::malloc(bytes));
        FUZZ_CHECK(p != nullptr, "malloc(%zu) failed", bytes);
        std::memset(p, fill, bytes);
        blocks_.push_back({p, bytes, input, name, {}});
        return p;
    }
    void snapshot() {
        for (Block& b : blocks_) b.snapshot.assign(b.p, b.p + b.bytes);
    }
    // Blocks (all, or inputs only) equal to their snapshot.
    void check_untouched(const char* why, bool inputs_only) const {
        for (const Block& b : blocks_) {
            if ((inputs_only && !b.input) || b.snapshot.size() != b.bytes) continue;
            const size_t i = size_t(std::mismatch(b.p, b.p + b.bytes, b.snapshot.begin()).first - b.p);
            FUZZ_CHECK(i == b.bytes, "%s: buffer %s (%zu bytes) was written at byte %zu", why,
                       b.name, b.bytes, i);
        }
    }

private:
    std::vector<Block> blocks_;
};

// splitmix64: tiny, portable, and identical on every platform and library.
class Rng {
public:
    explicit Rng(uint64_t seed) : s_(seed) {}
    uint64_t next() {
        uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    double uniform() { return double(next() >> 11) * 0x1p-53; }     // [0, 1)
    double sym(double a) { return (2.0 * uniform() - 1.0) * a; }     // (-a, a)
    int64_t below(int64_t n) { return int64_t(next() % uint64_t(n)); }  // [0, n)
    bool chance(double p) { return uniform() < p; }

private:
    uint64_t s_;
};

}  // namespace fuzz
