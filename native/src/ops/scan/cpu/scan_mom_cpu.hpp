// scan_mom_cpu.hpp — the CPU functions of the MoM table (scan_mom_backend.hpp),
// one file per job: scan_mom_route.cpp, scan_mom_rows.cpp, scan_mom_decode.cpp.
#pragma once

#include "core/context.hpp"
#include "ops/scan/scan_mom_problem.hpp"

namespace engram::cpu {

void mom_route(engram_context& ctx, const MomRouting& r, const MomRouteOut& out);
void mom_route_backward(engram_context& ctx, const MomRouting& r, const int32_t* indices,
                        const int32_t* slots, const float* d_weights, float* d_logits);
void mom_gather(engram_context& ctx, const MomRows& rows, const void* x,
                const int32_t* gather_index, void* packed);
void mom_gather_backward(engram_context& ctx, const MomRows& rows, const void* d_packed,
                         const int32_t* slots, void* d_x);
void mom_combine(engram_context& ctx, const MomRows& rows, const void* mem_out,
                 const int32_t* slots, const float* weights, const void* shared_out, void* y);
void mom_combine_backward(engram_context& ctx, const MomRows& rows, const void* dy,
                          const void* mem_out, const int32_t* slots, const float* weights,
                          void* d_mem_out, float* d_weights);
void mom_decode(engram_context& ctx, const MomDecode& d, float* states, void* o,
                int32_t* indices, float* weights);

}  // namespace engram::cpu
