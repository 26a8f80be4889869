// registry.cpp — one line per op family.
#include "registry.hpp"

#include "attention_suite.hpp"
#include "cce_suite.hpp"
#include "qmatmul_suite.hpp"
#include "scan_suite.hpp"

namespace engram_suite {

const std::vector<const Suite*>& all_suites() {
    static const CceSuite cce;
    static const QmatmulSuite qmatmul;
    static const ScanSuite scan;
    static const AttentionSuite attention;
    static const std::vector<const Suite*> suites{&cce, &qmatmul, &scan, &attention};
    return suites;
}

const Suite* find_suite(const std::string& name) {
    for (const Suite* s : all_suites())
        if (s->family() == name || s->has_op(name)) return s;
    return nullptr;
}

}  // namespace engram_suite
