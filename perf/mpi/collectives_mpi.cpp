// collectives_mpi.cpp — Collectives over Open MPI (host buffers).
#include <mpi.h>

#include <stdexcept>
#include <string>

#include "collectives.hpp"

namespace engram_mpi {

namespace {

void check(int rc, const char* what) {
    if (rc != MPI_SUCCESS) throw std::runtime_error(std::string(what) + " failed");
}

// MPI counts are int: large arrays go in pieces of at most 2^30 elements.
constexpr int64_t kMaxPiece = int64_t(1) << 30;

class MpiCollectives : public Collectives {
public:
    MpiCollectives() {
        check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
        check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
    }
    int rank() const override { return rank_; }
    int size() const override { return size_; }
    uint64_t bytes_sent() const override { return sent_; }

    void allgather(const float* mine, int64_t count, float* all) override {
        allgather_bytes(mine, count * int64_t(sizeof(float)), all);
    }

    void allgather_bytes(const void* mine, int64_t bytes, void* all) override {
        if (bytes > kMaxPiece) throw std::runtime_error("allgather of more than 1 GiB per rank");
        check(MPI_Allgather(mine, int(bytes), MPI_BYTE, all, int(bytes), MPI_BYTE, MPI_COMM_WORLD),
              "MPI_Allgather");
        sent_ += uint64_t(bytes) * uint64_t(size_ - 1);
    }

    void allgatherv_bytes(const void* mine, const std::vector<int64_t>& counts, void* all) override {
        if (counts.size() != size_t(size_)) throw std::runtime_error("allgatherv: one count per rank needed");
        std::vector<int> sizes(counts.size()), offsets(counts.size());
        int64_t at = 0;
        for (size_t r = 0; r < counts.size(); ++r) {
            if (counts[r] < 0 || at + counts[r] > kMaxPiece)
                throw std::runtime_error("allgatherv of more than 1 GiB in all");
            sizes[r] = int(counts[r]);
            offsets[r] = int(at);
            at += counts[r];
        }
        check(MPI_Allgatherv(mine, sizes[size_t(rank_)], MPI_BYTE, all, sizes.data(), offsets.data(),
                             MPI_BYTE, MPI_COMM_WORLD),
              "MPI_Allgatherv");
        sent_ += uint64_t(sizes[size_t(rank_)]) * uint64_t(size_ - 1);
    }

    // Segment s of the array is summed by rank s: an all-to-all hands every
    // rank the R copies of its segment, it adds them in rank order, and an
    // all-gather returns the sums. 2 (R - 1) / R of the array crosses the
    // network per rank, as in a ring all-reduce, but the order is fixed.
    void sum_in_rank_order(float* data, int64_t count) override {
        if (size_ == 1) return;
        const int64_t seg = (count + size_ - 1) / size_;
        if (seg > kMaxPiece) throw std::runtime_error("sum of more than 2^30 floats per segment");
        std::vector<float> send(size_t(seg) * size_t(size_), 0.0f), recv(send.size());
        for (int64_t i = 0; i < count; ++i) send[size_t(i)] = data[i];
        check(MPI_Alltoall(send.data(), int(seg), MPI_FLOAT, recv.data(), int(seg), MPI_FLOAT,
                           MPI_COMM_WORLD),
              "MPI_Alltoall");
        std::vector<float> mine(size_t(seg), 0.0f);
        for (int r = 0; r < size_; ++r)
            for (int64_t i = 0; i < seg; ++i) mine[size_t(i)] += recv[size_t(r * seg + i)];
        check(MPI_Allgather(mine.data(), int(seg), MPI_FLOAT, send.data(), int(seg), MPI_FLOAT,
                            MPI_COMM_WORLD),
              "MPI_Allgather");
        for (int64_t i = 0; i < count; ++i) data[i] = send[size_t(i)];
        sent_ += 2 * uint64_t(seg) * sizeof(float) * uint64_t(size_ - 1);
    }

private:
    int rank_ = 0, size_ = 1;
    uint64_t sent_ = 0;
};

}  // namespace

std::unique_ptr<Collectives> mpi_collectives() { return std::make_unique<MpiCollectives>(); }

}  // namespace engram_mpi
