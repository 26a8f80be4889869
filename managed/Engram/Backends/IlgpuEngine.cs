using Engram.Ilgpu;
using Engram.Ops;
using ILGPU;
using ILGPU.Runtime;

namespace Engram.Backends;

/// <summary>An ILGPU accelerator (a GPU, or ILGPU's CPU simulator) and the op-family ports written for it.</summary>
internal sealed class IlgpuEngine : BackendEngine
{
    private readonly Context _context;
    private readonly Lazy<IlgpuCceBackend> _cce;
    private readonly Lazy<IlgpuScanBackend> _scan;
    private readonly Lazy<IlgpuAttentionBackend> _attention;
    private readonly Lazy<IlgpuQMatmulBackend> _qmatmul;
    private readonly IlgpuOpTable _ops;
    private OpStats _lastOp;

    private IlgpuEngine(EngramBackend kind, Context context, Accelerator accelerator, IlgpuOpTable ops) : base(kind)
    {
        _context = context;
        Accelerator = accelerator;
        Scratch = new IlgpuScratch(accelerator);
        _ops = ops;
        _cce = new(() => new IlgpuCceBackend(this));
        _scan = new(() => new IlgpuScanBackend(this));
        _attention = new(() => new IlgpuAttentionBackend(this));
        _qmatmul = new(() => new IlgpuQMatmulBackend(this));
    }

    /// <summary>Opens ILGPU's first GPU (<see cref="EngramBackend.IlgpuGpu"/>) or its CPU simulator.</summary>
    public static IlgpuEngine Open(EngramBackend kind, IlgpuOpTable ops)
    {
        var (context, accelerator) = kind == EngramBackend.IlgpuGpu
            ? IlgpuAccelerators.OpenGpu()
              ?? throw new BackendUnavailableException(kind, IlgpuAccelerators.GpuUnavailableReason() ?? "no device")
            : IlgpuAccelerators.OpenCpu();
        return new IlgpuEngine(kind, context, accelerator, ops);
    }

    public Accelerator Accelerator { get; }

    /// <summary>Device allocations of every port, counted for the memory stats.</summary>
    public IlgpuScratch Scratch { get; }

    /// <summary>Calls on one engine are serialised, as on a libengram context.</summary>
    public Lock Gate { get; } = new();

    public override string Device => Accelerator.Name;

    public override string? WhyNotSupported(EngramOp op, EngramDType dtype) => _ops.WhyNotSupported(op, dtype);

    public override MemoryStats MemoryStats => Scratch.Stats;

    public override OpStats LastOpStats => _lastOp;

    /// <summary>Set by a port when an op completes.</summary>
    public void RecordOp(EngramOp op, IReadOnlyDictionary<string, ulong> counters) =>
        _lastOp = OpStats.From(op, Kind, counters);

    public override void ResetPeakMemory() => Scratch.ResetPeak();

    public override ICceBackend Cce => _cce.Value;

    public override IScanBackend Scan => _scan.Value;

    public override IAttentionBackend Attention => _attention.Value;

    public override IQMatmulBackend QMatmul => _qmatmul.Value;

    public override void Dispose()
    {
        Scratch.Dispose();
        Accelerator.Dispose();
        _context.Dispose();
    }
}
