namespace Engram;

/// <summary>Scratch memory an op allocated on a context (what it costs beyond its inputs and outputs).</summary>
/// <param name="CurrentBytes">Bytes allocated now.</param>
/// <param name="PeakBytes">Peak since creation or the last reset.</param>
/// <param name="Allocations">Allocations since creation.</param>
public readonly record struct MemoryStats(ulong CurrentBytes, ulong PeakBytes, ulong Allocations);

/// <summary>What the last op on a context did (for profiling the gradient filter).</summary>
/// <param name="BlocksTotal">Logit blocks visited in the gradient pass.</param>
/// <param name="BlocksSkipped">Of which skipped by the gradient filter.</param>
/// <param name="TokensValid">Tokens not equal to ignore_index.</param>
public readonly record struct OpStats(ulong BlocksTotal, ulong BlocksSkipped, ulong TokensValid);

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
