// attention_dsparse_cpu.hpp — the CPU Double Sparsity ops (see the .cpp).
#pragma once

#include "core/context.hpp"
#include "ops/attention/attention_dsparse.hpp"

namespace engram::cpu {

void attention_dsparse_calibrate(engram_context& ctx, const AttentionCalibrateProblem& p);
void attention_dsparse_decode(engram_context& ctx, const AttentionDsparseProblem& p);

}  // namespace engram::cpu
