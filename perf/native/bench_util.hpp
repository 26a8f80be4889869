// bench_util.hpp — timing, statistics, peak-RSS probing and a tiny JSON writer
// for the native benchmark driver.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "engram.h"

namespace engram_bench {

inline double now_ms() {
    using clock = std::chrono::steady_clock;
    return std::chrono::duration<double, std::milli>(clock::now().time_since_epoch()).count();
}

struct Timing {
    std::vector<double> ms;
    double median() const {
        std::vector<double> s = ms;
        std::sort(s.begin(), s.end());
        const size_t n = s.size();
        return n == 0 ? 0.0 : (n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]));
    }
    double min() const { return ms.empty() ? 0.0 : *std::min_element(ms.begin(), ms.end()); }
    double max() const { return ms.empty() ? 0.0 : *std::max_element(ms.begin(), ms.end()); }
};

// Runs fn warmup + reps times; times the last reps.
inline Timing time_reps(int warmup, int reps, const std::function<void()>& fn) {
    for (int i = 0; i < warmup; ++i) fn();
    Timing t;
    for (int i = 0; i < reps; ++i) {
        const double t0 = now_ms();
        fn();
        t.ms.push_back(now_ms() - t0);
    }
    return t;
}

// Peak resident memory of this process: reset the high-water mark (Linux
// /proc/self/clear_refs "5"), then read VmHWM. Returns false where unsupported.
inline bool reset_peak_rss() {
    std::ofstream f("/proc/self/clear_refs");
    if (!f) return false;
    f << "5";
    return bool(f);
}

inline int64_t read_kb(const char* key) {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind(key, 0) == 0) return std::stoll(line.substr(std::string(key).size()));
    return -1;
}

inline int64_t peak_rss_bytes() { return read_kb("VmHWM:") * 1024; }
inline int64_t rss_bytes() { return read_kb("VmRSS:") * 1024; }

// Minimal JSON emitter: objects and arrays with commas handled.
class Json {
public:
    Json& begin_object(const char* key = nullptr) { return open(key, '{'); }
    Json& end_object() { return close('}'); }
    Json& begin_array(const char* key = nullptr) { return open(key, '['); }
    Json& end_array() { return close(']'); }
    Json& field(const char* key, const std::string& v) { return raw(key, quote(v)); }
    Json& field(const char* key, const char* v) { return raw(key, v ? quote(v) : "null"); }
    Json& field(const char* key, double v) {
        std::ostringstream s;
        s.precision(9);
        if (v != v || v == 1.0 / 0.0 || v == -1.0 / 0.0) s << "null"; else s << v;
        return raw(key, s.str());
    }
    Json& field(const char* key, int64_t v) { return raw(key, std::to_string(v)); }
    Json& field(const char* key, int v) { return raw(key, std::to_string(v)); }
    Json& field(const char* key, bool v) { return raw(key, v ? "true" : "false"); }
    Json& null(const char* key) { return raw(key, "null"); }
    std::string str() const { return out_.str(); }

private:
    static std::string quote(const std::string& s) {
        std::string q = "\"";
        for (char c : s) {
            if (c == '"' || c == '\\') q += '\\';
            if (c == '\n') { q += "\\n"; continue; }
            q += c;
        }
        return q + "\"";
    }
    void comma() {
        if (!first_.empty()) {
            if (!first_.back()) out_ << ",";
            first_.back() = false;
        }
    }
    Json& raw(const char* key, const std::string& v) {
        comma();
        if (key) out_ << quote(key) << ":";
        out_ << v;
        return *this;
    }
    Json& open(const char* key, char c) {
        comma();
        if (key) out_ << quote(key) << ":";
        out_ << c;
        first_.push_back(true);
        return *this;
    }
    Json& close(char c) {
        out_ << c;
        first_.pop_back();
        return *this;
    }
    std::ostringstream out_;
    std::vector<bool> first_;
};

// Fraction of logit blocks the CCE gradient filter skipped (op stats
// counters "blocks_skipped" / "blocks_total"), 0 when none were visited.
inline double filter_skipped_fraction(const engram_op_stats& st) {
    uint64_t total = 0, skipped = 0;
    engram_op_stats_counter(&st, "blocks_total", &total);
    engram_op_stats_counter(&st, "blocks_skipped", &skipped);
    return total ? double(skipped) / double(total) : 0.0;
}

}  // namespace engram_bench
