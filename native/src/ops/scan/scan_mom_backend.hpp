// scan_mom_backend.hpp — the Mixture-of-Memories dispatch table (a table of
// its own beside ScanBackend, so the MoM ops grow without touching the linear
// scan's). Inputs arrive validated (scan_mom_api.cpp).
#pragma once

#include "core/context.hpp"
#include "ops/scan/scan_mom_problem.hpp"

namespace engram {

struct MomBackend {
    void (*route)(engram_context& ctx, const MomRouting& r, const MomRouteOut& out);
    void (*route_backward)(engram_context& ctx, const MomRouting& r, const int32_t* indices,
                           const int32_t* slots, const float* d_weights, float* d_logits);
    void (*gather)(engram_context& ctx, const MomRows& rows, const void* x,
                   const int32_t* gather_index, void* packed);
    void (*gather_backward)(engram_context& ctx, const MomRows& rows, const void* d_packed,
                            const int32_t* slots, void* d_x);
    void (*combine)(engram_context& ctx, const MomRows& rows, const void* mem_out,
                    const int32_t* slots, const float* weights, const void* shared_out, void* y);
    void (*combine_backward)(engram_context& ctx, const MomRows& rows, const void* dy,
                             const void* mem_out, const int32_t* slots, const float* weights,
                             void* d_mem_out, float* d_weights);
    void (*decode)(engram_context& ctx, const MomDecode& d, float* states, void* o,
                   int32_t* indices, float* weights);
};

const MomBackend& scan_mom_cpu_backend();

}  // namespace engram
