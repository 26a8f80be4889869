using Engram.Ops;

namespace Engram.Ilgpu;

/// <summary>
/// The ops the ILGPU fallback has kernels for, and with which dtypes: the managed counterpart of
/// libengram's per-op capability query. A family without an ILGPU port is simply absent, so Auto routes
/// its ops to a native backend. Each family adds its ports to <see cref="Default"/>.
/// </summary>
internal sealed class IlgpuOpTable
{
    private readonly IReadOnlyDictionary<EngramOp, EngramDType[]> _ports;

    public IlgpuOpTable(IReadOnlyDictionary<EngramOp, EngramDType[]> ports) => _ports = ports;

    /// <summary>Every ILGPU port of this assembly.</summary>
    public static IlgpuOpTable Default { get; } = new(new[]
        {
            IlgpuCceBackend.Ports, IlgpuScanBackend.Ports, IlgpuAttentionBackend.Ports, IlgpuQMatmulBackend.Ports,
        }.SelectMany(ports => ports).ToDictionary(kv => kv.Key, kv => kv.Value));

    public IEnumerable<EngramOp> Ops => _ports.Keys;

    /// <summary>Null when ported for <paramref name="dtype"/>, else why not.</summary>
    public string? WhyNotSupported(EngramOp op, EngramDType dtype) =>
        !_ports.TryGetValue(op, out var dtypes) ? $"{EngramOps.Display(op)} has no ILGPU port"
        : !dtypes.Contains(dtype) ? $"the ILGPU port of {EngramOps.Display(op)} does not take {DTypes.Name(dtype)} " +
                                    $"(it takes {string.Join(", ", dtypes.Select(DTypes.Name))})"
        : null;

    /// <summary>This table without <paramref name="op"/>: what Auto sees for a family with no ILGPU port.</summary>
    public IlgpuOpTable Without(EngramOp op) =>
        new(_ports.Where(kv => kv.Key != op).ToDictionary(kv => kv.Key, kv => kv.Value));
}
