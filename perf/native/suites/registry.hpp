// registry.hpp — every op family's case suite, in one list (registry.cpp).
#pragma once

#include <string>
#include <vector>

#include "suite.hpp"

namespace engram_suite {

// The suites, one per family, in a fixed order.
const std::vector<const Suite*>& all_suites();
// The suite of a family name ("cce") or of one of its ops ("cce_forward");
// nullptr if none.
const Suite* find_suite(const std::string& family_or_op);

}  // namespace engram_suite
