using Engram.Ops;

namespace Engram.Backends;

/// <summary>
/// One opened backend of an <see cref="EngramContext"/>: a libengram context (CPU or CUDA) or an ILGPU
/// accelerator, the context-level facts of it (device, scratch memory, the last op's stats) and the
/// op-family ports that run on it. A family adds one property here (e.g. <see cref="Cce"/>); its port is
/// created on first use, so a family's kernels are compiled only when one of its ops runs.
/// </summary>
internal abstract class BackendEngine : IDisposable
{
    protected BackendEngine(EngramBackend kind) => Kind = kind;

    /// <summary>The concrete backend (never Auto).</summary>
    public EngramBackend Kind { get; }

    /// <summary>The CPU or device name.</summary>
    public abstract string Device { get; }

    /// <summary>
    /// Null when this backend runs <paramref name="op"/> on inputs of <paramref name="dtype"/>, else why not.
    /// Throws <see cref="EngramArgumentException"/> for an op or dtype libengram does not know.
    /// </summary>
    public abstract string? WhyNotSupported(EngramOp op, EngramDType dtype);

    public abstract MemoryStats MemoryStats { get; }

    public abstract OpStats LastOpStats { get; }

    public abstract void ResetPeakMemory();

    /// <summary>The CCE family's port on this backend.</summary>
    public abstract ICceBackend Cce { get; }

    /// <summary>The scan family's port on this backend.</summary>
    public abstract IScanBackend Scan { get; }

    /// <summary>The attention family's port on this backend (it makes KV caches).</summary>
    public abstract IAttentionBackend Attention { get; }

    /// <summary>The 2-bit weight family's port on this backend.</summary>
    public abstract IQMatmulBackend QMatmul { get; }

    public abstract void Dispose();
}
