using Engram.Native;
using Engram.Ops;

namespace Engram.Backends;

/// <summary>A libengram context (CPU worker pool, or a CUDA device and stream) and its op-family ports.</summary>
internal sealed unsafe class NativeEngine : BackendEngine
{
    private readonly Lazy<NativeCceBackend> _cce;
    private readonly Lazy<NativeScanBackend> _scan;
    private readonly Lazy<NativeAttentionBackend> _attention;
    private readonly Lazy<NativeQMatmulBackend> _qmatmul;

    private NativeEngine(EngramBackend kind, EngramContextHandle handle, string device) : base(kind)
    {
        Handle = handle;
        Device = device;
        _cce = new(() => new NativeCceBackend(handle, IsCuda));
        _scan = new(() => new NativeScanBackend(handle, IsCuda));
        _attention = new(() => new NativeAttentionBackend(handle));
        _qmatmul = new(() => new NativeQMatmulBackend(handle, IsCuda));
    }

    /// <summary>Creates the native context: CPU, or CUDA device <paramref name="device"/>.</summary>
    public static NativeEngine Open(EngramBackend kind, int device)
    {
        bool cuda = kind == EngramBackend.NativeCuda;
        NativeMethods.Check(NativeMethods.engram_context_create(NativeKind(kind), device, out var handle));
        try
        {
            string name = cuda ? EngramLibrary.CudaDevice(device).Name : EngramLibrary.Capabilities.CpuName;
            return new NativeEngine(kind, handle, name);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public EngramContextHandle Handle { get; }

    public bool IsCuda => Kind == EngramBackend.NativeCuda;

    public override string Device { get; }

    public override string? WhyNotSupported(EngramOp op, EngramDType dtype) => WhyNotSupported(Kind, op, dtype);

    /// <summary>engram_op_supported: null when supported, else libengram's reason.</summary>
    public static string? WhyNotSupported(EngramBackend kind, EngramOp op, EngramDType dtype)
    {
        var status = NativeMethods.engram_op_supported(NativeKind(kind), (int)op, dtype);
        if (status == EngramStatus.Ok) return null;
        string reason = NativeMethods.LastError();
        if (status == EngramStatus.InvalidArgument) throw EngramErrors.For(status, reason);
        return reason;
    }

    public override MemoryStats MemoryStats
    {
        get
        {
            EngramMemoryStats st;
            NativeMethods.Check(NativeMethods.engram_memory_stats_init(&st));
            NativeMethods.Check(NativeMethods.engram_context_get_memory_stats(Handle, &st));
            return new MemoryStats(st.current_bytes, st.peak_bytes, st.allocations);
        }
    }

    public override OpStats LastOpStats
    {
        get
        {
            EngramOpStats st;
            NativeMethods.Check(NativeMethods.engram_op_stats_init(&st));
            NativeMethods.Check(NativeMethods.engram_context_get_op_stats(Handle, &st));
            return OpStats.From((EngramOp)st.op, Kind, st.Counters());
        }
    }

    public override void ResetPeakMemory() => NativeMethods.Check(NativeMethods.engram_context_reset_peak_memory(Handle));

    public override ICceBackend Cce => _cce.Value;

    public override IScanBackend Scan => _scan.Value;

    public override IAttentionBackend Attention => _attention.Value;

    public override IQMatmulBackend QMatmul => _qmatmul.Value;

    public override void Dispose() => Handle.Dispose();

    private static NativeBackendKind NativeKind(EngramBackend kind) => kind switch
    {
        EngramBackend.NativeCpu => NativeBackendKind.Cpu,
        EngramBackend.NativeCuda => NativeBackendKind.Cuda,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "not a native backend"),
    };
}
