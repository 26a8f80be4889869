using System.Collections.Concurrent;
using Engram.Backends;
using Engram.Ilgpu;
using Engram.Native;
using Engram.Ops;

namespace Engram;

/// <summary>
/// Where ops run. A context holds the backends it may use, best first (<see cref="Backends"/>): libengram
/// contexts (a CPU worker pool, a CUDA device and stream) and ILGPU accelerators. Each op is routed to the
/// first of them that supports it, asked per op and dtype (<see cref="BackendFor"/>: libengram's
/// <c>engram_op_supported</c> for native backends, the table of ILGPU ports for ILGPU), so that
/// <see cref="EngramBackend.Auto"/> keeps working for a family that has no ILGPU or no CUDA port.
/// The first backend is opened at creation; the others when an op is first routed to them. Thread-safe as
/// libengram contexts are (calls on one backend are serialised); dispose it when done.
/// </summary>
public sealed class EngramContext : IDisposable
{
    private readonly EngramBackend[] _backends;
    private readonly int _device;
    private readonly IlgpuOpTable _ilgpuOps;
    private readonly BackendEngine?[] _engines;
    private readonly ConcurrentDictionary<(EngramOp, EngramDType), int> _routes = new();
    private readonly Lock _open = new();
    private volatile BackendEngine? _last;
    private bool _disposed;

    private EngramContext(IReadOnlyList<EngramBackend> backends, int device, IlgpuOpTable ilgpuOps)
    {
        _backends = [.. backends];
        _device = device;
        _ilgpuOps = ilgpuOps;
        _engines = new BackendEngine?[_backends.Length];
        _engines[0] = OpenEngine(backends[0]);
    }

    /// <summary>
    /// Opens a context. <see cref="EngramBackend.Auto"/> may use every available backend, best first: native
    /// CUDA, an ILGPU GPU, native CPU (<see cref="BackendSelector.AutoOrder"/>); each op then runs on the first
    /// of them that supports it. A named backend is the only one the context uses: an op it lacks fails with
    /// <see cref="EngramException"/> (<see cref="EngramStatus.Unsupported"/>). <paramref name="device"/> is the
    /// CUDA ordinal of <see cref="EngramBackend.NativeCuda"/>.
    /// </summary>
    /// <exception cref="BackendUnavailableException">A named backend (for Auto: every backend) cannot run here; the message says why.</exception>
    public static EngramContext Create(EngramBackend backend = EngramBackend.Auto, int device = 0) =>
        backend == EngramBackend.Auto
            ? Create(BackendSelector.AutoOrder, device)
            : new EngramContext([BackendSelector.Resolve(backend)], device, IlgpuOpTable.Default);

    /// <summary>
    /// Opens a context that routes each op to the first backend of <paramref name="preference"/> that is
    /// available here and supports the op (Auto with an order of your own, e.g. ILGPU GPU then native CPU).
    /// Unavailable backends are left out.
    /// </summary>
    /// <exception cref="BackendUnavailableException">None of them can run here.</exception>
    public static EngramContext Create(IEnumerable<EngramBackend> preference, int device = 0) =>
        Create(preference, device, IlgpuOpTable.Default);

    // Tests pass an ILGPU table without some op, to route a family that has no ILGPU port.
    internal static EngramContext Create(IEnumerable<EngramBackend> preference, int device, IlgpuOpTable ilgpuOps)
    {
        ArgumentNullException.ThrowIfNull(preference);
        var order = preference.Distinct().ToList();
        if (order.Count == 0 || order.Contains(EngramBackend.Auto))
            throw new ArgumentException("give one or more concrete backends (not Auto)", nameof(preference));
        var available = new List<EngramBackend>();
        var reasons = new List<string>();
        foreach (var b in order)
        {
            var probe = BackendSelector.Probe(b);
            if (probe.Available) available.Add(b);
            else reasons.Add($"{b}: {probe.Detail}");
        }
        if (available.Count == 0)
            throw new BackendUnavailableException(order.Count == 1 ? order[0] : EngramBackend.Auto, string.Join("; ", reasons));
        return new EngramContext(available, device, ilgpuOps);
    }

    /// <summary>Backends, dtypes, CPU and CUDA facts of the loaded libengram.</summary>
    public static Capabilities Capabilities => EngramLibrary.Capabilities;

    /// <summary>The first of <see cref="Backends"/>: where ops run unless they need another (never Auto).</summary>
    public EngramBackend Backend => _backends[0];

    /// <summary>The backends this context may run ops on, best first (only those available here).</summary>
    public IReadOnlyList<EngramBackend> Backends => _backends;

    /// <summary>The CPU or device name of <see cref="Backend"/>.</summary>
    public string Device => Primary.Device;

    /// <summary>True when <see cref="Backend"/> is a libengram context (NativeCpu, NativeCuda).</summary>
    public bool IsNative => Backend is EngramBackend.NativeCpu or EngramBackend.NativeCuda;

    /// <summary>
    /// The backend that runs <paramref name="op"/> on inputs of <paramref name="dtype"/> (the op's main input
    /// dtype; F32 for <see cref="EngramOp.CceShardCombine"/>): the first of <see cref="Backends"/> that
    /// supports it. The answer is cached per context.
    /// </summary>
    /// <exception cref="EngramException">No backend of this context supports it (<see cref="EngramStatus.Unsupported"/>, with each backend's reason).</exception>
    /// <exception cref="EngramArgumentException">libengram does not know the op or the dtype.</exception>
    public EngramBackend BackendFor(EngramOp op, EngramDType dtype) => _backends[Route(op, dtype)];

    /// <summary>
    /// Worker threads of the native CPU backend of this context (set 0 to restore the default: all cores).
    /// A context without one reports 0 and rejects a set.
    /// </summary>
    public int Threads
    {
        get
        {
            if (NativeEngineOf(EngramBackend.NativeCpu) is not { } cpu) return 0;
            NativeMethods.Check(NativeMethods.engram_context_get_threads(cpu.Handle, out int threads));
            return threads;
        }
        set
        {
            var cpu = NativeEngineOf(EngramBackend.NativeCpu)
                ?? throw new InvalidOperationException($"threads apply to NativeCpu; this context runs on {string.Join(", ", _backends)}");
            NativeMethods.Check(NativeMethods.engram_context_set_threads(cpu.Handle, value));
        }
    }

    /// <summary>Scratch memory allocated on the backend that ran the last op (<see cref="Backend"/> before any): current, peak since the last reset, count.</summary>
    public MemoryStats MemoryStats => LastOrPrimary.MemoryStats;

    /// <summary>Scratch memory of one backend of this context (zeros for one no op has used yet).</summary>
    public MemoryStats MemoryStatsOf(EngramBackend backend)
    {
        ThrowIfDisposed();
        int i = IndexOf(backend);
        return _engines[i]?.MemoryStats ?? default;
    }

    /// <summary>Resets the peak of <see cref="MemoryStats"/> to the current value, on every opened backend.</summary>
    public void ResetPeakMemory()
    {
        ThrowIfDisposed();
        foreach (var e in _engines) e?.ResetPeakMemory();
    }

    /// <summary>What the last op did: which op, on which backend, and its counters (for CCE: blocks visited and skipped by the gradient filter, valid tokens).</summary>
    public OpStats LastOpStats => LastOrPrimary.LastOpStats;

    /// <summary>Waits for the work queued on the native CUDA backend, if this context opened one (other backends return synchronously).</summary>
    public void Synchronize()
    {
        ThrowIfDisposed();
        if (NativeEngineOf(EngramBackend.NativeCuda, open: false) is { } cuda)
            NativeMethods.Check(NativeMethods.engram_synchronize(cuda.Handle));
    }

    /// <summary>GPU milliseconds of <paramref name="work"/> on the native CUDA backend, timed with events on its stream.</summary>
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

    /// <summary>Makes the native CUDA backend run on the caller's cudaStream_t (0 restores its own).</summary>
    public void SetCudaStream(nint stream) =>
        NativeMethods.Check(NativeMethods.engram_context_set_stream(RequireNativeCuda(nameof(SetCudaStream)), stream));

    /// <summary>Frees every native context and ILGPU accelerator it opened.</summary>
    public void Dispose()
    {
        lock (_open)
        {
            if (_disposed) return;
            _disposed = true;
        }
        foreach (var e in _engines) e?.Dispose();
    }

    /// <inheritdoc/>
    public override string ToString() =>
        _backends.Length == 1 ? $"{Backend} ({Device})" : $"{Backend} ({Device}); then {string.Join(", ", _backends.Skip(1))}";

    /// <summary>The CCE port of the backend that runs <paramref name="op"/> on <paramref name="dtype"/>; it becomes the "last op" backend.</summary>
    internal ICceBackend Cce(EngramOp op, EngramDType dtype) => EngineFor(op, dtype).Cce;

    /// <summary>The scan port of the backend that runs <paramref name="op"/> on <paramref name="dtype"/>.</summary>
    internal IScanBackend Scan(EngramOp op, EngramDType dtype) => EngineFor(op, dtype).Scan;

    /// <summary>The 2-bit weight port of the backend that runs <paramref name="op"/> on <paramref name="dtype"/>.</summary>
    internal IQMatmulBackend QMatmul(EngramOp op, EngramDType dtype) => EngineFor(op, dtype).QMatmul;

    /// <summary>
    /// The attention port of <paramref name="backend"/> (the one holding a KV cache: its ops cannot move to
    /// another backend), after checking that it runs <paramref name="op"/>; it becomes the "last op" backend.
    /// </summary>
    /// <exception cref="EngramException">It does not (<see cref="EngramStatus.Unsupported"/>, with its reason).</exception>
    internal IAttentionBackend AttentionOn(EngramBackend backend, EngramOp op, EngramDType dtype)
    {
        ThrowIfDisposed();
        int i = IndexOf(backend);
        if (WhyNotSupported(backend, op, dtype) is { } why)
            throw new EngramException(EngramStatus.Unsupported,
                $"{EngramOps.Display(op)} with {DTypes.Name(dtype)} storage: the KV cache lives on {backend}, which does not run it: {why}");
        var engine = Engine(i);
        _last = engine;
        return engine.Attention;
    }

    /// <summary>The native CUDA backend's handle (opened if needed), for device memory and device-buffer ops.</summary>
    internal EngramContextHandle RequireNativeCuda(string what)
    {
        ThrowIfDisposed();
        return NativeEngineOf(EngramBackend.NativeCuda)?.Handle
            ?? throw new InvalidOperationException(
                $"{what} needs a NativeCuda context (device memory of libengram); this context runs on {string.Join(", ", _backends)}");
    }

    /// <summary>The handle of <see cref="Backend"/> when it is native (tests of handle lifetime).</summary>
    internal EngramContextHandle? NativeHandle => (Primary as NativeEngine)?.Handle;

    private BackendEngine EngineFor(EngramOp op, EngramDType dtype)
    {
        var engine = Engine(Route(op, dtype));
        _last = engine;
        return engine;
    }

    private int Route(EngramOp op, EngramDType dtype)
    {
        ThrowIfDisposed();
        if (_routes.TryGetValue((op, dtype), out int index)) return index;
        var reasons = new List<string>();
        for (int i = 0; i < _backends.Length; i++)
        {
            string? why = WhyNotSupported(_backends[i], op, dtype);
            if (why is null)
            {
                _routes[(op, dtype)] = i;
                return i;
            }
            reasons.Add($"{_backends[i]}: {why}");
        }
        throw new EngramException(EngramStatus.Unsupported,
            $"no backend of this context runs {EngramOps.Display(op)} with {DTypes.Name(dtype)} inputs: {string.Join("; ", reasons)}");
    }

    // Asked without opening the backend: libengram answers for a backend kind, the ILGPU table is static.
    private string? WhyNotSupported(EngramBackend backend, EngramOp op, EngramDType dtype) => backend switch
    {
        EngramBackend.NativeCpu or EngramBackend.NativeCuda => NativeEngine.WhyNotSupported(backend, op, dtype),
        _ => _ilgpuOps.WhyNotSupported(op, dtype),
    };

    private BackendEngine Engine(int index)
    {
        if (_engines[index] is { } opened) return opened;
        lock (_open)
        {
            ThrowIfDisposed();
            return _engines[index] ??= OpenEngine(_backends[index]);
        }
    }

    private BackendEngine OpenEngine(EngramBackend backend) => backend switch
    {
        EngramBackend.NativeCpu or EngramBackend.NativeCuda => NativeEngine.Open(backend, _device),
        _ => IlgpuEngine.Open(backend, _ilgpuOps),
    };

    private NativeEngine? NativeEngineOf(EngramBackend backend, bool open = true)
    {
        ThrowIfDisposed();
        int i = Array.IndexOf(_backends, backend);
        if (i < 0) return null;
        return (NativeEngine?)(open ? Engine(i) : _engines[i]);
    }

    private int IndexOf(EngramBackend backend)
    {
        int i = Array.IndexOf(_backends, backend);
        return i >= 0 ? i : throw new ArgumentException($"this context does not use {backend} (it uses {string.Join(", ", _backends)})", nameof(backend));
    }

    private BackendEngine Primary
    {
        get
        {
            ThrowIfDisposed();
            return _engines[0]!;
        }
    }

    private BackendEngine LastOrPrimary
    {
        get
        {
            ThrowIfDisposed();
            return _last ?? _engines[0]!;
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);
}
