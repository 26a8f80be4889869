// attention_policy_json.hpp — the parser of the attention pattern file: a
// small JSON object of fixed shape (docs/attention.md, "Policies from a
// pattern"), parsed by hand so the library needs no JSON dependency:
//
//   {"layers": 2, "kv_heads": 3,
//    "scores": [[1, 0, 0.25], [0.5, 0.75, 0]]}
//
// Keys in any order, each exactly once, no other key; "layers" and
// "kv_heads" integers >= 1; "scores" an array of `layers` arrays of
// `kv_heads` finite numbers (a 0/1 pattern is scores of 0 and 1). Anything
// else fails with ENGRAM_ERR_INVALID_ARGUMENT and a message giving the line
// and column.
#pragma once

#include <cstdint>
#include <vector>

namespace engram {

// Parses text[0, bytes) for a cache of `layers` x `kv_heads` heads; returns
// the scores layer-major. Throws (engram::fail) on malformed text or a shape
// that is not the cache's.
std::vector<float> attention_parse_pattern(const char* text, int64_t bytes, int32_t layers,
                                           int32_t kv_heads);

}  // namespace engram
