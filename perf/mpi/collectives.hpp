// collectives.hpp — the few collective operations vocabulary-parallel CCE
// needs, over a real distributed engine (MPI here; NCCL for device buffers in
// collectives_nccl.cpp when the toolkit has it). Every reduction is done in a
// fixed rank order, so a distributed step is bit-identical run to run.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace engram_mpi {

class Collectives {
public:
    virtual ~Collectives() = default;
    virtual int rank() const = 0;
    virtual int size() const = 0;
    // Every rank's `count` floats, concatenated in rank order into `all`
    // (size() * count floats).
    virtual void allgather(const float* mine, int64_t count, float* all) = 0;
    // In place: data[i] = sum over ranks r = 0, 1, ... of rank r's data[i],
    // added in that order (a reduce-scatter of segments, each summed in rank
    // order, then an all-gather): the same bits on every run.
    virtual void sum_in_rank_order(float* data, int64_t count) = 0;
    // Every rank's `bytes` of host memory, concatenated in rank order (for the
    // collective argument check; always host memory).
    virtual void allgather_bytes(const void* mine, int64_t bytes, void* all) = 0;
    // Rank r's counts[r] bytes, concatenated in rank order into `all` (the sum
    // of counts); every rank passes the same counts (head-parallel attention:
    // ranks hold uneven numbers of heads).
    virtual void allgatherv_bytes(const void* mine, const std::vector<int64_t>& counts, void* all) = 0;
    // Bytes this rank sent so far (communication volume).
    virtual uint64_t bytes_sent() const = 0;
};

// MPI_COMM_WORLD; MPI must be initialised.
std::unique_ptr<Collectives> mpi_collectives();

}  // namespace engram_mpi
