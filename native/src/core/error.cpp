// error.cpp — thread-local last-error storage and message formatting.
#include "core/error.hpp"

#include <cstdarg>
#include <cstdio>
#include <vector>

namespace engram {

namespace {
thread_local std::string t_last_error;
}

std::string format(const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    va_list copy;
    va_copy(copy, args);
    const int needed = std::vsnprintf(nullptr, 0, fmt, copy);
    va_end(copy);
    std::string out;
    if (needed > 0) {
        std::vector<char> buf(size_t(needed) + 1);
        std::vsnprintf(buf.data(), buf.size(), fmt, args);
        out.assign(buf.data(), size_t(needed));
    }
    va_end(args);
    return out;
}

void fail(engram_status status, const std::string& message) { throw Error(status, message); }

void set_last_error(const std::string& message) { t_last_error = message; }
void clear_last_error() { t_last_error.clear(); }
const char* last_error() { return t_last_error.c_str(); }

}  // namespace engram
