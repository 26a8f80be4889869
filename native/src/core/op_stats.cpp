// op_stats.cpp — see op_stats.hpp.
#include "core/op_stats.hpp"

#include <cstring>

#include "core/error.hpp"

namespace engram {

void op_stats_begin(engram_op_stats& stats, engram_op op, engram_backend backend) {
    std::memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    stats.op = op;
    stats.backend = backend;
}

void op_stats_set(engram_op_stats& stats, const char* name, uint64_t value) {
    if (std::strlen(name) >= sizeof stats.counters[0].name)
        fail(ENGRAM_ERR_INTERNAL, format("op counter name '%s' is too long", name));
    for (int i = 0; i < stats.counter_count; ++i)
        if (std::strcmp(stats.counters[i].name, name) == 0) {
            stats.counters[i].value = value;
            return;
        }
    if (stats.counter_count >= ENGRAM_OP_COUNTERS)
        fail(ENGRAM_ERR_INTERNAL, format("op counter '%s': no free slot", name));
    engram_op_counter& c = stats.counters[stats.counter_count++];
    std::strcpy(c.name, name);
    c.value = value;
}

}  // namespace engram
