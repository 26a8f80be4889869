// struct_layout.hpp — the size and field offsets of every ABI struct, so that
// bindings can test their layout (engram_struct_layout). Each op family lists
// its own structs (ops/<family>/<family>_layout.cpp) and registers the list in
// struct_layout.cpp.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engram.h"

namespace engram {

struct LayoutField {
    const char* struct_name;
    const char* field;  // nullptr: the struct's size
    uint64_t value;
};

struct LayoutTable {
    const LayoutField* fields;
    size_t count;
};

#define ENGRAM_LAYOUT_SIZE(S) ::engram::LayoutField{#S, nullptr, sizeof(S)}
#define ENGRAM_LAYOUT_FIELD(S, F) ::engram::LayoutField{#S, #F, offsetof(S, F)}

LayoutTable cce_layout();
LayoutTable scan_layout();
LayoutTable qmatmul_layout();
LayoutTable attention_layout();

}  // namespace engram
