using Engram.Backends;
using Engram.Ilgpu;
using Engram.Native;
using Engram.Ops;

namespace Engram;

/// <summary>
/// Where ops run: a libengram context (CPU worker pool, or a CUDA device and stream) or an ILGPU
/// accelerator. Create one with <see cref="Create"/>; pass it to <see cref="Ops.Cce"/>. Thread-safe
/// as libengram contexts are (calls on one context are serialised); dispose it when done.
/// </summary>
public sealed class EngramContext : IDisposable
{
    private readonly EngramContextHandle? _native;
    private readonly ICceBackend _cce;
    private bool _disposed;

    private EngramContext(EngramBackend backend, EngramContextHandle? native, ICceBackend cce, string device)
    {
        Backend = backend;
        _native = native;
        _cce = cce;
        Device = device;
    }

    /// <summary>
    /// Opens a context. <see cref="EngramBackend.Auto"/> picks native CUDA → ILGPU GPU → native CPU;
    /// <paramref name="device"/> is the CUDA ordinal for <see cref="EngramBackend.NativeCuda"/>.
    /// </summary>
    /// <exception cref="BackendUnavailableException">A named backend cannot run here; the message says why.</exception>
    public static EngramContext Create(EngramBackend backend = EngramBackend.Auto, int device = 0)
    {
        var resolved = BackendSelector.Resolve(backend);
        switch (resolved)
        {
            case EngramBackend.NativeCpu:
            case EngramBackend.NativeCuda:
            {
                bool cuda = resolved == EngramBackend.NativeCuda;
                NativeMethods.Check(NativeMethods.engram_context_create(
                    cuda ? NativeBackendKind.Cuda : NativeBackendKind.Cpu, device, out var handle));
                string name = cuda ? EngramLibrary.CudaDevice(device).Name : EngramLibrary.Capabilities.CpuName;
                return new EngramContext(resolved, handle, new NativeCceBackend(handle, cuda), name);
            }
            case EngramBackend.IlgpuGpu:
            {
                var (context, accelerator) = IlgpuAccelerators.OpenGpu()
                    ?? throw new BackendUnavailableException(resolved, IlgpuAccelerators.GpuUnavailableReason() ?? "no device");
                return new EngramContext(resolved, null, new IlgpuCceBackend(context, accelerator), accelerator.Name);
            }
            default:
            {
                var (context, accelerator) = IlgpuAccelerators.OpenCpu();
                return new EngramContext(resolved, null, new IlgpuCceBackend(context, accelerator), accelerator.Name);
            }
        }
    }

    /// <summary>Backends, dtypes, CPU and CUDA facts of the loaded libengram.</summary>
    public static Capabilities Capabilities => EngramLibrary.Capabilities;

    /// <summary>The backend this context runs on (never Auto).</summary>
    public EngramBackend Backend { get; }

    /// <summary>The CPU or device name it runs on.</summary>
    public string Device { get; }

    /// <summary>True for libengram contexts (NativeCpu, NativeCuda).</summary>
    public bool IsNative => _native is not null;

    /// <summary>
    /// Worker threads of a native CPU context (set 0 to restore the default: all cores). Other backends
    /// report 0 and reject a set.
    /// </summary>
    public int Threads
    {
        get
        {
            if (Backend != EngramBackend.NativeCpu) return 0;
            NativeMethods.Check(NativeMethods.engram_context_get_threads(Handle, out int threads));
            return threads;
        }
        set
        {
            if (Backend != EngramBackend.NativeCpu)
                throw new InvalidOperationException($"threads apply to NativeCpu contexts; this one runs on {Backend}");
            NativeMethods.Check(NativeMethods.engram_context_set_threads(Handle, value));
        }
    }

    /// <summary>Scratch memory ops allocated on this context (current, peak since the last reset, count).</summary>
    public MemoryStats MemoryStats
    {
        get
        {
            ThrowIfDisposed();
            return _cce.MemoryStats;
        }
    }

    /// <summary>Resets <see cref="MemoryStats"/>' peak to the current value.</summary>
    public void ResetPeakMemory()
    {
        ThrowIfDisposed();
        _cce.ResetPeakMemory();
    }

    /// <summary>What the last op did: logit blocks visited and skipped by the gradient filter, valid tokens.</summary>
    public OpStats LastOpStats
    {
        get
        {
            ThrowIfDisposed();
            return _cce.LastOpStats;
        }
    }

    /// <summary>Waits for the work queued on a native CUDA context (a no-op elsewhere: other backends return synchronously).</summary>
    public void Synchronize()
    {
        if (Backend == EngramBackend.NativeCuda) NativeMethods.Check(NativeMethods.engram_synchronize(Handle));
    }

    /// <summary>GPU milliseconds of <paramref name="work"/> on a native CUDA context, timed with events on its stream.</summary>
    public float ElapsedMs(Action work)
    {
        ArgumentNullException.ThrowIfNull(work);
        var handle = RequireNativeCuda(nameof(ElapsedMs));
        using var start = EngramEventHandle.Create(handle);
        using var end = EngramEventHandle.Create(handle);
        NativeMethods.Check(NativeMethods.engram_event_record(handle, start));
        work();
        NativeMethods.Check(NativeMethods.engram_event_record(handle, end));
        NativeMethods.Check(NativeMethods.engram_event_elapsed_ms(start, end, out float ms));
        return ms;
    }

    /// <summary>Makes a native CUDA context run on the caller's cudaStream_t (0 restores its own).</summary>
    public void SetCudaStream(nint stream) =>
        NativeMethods.Check(NativeMethods.engram_context_set_stream(RequireNativeCuda(nameof(SetCudaStream)), stream));

    /// <summary>Frees the native context or the ILGPU accelerator.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _cce.Dispose();
        _native?.Dispose();
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Backend} ({Device})";

    internal ICceBackend Cce
    {
        get
        {
            ThrowIfDisposed();
            return _cce;
        }
    }

    internal EngramContextHandle? NativeHandle => _native;

    internal EngramContextHandle RequireNativeCuda(string what)
    {
        ThrowIfDisposed();
        if (Backend != EngramBackend.NativeCuda || _native is null)
            throw new InvalidOperationException(
                $"{what} needs a NativeCuda context (device memory of libengram); this context runs on {Backend}");
        return _native;
    }

    private EngramContextHandle Handle
    {
        get
        {
            ThrowIfDisposed();
            return _native!;
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);
}
