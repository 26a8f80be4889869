// nccl_cce_main.cpp — engram-nccl-cce: vocabulary-parallel CCE on several
// GPUs, one MPI rank per GPU: the classifier shards and every collective stay
// in device memory (NCCL all-gather and all-reduce), MPI only bootstraps the
// NCCL communicator and runs the collective argument check.
//
//   mpirun -np R engram-nccl-cce [--n N --d D --v V]
//
// Each rank checks its distributed loss, lse, grad_e and grad_c shard against
// one process on its own GPU (same tolerance as engram-mpi-cce). Built only
// when CMake finds nccl.h and libnccl with the CUDA backend; perf/gpu/check.sh
// runs it when the lent machine has two or more GPUs. NCCL's all-reduce is
// deterministic for a fixed configuration, not summed in rank order.
#include <mpi.h>
#include <nccl.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "collectives.hpp"
#include "vocab_parallel.hpp"

using namespace engram_mpi;

namespace {

void nccl_check(ncclResult_t rc, const char* what) {
    if (rc != ncclSuccess) throw std::runtime_error(std::string(what) + ": " + ncclGetErrorString(rc));
}

// A device buffer of a CUDA context.
struct DeviceArray {
    engram_context* ctx;
    void* ptr = nullptr;
    size_t bytes;
    DeviceArray(engram_context* c, size_t b) : ctx(c), bytes(b) {
        check(engram_device_alloc(ctx, b, &ptr), "engram_device_alloc");
    }
    ~DeviceArray() { engram_device_free(ctx, ptr); }
    float* f() const { return static_cast<float*>(ptr); }
    void upload(const void* src) { check(engram_copy_to_device(ctx, ptr, src, bytes), "copy to device"); }
    template <class T>
    std::vector<T> download() const {
        std::vector<T> v(bytes / sizeof(T));
        check(engram_copy_to_host(ctx, v.data(), ptr, bytes), "copy to host");
        return v;
    }
};

bool close(const char* what, const std::vector<float>& got, const float* want, int rank) {
    double scale = 0.0;
    for (size_t i = 0; i < got.size(); ++i) scale = std::max(scale, std::fabs(double(want[i])));
    const double tol = 2e-5 * scale + 1e-6;
    for (size_t i = 0; i < got.size(); ++i)
        if (!(std::fabs(double(got[i]) - double(want[i])) <= tol)) {
            std::fprintf(stderr, "rank %d: %s[%zu] = %.9g, one process gives %.9g\n", rank, what, i,
                         double(got[i]), double(want[i]));
            return false;
        }
    return true;
}

int run(int64_t n, int64_t d, int64_t v) {
    auto comm = mpi_collectives();
    const int rank = comm->rank(), R = comm->size();
    engram_context* ctx = nullptr;
    check(engram_context_create(ENGRAM_BACKEND_CUDA, rank, &ctx), "engram_context_create(cuda)");
    ncclUniqueId id;
    if (rank == 0) nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
    ncclComm_t nccl;
    nccl_check(ncclCommInitRank(&nccl, R, id, rank), "ncclCommInitRank");
    void* stream = nullptr;
    check(engram_context_get_stream(ctx, &stream), "engram_context_get_stream");
    auto s = static_cast<cudaStream_t>(stream);

    std::mt19937_64 gen(1234);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> e(size_t(n * d)), c(size_t(v * d));
    for (auto& x : e) x = normal(gen);
    for (auto& x : c) x = normal(gen) * 2.0f / std::sqrt(float(d));
    std::vector<int64_t> targets(static_cast<size_t>(n));
    std::uniform_int_distribution<int64_t> pick(0, v - 1);
    for (auto& t : targets) t = pick(gen);
    const int64_t start = even_shard_start(v, R, rank), rows = even_shard_start(v, R, rank + 1) - start;

    DeviceArray de(ctx, e.size() * 4), dc(ctx, size_t(rows * d) * 4), dt(ctx, targets.size() * 8);
    de.upload(e.data());
    dc.upload(c.data() + start * d);
    dt.upload(targets.data());
    ShardCall call;
    engram_cce_inputs_init(&call.in);
    call.in.n = n;
    call.in.d = d;
    call.in.v = rows;
    call.in.vocab_start = start;
    call.in.vocab_total = v;
    call.in.e = de.ptr;
    call.in.c = dc.ptr;
    call.in.targets = dt.ptr;
    engram_cce_options_init(&call.opts);
    call.opts.filter_eps = 0.0f;
    check_agreement(*comm, call);  // host records over MPI, before any device work

    DeviceArray shard_lse(ctx, size_t(n) * 4), all_lse(ctx, size_t(n * R) * 4), tl(ctx, size_t(n) * 4),
        loss(ctx, 4), lse(ctx, size_t(n) * 4), ge(ctx, size_t(n * d) * 4), gc(ctx, size_t(rows * d) * 4);
    check(engram_cce_shard_forward(ctx, &call.in, &call.opts, shard_lse.f(), tl.f(), nullptr), "shard_forward");
    nccl_check(ncclAllGather(shard_lse.f(), all_lse.f(), size_t(n), ncclFloat, nccl, s), "ncclAllGather");
    nccl_check(ncclAllReduce(tl.f(), tl.f(), size_t(n), ncclFloat, ncclSum, nccl, s), "ncclAllReduce");
    check(engram_cce_shard_combine(ctx, n, R, v, all_lse.f(), tl.f(), nullptr, dt.ptr, ENGRAM_DTYPE_I64,
                                   &call.opts, loss.f(), lse.f()),
          "shard_combine");
    engram_cce_grads g;
    engram_cce_grads_init(&g);
    g.grad_e = ge.ptr;
    g.grad_c = gc.ptr;
    check(engram_cce_backward(ctx, &call.in, &call.opts, lse.f(), nullptr, &g), "backward");
    nccl_check(ncclAllReduce(ge.f(), ge.f(), size_t(n * d), ncclFloat, ncclSum, nccl, s), "ncclAllReduce");
    check(engram_synchronize(ctx), "synchronize");

    // One process on this rank's GPU, the whole classifier.
    DeviceArray fc(ctx, c.size() * 4), floss(ctx, 4), flse(ctx, size_t(n) * 4), fge(ctx, size_t(n * d) * 4),
        fgc(ctx, c.size() * 4);
    fc.upload(c.data());
    engram_cce_inputs full = call.in;
    full.v = v;
    full.vocab_start = 0;
    full.vocab_total = 0;
    full.c = fc.ptr;
    check(engram_cce_forward(ctx, &full, &call.opts, floss.f(), flse.f()), "forward");
    g.grad_e = fge.ptr;
    g.grad_c = fgc.ptr;
    check(engram_cce_backward(ctx, &full, &call.opts, flse.f(), nullptr, &g), "backward");
    const auto one_gc = fgc.download<float>();
    bool ok = close("loss", loss.download<float>(), floss.download<float>().data(), rank);
    ok = close("lse", lse.download<float>(), flse.download<float>().data(), rank) && ok;
    ok = close("grad_e", ge.download<float>(), fge.download<float>().data(), rank) && ok;
    ok = close("grad_c", gc.download<float>(), one_gc.data() + start * d, rank) && ok;
    int mine = ok ? 1 : 0, all = 0;
    MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (rank == 0) std::printf("NCCL vocabulary-parallel CCE on %d GPUs: %s\n", R, all ? "ok" : "MISMATCH");
    ncclCommDestroy(nccl);
    engram_context_destroy(ctx);
    return all ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    MPI_Init(&argc, &argv);
    int64_t n = 512, d = 256, v = 8191;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i];
        if (k == "--n") n = std::atoll(argv[i + 1]);
        else if (k == "--d") d = std::atoll(argv[i + 1]);
        else if (k == "--v") v = std::atoll(argv[i + 1]);
    }
    int status = 1;
    try {
        status = run(n, d, v);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "engram-nccl-cce: %s\n", e.what());
    }
    MPI_Finalize();
    return status;
}
