// qmatmul_cases.hpp — `engram-bench bench qmatmul`: the packed 2-bit weight
// product timed against the machine's limits and BLAS baselines in one process.
//
//   engram-bench bench qmatmul [--shape n=N,k=K,g=G] [--m 1,8,512] [--dtype f32|f16|bf16]
//                              [--scales f16|f32] [--reps R] [--warmup W] [--threads T]
//                              [--dram-mib MIB] [--no-baselines] [--no-probes] [--json FILE]
//
// Every engram case is first checked on the suite's reduced shape against the
// float64 reference (perf/native/suites/qmatmul_suite.hpp) and the run stops,
// with no timings, if one is wrong. Then, per bench shape and m: engram's
// product once cache-resident (one matrix, called repeatedly) and once from
// DRAM (a different matrix each call, rotating over enough distinct matrices
// to exceed the last-level cache many times), with the weight bytes read per
// second; a read-bandwidth probe in the same run; f32 (and bf16 where the
// BLAS has cblas_sbgemm) sgemv/sgemm through the run-time BLAS, likewise
// cache-resident and rotated.
#pragma once

namespace engram_bench {

// argv[first..] are the options after `bench qmatmul`. Exit status: 0 ok,
// 1 a case was wrong (nothing timed), 2 usage.
int run_qmatmul_bench(int argc, char** argv, int first);

}  // namespace engram_bench
