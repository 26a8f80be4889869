namespace Engram;

/// <summary>Scratch memory an op allocated on a context (what it costs beyond its inputs and outputs).</summary>
/// <param name="CurrentBytes">Bytes allocated now.</param>
/// <param name="PeakBytes">Peak since creation or the last reset.</param>
/// <param name="Allocations">Allocations since creation.</param>
public readonly record struct MemoryStats(ulong CurrentBytes, ulong PeakBytes, ulong Allocations);

/// <summary>
/// What the last op on a context did: which op, on which backend, and the named counters the op defines
/// (<c>engram_op_stats</c>). For CCE: "tokens_valid", and for the ops with a backward "blocks_total" /
/// "blocks_skipped" (logit blocks the gradient pass visited / skipped by the gradient filter).
/// </summary>
/// <param name="BlocksTotal">CCE: logit blocks visited in the gradient pass (the "blocks_total" counter).</param>
/// <param name="BlocksSkipped">CCE: of which skipped by the gradient filter ("blocks_skipped").</param>
/// <param name="TokensValid">CCE: tokens not equal to ignore_index ("tokens_valid").</param>
public readonly record struct OpStats(ulong BlocksTotal, ulong BlocksSkipped, ulong TokensValid)
{
    private static readonly IReadOnlyDictionary<string, ulong> s_none = new Dictionary<string, ulong>();

    /// <summary>The op that filled these stats (<see cref="Ops.EngramOp.None"/> before a context's first op).</summary>
    public Ops.EngramOp Op { get; init; }

    /// <summary>The backend it ran on.</summary>
    public EngramBackend Backend { get; init; }

    /// <summary>Every counter the op set, by name.</summary>
    public IReadOnlyDictionary<string, ulong> Counters { get => field ?? s_none; init; }

    /// <summary>The value of counter <paramref name="name"/>, or 0 when the op did not set it.</summary>
    public ulong Counter(string name) => Counters.TryGetValue(name, out ulong v) ? v : 0;

    internal static OpStats From(Ops.EngramOp op, EngramBackend backend, IReadOnlyDictionary<string, ulong> counters)
    {
        ulong Get(string name) => counters.TryGetValue(name, out ulong v) ? v : 0;
        return new OpStats(Get("blocks_total"), Get("blocks_skipped"), Get("tokens_valid"))
        {
            Op = op,
            Backend = backend,
            Counters = counters,
        };
    }
}

/// <summary>What this build of libengram can do on this machine (<c>engram_capabilities</c>).</summary>
public sealed record Capabilities(
    int AbiVersion,
    bool CudaBuilt,
    int CudaDeviceCount,
    EngramCpuIsa CpuIsa,
    int CpuThreads,
    IReadOnlyList<EngramDType> CpuDTypes,
    IReadOnlyList<EngramDType> CudaDTypes,
    string CpuName,
    string CudaStatus);

/// <summary>A CUDA device as libengram sees it (<c>engram_device_info</c>).</summary>
public sealed record CudaDeviceInfo(
    int Device,
    string Name,
    int SmCount,
    int ComputeCapabilityMajor,
    int ComputeCapabilityMinor,
    ulong TotalMemory,
    ulong FreeMemory);
