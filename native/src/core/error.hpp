// error.hpp — how engram reports failure. Internals throw engram::Error with a
// status and a message; every C ABI function runs its body through guard(),
// which turns any exception into a status plus the thread-local last-error
// message. Nothing escapes the ABI, nothing aborts, nothing prints.
#pragma once

#include <exception>
#include <string>
#include <utility>

#include "engram.h"

namespace engram {

class Error : public std::exception {
public:
    Error(engram_status status, std::string message)
        : status_(status), message_(std::move(message)) {}
    engram_status status() const noexcept { return status_; }
    const char* what() const noexcept override { return message_.c_str(); }

private:
    engram_status status_;
    std::string message_;
};

// printf-style formatting into a std::string.
std::string format(const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

[[noreturn]] void fail(engram_status status, const std::string& message);

void set_last_error(const std::string& message);
void clear_last_error();
const char* last_error();

// Runs an ABI body: ENGRAM_OK when it returns, else the status of what it threw.
template <class F>
engram_status guard(const char* function, F&& body) noexcept {
    try {
        body();
        clear_last_error();
        return ENGRAM_OK;
    } catch (const Error& e) {
        set_last_error(std::string(function) + ": " + e.what());
        return e.status();
    } catch (const std::bad_alloc&) {
        set_last_error(std::string(function) + ": out of host memory");
        return ENGRAM_ERR_OUT_OF_MEMORY;
    } catch (const std::exception& e) {
        set_last_error(std::string(function) + ": internal error: " + e.what());
        return ENGRAM_ERR_INTERNAL;
    } catch (...) {
        set_last_error(std::string(function) + ": internal error (unknown exception)");
        return ENGRAM_ERR_INTERNAL;
    }
}

}  // namespace engram
