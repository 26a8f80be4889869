// device.cpp — the CUDA backend's device management: devices, contexts and
// their streams, caller-owned device memory (with a registry of the ranges
// engram allocated), copies, events and the pointer checks the API layer runs
// before an op touches memory.
//
// Nothing here runs at load time: the CUDA runtime is linked statically and
// first called when someone asks about devices or creates a CUDA context, so a
// CUDA build loads and serves the CPU backend on a machine with no driver.
#include <cuda_runtime_api.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "cuda/cuda_backend.hpp"
#include "cuda/cuda_state.hpp"

namespace engram::cuda {

namespace {

std::atomic<bool> g_runtime_active{false};

// Device memory handed out by engram_device_alloc, keyed by base address, so
// a buffer that is too small for an op is reported instead of overrun.
struct Allocation {
    uint64_t bytes;
    int device;
    const engram_context* owner;
};

struct Registry {
    std::mutex mutex;
    std::map<uintptr_t, Allocation> ranges;
};

Registry& registry() {
    static Registry r;  // constructed on first use, never at load time
    return r;
}

// Bytes available from p to the end of the engram allocation holding it;
// false when p is not inside one.
bool registry_remaining(const void* p, uint64_t* remaining) {
    const auto addr = reinterpret_cast<uintptr_t>(p);
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    auto it = r.ranges.upper_bound(addr);
    if (it == r.ranges.begin()) return false;
    --it;
    if (addr >= it->first + it->second.bytes) return false;
    *remaining = it->first + it->second.bytes - addr;
    return true;
}

// cuMemGetAddressRange from the driver, reached through the runtime so that
// libengram does not link libcuda (CUresult and CUdeviceptr spelled out).
using GetAddressRangeFn = int (*)(unsigned long long* base, size_t* size, unsigned long long ptr);

GetAddressRangeFn address_range_fn() {
    static const GetAddressRangeFn fn = [] {
        void* p = nullptr;
#if CUDART_VERSION >= 12050
        cudaDriverEntryPointQueryResult found{};
        if (cudaGetDriverEntryPointByVersion("cuMemGetAddressRange", &p, 12000, cudaEnableDefault,
                                             &found) != cudaSuccess ||
            found != cudaDriverEntryPointSuccess)
            p = nullptr;
#elif CUDART_VERSION >= 12000
        cudaDriverEntryPointQueryResult found{};
        if (cudaGetDriverEntryPoint("cuMemGetAddressRange", &p, cudaEnableDefault, &found) !=
                cudaSuccess ||
            found != cudaDriverEntryPointSuccess)
            p = nullptr;
#else
        if (cudaGetDriverEntryPoint("cuMemGetAddressRange", &p, cudaEnableDefault) != cudaSuccess)
            p = nullptr;
#endif
        cudaGetLastError();
        return reinterpret_cast<GetAddressRangeFn>(p);
    }();
    return fn;
}

// Bytes from p to the end of the driver allocation holding it (memory that
// the caller allocated with cudaMalloc, a framework's allocator, ...).
bool driver_remaining(const void* p, uint64_t* remaining) {
    const GetAddressRangeFn fn = address_range_fn();
    if (!fn) return false;
    unsigned long long base = 0;
    size_t size = 0;
    const auto addr = reinterpret_cast<unsigned long long>(p);
    if (fn(&base, &size, addr) != 0 || addr < base || addr >= base + size) return false;
    *remaining = base + size - addr;
    return true;
}

std::string unavailable_reason(cudaError_t err) {
    switch (err) {
        case cudaErrorNoDevice: return "no CUDA device";
        case cudaErrorInsufficientDriver:
            return format("no CUDA driver, or one older than the CUDA %d.%d runtime in libengram",
                          CUDART_VERSION / 1000, (CUDART_VERSION % 1000) / 10);
        default:
            return format("CUDA is unavailable: %s (%s)", cudaGetErrorString(err),
                          cudaGetErrorName(err));
    }
}

// Count and reason, failing with ENGRAM_ERR_NO_DEVICE when there is none and
// ENGRAM_ERR_OUT_OF_RANGE for a bad ordinal.
void require_device(int device) {
    std::string why;
    const int count = device_count(&why);
    if (count == 0) fail(ENGRAM_ERR_NO_DEVICE, format("backend CUDA: %s", why.c_str()));
    if (device < 0 || device >= count)
        fail(ENGRAM_ERR_OUT_OF_RANGE,
             format("device %d is out of range: this machine has %d CUDA device(s)", device,
                    count));
}

int device_attribute(cudaDeviceAttr attr, int device, const char* what) {
    int value = 0;
    check_cuda(cudaDeviceGetAttribute(&value, attr, device), what);
    return value;
}

// Op scratch comes from the device's default memory pool (cudaMallocAsync).
// At its default release threshold of 0 the pool returns its free memory to
// the driver at every synchronisation (each backward ends with one), so every
// op would map its scratch, the fp32 gradient accumulators included, afresh.
// UINT64_MAX keeps freed blocks for reuse (cudaMemPoolTrimTo gives them back).
// The pool is the whole process's: a threshold someone else already set is
// left alone. Once per device; on failure the context is not created.
void keep_pool_memory(int device) {
    static std::mutex mutex;
    static std::set<int> done;
    std::lock_guard<std::mutex> lock(mutex);
    if (done.count(device)) return;
    cudaMemPool_t pool = nullptr;
    check_cuda(cudaDeviceGetDefaultMemPool(&pool, device), "cudaDeviceGetDefaultMemPool");
    uint64_t threshold = 0;
    check_cuda(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold),
               "cudaMemPoolGetAttribute(release threshold)");
    if (threshold == 0) {
        threshold = UINT64_MAX;
        check_cuda(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold),
                   "cudaMemPoolSetAttribute(release threshold)");
    }
    done.insert(device);
}

}  // namespace

/* --- internals shared with cce_cuda.cpp (cuda_state.hpp) ----------------- */

void raise_cuda(cudaError_t err, const char* what) {
    cudaGetLastError();  // clear a non-sticky error so the next call starts clean
    engram_status status = ENGRAM_ERR_DEVICE;
    if (err == cudaErrorMemoryAllocation) status = ENGRAM_ERR_OUT_OF_MEMORY;
    if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver)
        status = ENGRAM_ERR_NO_DEVICE;
    fail(status, format("%s failed: %s (%s)", what, cudaGetErrorString(err), cudaGetErrorName(err)));
}

DeviceGuard::DeviceGuard(int device) : device_(device) {
    check_cuda(cudaGetDevice(&previous_), "cudaGetDevice");
    if (previous_ != device) check_cuda(cudaSetDevice(device), "cudaSetDevice");
}

DeviceGuard::~DeviceGuard() {
    if (previous_ >= 0 && previous_ != device_) cudaSetDevice(previous_);
}

DeviceState& state(engram_context& ctx) {
    if (!ctx.cuda) fail(ENGRAM_ERR_INTERNAL, "CUDA context has no device state");
    return *ctx.cuda;
}

void* DeviceMemory::allocate(engram_context& ctx, uint64_t bytes) {
    DeviceState& st = state(ctx);
    void* p = nullptr;
    const cudaError_t err = st.mem_pools ? cudaMallocAsync(&p, size_t(bytes), st.stream)
                                         : cudaMalloc(&p, size_t(bytes));
    if (err != cudaSuccess) {
        const std::string what =
            format("allocating %llu bytes of device scratch", (unsigned long long)bytes);
        raise_cuda(err, what.c_str());
    }
    return p;
}

void DeviceMemory::release(engram_context& ctx, void* ptr) noexcept {
    DeviceState& st = *ctx.cuda;
    if (st.mem_pools)
        cudaFreeAsync(ptr, st.stream);
    else
        cudaFree(ptr);
    cudaGetLastError();  // nothing to report from a destructor
}

/* --- cuda_backend.hpp ---------------------------------------------------- */

bool built() { return true; }

int device_count(std::string* why) {
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        cudaGetLastError();
        if (why) *why = unavailable_reason(err);
        return 0;
    }
    if (count == 0 && why) *why = "no CUDA device";
    return count;
}

void device_info(int device, engram_device_info* info) {
    require_device(device);
    cudaDeviceProp prop{};
    check_cuda(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
    DeviceGuard guard(device);
    size_t free_bytes = 0, total_bytes = 0;
    check_cuda(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
    info->device = device;
    info->sm_count = prop.multiProcessorCount;
    info->cc_major = prop.major;
    info->cc_minor = prop.minor;
    info->total_memory = prop.totalGlobalMem;
    info->free_memory = free_bytes;
    std::snprintf(info->name, sizeof info->name, "%s", prop.name);
}

bool runtime_active() { return g_runtime_active.load(std::memory_order_relaxed); }

void context_init(engram_context& ctx, int device) {
    require_device(device);
    DeviceGuard guard(device);
    const int major = device_attribute(cudaDevAttrComputeCapabilityMajor, device,
                                       "cudaDeviceGetAttribute(compute capability)");
    const int minor = device_attribute(cudaDevAttrComputeCapabilityMinor, device,
                                       "cudaDeviceGetAttribute(compute capability)");
    // The kernels are built for sm_80 and sm_90 (+ PTX): older chips have no
    // image to run, and no cp.async or bf16 tensor cores.
    if (major < 8)
        fail(ENGRAM_ERR_UNSUPPORTED,
             format("CUDA device %d has compute capability %d.%d; libengram's kernels need 8.0 "
                    "or newer",
                    device, major, minor));
    auto st = std::make_unique<DeviceState>();
    st->device = device;
    st->sm_count = device_attribute(cudaDevAttrMultiProcessorCount, device,
                                    "cudaDeviceGetAttribute(multiprocessors)");
    st->max_smem_optin = device_attribute(cudaDevAttrMaxSharedMemoryPerBlockOptin, device,
                                          "cudaDeviceGetAttribute(shared memory)");
    st->mem_pools = device_attribute(cudaDevAttrMemoryPoolsSupported, device,
                                     "cudaDeviceGetAttribute(memory pools)") != 0;
    if (st->mem_pools) keep_pool_memory(device);
    // Non-blocking: the context's work must not serialise with the legacy
    // default stream that the host application may be using.
    check_cuda(cudaStreamCreateWithFlags(&st->own_stream, cudaStreamNonBlocking),
               "cudaStreamCreateWithFlags");
    st->stream = st->own_stream;
    ctx.cuda = st.release();
    g_runtime_active.store(true, std::memory_order_relaxed);
}

void context_release(engram_context& ctx) noexcept {
    DeviceState* st = ctx.cuda;
    if (!st) return;
    int previous = -1;
    const bool switched = cudaGetDevice(&previous) == cudaSuccess && previous != st->device &&
                          cudaSetDevice(st->device) == cudaSuccess;
    // Allocations the caller did not free belong to this context: release them
    // rather than leak device memory.
    {
        Registry& r = registry();
        std::lock_guard<std::mutex> lock(r.mutex);
        for (auto it = r.ranges.begin(); it != r.ranges.end();) {
            if (it->second.owner == &ctx) {
                cudaFree(reinterpret_cast<void*>(it->first));
                it = r.ranges.erase(it);
            } else {
                ++it;
            }
        }
    }
    cudaStreamDestroy(st->own_stream);
    cudaGetLastError();
    if (switched) cudaSetDevice(previous);
    delete st;
    ctx.cuda = nullptr;
}

void set_stream(engram_context& ctx, void* stream) {
    DeviceState& st = state(ctx);
    st.stream = stream ? static_cast<cudaStream_t>(stream) : st.own_stream;
}

void* get_stream(engram_context& ctx) { return state(ctx).stream; }

void* alloc(engram_context& ctx, uint64_t bytes) {
    DeviceState& st = state(ctx);
    DeviceGuard guard(st.device);
    void* p = nullptr;
    const cudaError_t err = cudaMalloc(&p, size_t(bytes));
    if (err != cudaSuccess) {
        const std::string what = format("cudaMalloc of %llu bytes on device %d",
                                        (unsigned long long)bytes, st.device);
        raise_cuda(err, what.c_str());
    }
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    r.ranges[reinterpret_cast<uintptr_t>(p)] = Allocation{bytes, st.device, &ctx};
    return p;
}

void free(engram_context& ctx, void* ptr) {
    DeviceState& st = state(ctx);
    {
        Registry& r = registry();
        std::lock_guard<std::mutex> lock(r.mutex);
        auto it = r.ranges.find(reinterpret_cast<uintptr_t>(ptr));
        if (it == r.ranges.end())
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("ptr (%p) was not returned by engram_device_alloc, or was already freed",
                        ptr));
        if (it->second.device != st.device)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("ptr (%p) was allocated on CUDA device %d; ctx uses device %d", ptr,
                        it->second.device, st.device));
    }
    DeviceGuard guard(st.device);
    check_cuda(cudaFree(ptr), "cudaFree");
    // Forget the range only once it is really freed, so a failed free can be retried.
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    r.ranges.erase(reinterpret_cast<uintptr_t>(ptr));
}

void copy_to_device(engram_context& ctx, void* dst, const void* src, uint64_t bytes) {
    DeviceState& st = state(ctx);
    DeviceGuard guard(st.device);
    // cudaMemcpyDefault: the direction follows from the pointers (unified
    // addressing), so pinned or managed sources work too.
    check_cuda(cudaMemcpyAsync(dst, src, size_t(bytes), cudaMemcpyDefault, st.stream),
               "cudaMemcpyAsync (to device)");
    check_cuda(cudaStreamSynchronize(st.stream), "cudaStreamSynchronize");
}

void copy_to_host(engram_context& ctx, void* dst, const void* src, uint64_t bytes) {
    DeviceState& st = state(ctx);
    DeviceGuard guard(st.device);
    check_cuda(cudaMemcpyAsync(dst, src, size_t(bytes), cudaMemcpyDefault, st.stream),
               "cudaMemcpyAsync (to host)");
    check_cuda(cudaStreamSynchronize(st.stream), "cudaStreamSynchronize");
}

void memset(engram_context& ctx, void* dst, int value, uint64_t bytes) {
    DeviceState& st = state(ctx);
    DeviceGuard guard(st.device);
    check_cuda(cudaMemsetAsync(dst, value, size_t(bytes), st.stream), "cudaMemsetAsync");
}

void synchronize(engram_context& ctx) {
    DeviceState& st = state(ctx);
    DeviceGuard guard(st.device);
    check_cuda(cudaStreamSynchronize(st.stream), "cudaStreamSynchronize");
}

struct Event {
    cudaEvent_t event = nullptr;
    int device = 0;
};

Event* event_create(engram_context& ctx) {
    DeviceState& st = state(ctx);
    DeviceGuard guard(st.device);
    auto ev = std::make_unique<Event>();
    ev->device = st.device;
    check_cuda(cudaEventCreate(&ev->event), "cudaEventCreate");
    return ev.release();
}

void event_destroy(Event* event) noexcept {
    if (!event) return;
    cudaEventDestroy(event->event);
    cudaGetLastError();
    delete event;
}

void event_record(engram_context& ctx, Event* event) {
    DeviceState& st = state(ctx);
    if (event->device != st.device)
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("event belongs to CUDA device %d; ctx uses device %d", event->device,
                    st.device));
    DeviceGuard guard(st.device);
    check_cuda(cudaEventRecord(event->event, st.stream), "cudaEventRecord");
}

float event_elapsed_ms(Event* start, Event* end) {
    DeviceGuard guard(end->device);
    check_cuda(cudaEventSynchronize(end->event), "cudaEventSynchronize");
    float ms = 0.0f;
    check_cuda(cudaEventElapsedTime(&ms, start->event, end->event),
               "cudaEventElapsedTime (were both events recorded?)");
    return ms;
}

void check_device_buffer(engram_context& ctx, const void* ptr, uint64_t bytes, const char* name) {
    DeviceState& st = state(ctx);
    DeviceGuard guard(st.device);
    cudaPointerAttributes attr{};
    if (cudaPointerGetAttributes(&attr, ptr) != cudaSuccess) {
        cudaGetLastError();
        attr.type = cudaMemoryTypeUnregistered;
    }
    if (attr.type != cudaMemoryTypeDevice && attr.type != cudaMemoryTypeManaged)
        fail(ENGRAM_ERR_WRONG_BACKEND,
             format("%s is a host pointer; ctx is a CUDA context", name));
    if (attr.type == cudaMemoryTypeDevice && attr.device != st.device)
        fail(ENGRAM_ERR_WRONG_BACKEND,
             format("%s is memory of CUDA device %d; ctx uses device %d", name, attr.device,
                    st.device));
    uint64_t remaining = 0;
    if (registry_remaining(ptr, &remaining) || driver_remaining(ptr, &remaining)) {
        if (bytes > remaining)
            fail(ENGRAM_ERR_INVALID_ARGUMENT,
                 format("%s needs %llu bytes but its allocation has %llu from that address", name,
                        (unsigned long long)bytes, (unsigned long long)remaining));
    }
}

void check_host_buffer(const void* ptr, const char* name) {
    if (!runtime_active() || !ptr) return;
    cudaPointerAttributes attr{};
    if (cudaPointerGetAttributes(&attr, ptr) != cudaSuccess) {
        cudaGetLastError();
        return;
    }
    if (attr.type == cudaMemoryTypeDevice)
        fail(ENGRAM_ERR_WRONG_BACKEND,
             format("%s is CUDA device memory; ctx is a CPU context", name));
}

}  // namespace engram::cuda
