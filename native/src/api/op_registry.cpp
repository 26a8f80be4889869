// op_registry.cpp — the families of this library, and the queries over them.
#include "api/op_registry.hpp"

#include <algorithm>

namespace engram {

namespace {

// One line per op family.
const OpFamily kFamilies[] = {
    cce_ops(),
    scan_ops(),
    qmatmul_ops(),
    attention_ops(),
};

}  // namespace

const OpInfo* find_op(engram_op op) {
    for (const OpFamily& f : kFamilies)
        for (size_t i = 0; i < f.count; ++i)
            if (f.ops[i].op == op) return &f.ops[i];
    return nullptr;
}

std::vector<const OpInfo*> all_ops() {
    std::vector<const OpInfo*> ops;
    for (const OpFamily& f : kFamilies)
        for (size_t i = 0; i < f.count; ++i) ops.push_back(&f.ops[i]);
    std::sort(ops.begin(), ops.end(), [](const OpInfo* a, const OpInfo* b) { return a->op < b->op; });
    return ops;
}

}  // namespace engram
