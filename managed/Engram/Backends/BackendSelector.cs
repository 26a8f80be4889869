using Engram.Ilgpu;

namespace Engram.Backends;

/// <summary>Whether a backend can run here, and why (a device name, or the reason it cannot).</summary>
/// <param name="Backend">The backend probed.</param>
/// <param name="Available">True when a context can be created on it.</param>
/// <param name="Detail">What it would run on, or why it is unavailable.</param>
public sealed record BackendProbe(EngramBackend Backend, bool Available, string Detail);

/// <summary>The thrown exception when a backend that cannot run here is asked for by name.</summary>
public sealed class BackendUnavailableException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public BackendUnavailableException(EngramBackend backend, string reason)
        : base($"backend {backend} is not available on this machine: {reason}")
    {
        Backend = backend;
        Reason = reason;
    }

    /// <summary>The backend that was asked for.</summary>
    public EngramBackend Backend { get; }

    /// <summary>Why it cannot run.</summary>
    public string Reason { get; }
}

/// <summary>
/// Which backends can run here. <see cref="EngramContext.Create(EngramBackend, int)"/> with
/// <see cref="EngramBackend.Auto"/> keeps every available backend of <see cref="AutoOrder"/> and routes each
/// op to the first of them that supports it (<see cref="EngramContext.BackendFor"/>); <see cref="Resolve"/>
/// answers the coarser question "which backend would Auto put first".
/// </summary>
public static class BackendSelector
{
    /// <summary>The order in which Auto prefers backends, for every op: native CUDA, an ILGPU GPU, native CPU.</summary>
    public static IReadOnlyList<EngramBackend> AutoOrder { get; } =
        [EngramBackend.NativeCuda, EngramBackend.IlgpuGpu, EngramBackend.NativeCpu];

    /// <summary>Probes one concrete backend (not Auto).</summary>
    public static BackendProbe Probe(EngramBackend backend)
    {
        switch (backend)
        {
            case EngramBackend.NativeCpu:
                return EngramLibrary.TryLoad(out string err)
                    ? new(backend, true, $"{EngramLibrary.Capabilities.CpuName} ({EngramLibrary.Capabilities.CpuIsa}, {EngramLibrary.Capabilities.CpuThreads} threads)")
                    : new(backend, false, err);
            case EngramBackend.NativeCuda:
                if (!EngramLibrary.TryLoad(out string error)) return new(backend, false, error);
                var caps = EngramLibrary.Capabilities;
                if (!caps.CudaBuilt) return new(backend, false, caps.CudaStatus.Length > 0 ? caps.CudaStatus : "libengram was built without CUDA");
                if (caps.CudaDeviceCount == 0) return new(backend, false, "no CUDA device: " + caps.CudaStatus);
                return new(backend, true, EngramLibrary.CudaDevice(0).Name);
            case EngramBackend.IlgpuGpu:
                return IlgpuAccelerators.GpuUnavailableReason() is { } why
                    ? new(backend, false, why)
                    : new(backend, true, $"{IlgpuAccelerators.Gpus[0].Type}: {IlgpuAccelerators.Gpus[0].Name}");
            case EngramBackend.IlgpuCpu:
                return new(backend, true, "ILGPU CPU accelerator (a simulator: slow, for tests at small sizes)");
            default:
                return Probe(Resolve(EngramBackend.Auto));
        }
    }

    /// <summary>Every concrete backend, probed.</summary>
    public static IReadOnlyList<BackendProbe> ProbeAll() =>
        [.. new[] { EngramBackend.NativeCuda, EngramBackend.IlgpuGpu, EngramBackend.NativeCpu, EngramBackend.IlgpuCpu }.Select(Probe)];

    /// <summary>
    /// The concrete backend for a request: Auto → the first available of <see cref="AutoOrder"/> (the
    /// <see cref="EngramContext.Backend"/> of an Auto context; single ops may still run on a later one); a
    /// named backend is returned as is when available.
    /// </summary>
    /// <exception cref="BackendUnavailableException">The named backend (or, for Auto, every candidate) cannot run here.</exception>
    public static EngramBackend Resolve(EngramBackend requested)
    {
        if (requested != EngramBackend.Auto)
        {
            var probe = Probe(requested);
            return probe.Available ? requested : throw new BackendUnavailableException(requested, probe.Detail);
        }
        var reasons = new List<string>();
        foreach (var candidate in AutoOrder)
        {
            var probe = Probe(candidate);
            if (probe.Available) return candidate;
            reasons.Add($"{candidate}: {probe.Detail}");
        }
        throw new BackendUnavailableException(EngramBackend.Auto, string.Join("; ", reasons));
    }
}
