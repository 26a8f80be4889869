using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace Engram.Ilgpu;

/// <summary>An accelerator ILGPU can see.</summary>
/// <param name="Type">Cuda, OpenCL or CPU.</param>
/// <param name="Name">Device name.</param>
/// <param name="MemoryBytes">Device memory.</param>
/// <param name="Multiprocessors">Multiprocessors (SMs / compute units).</param>
/// <param name="MaxGroupSize">Largest group (block) size.</param>
public sealed record IlgpuDeviceDescription(string Type, string Name, long MemoryBytes, int Multiprocessors, int MaxGroupSize);

/// <summary>Finds and opens ILGPU accelerators for the fallback backend.</summary>
public static class IlgpuAccelerators
{
    private static readonly Lazy<IReadOnlyList<IlgpuDeviceDescription>> s_gpus =
        new(() => Describe(GpuContext, d => d.AcceleratorType is AcceleratorType.Cuda or AcceleratorType.OpenCL));

    /// <summary>ILGPU's CUDA and OpenCL devices on this machine (cached; empty when there are none).</summary>
    public static IReadOnlyList<IlgpuDeviceDescription> Gpus => s_gpus.Value;

    /// <summary>Every accelerator ILGPU can use: its GPUs and its CPU simulator.</summary>
    public static IReadOnlyList<IlgpuDeviceDescription> All() =>
        [.. Gpus, .. Describe(CpuContext, d => d.AcceleratorType == AcceleratorType.CPU).Take(1)];

    /// <summary>Why there is no ILGPU GPU, or null when there is one.</summary>
    public static string? GpuUnavailableReason() =>
        Gpus.Count > 0 ? null : "ILGPU found no CUDA or OpenCL device (no driver, no GPU, or no OpenCL 2.0 runtime)";

    internal static Context GpuContext() => Context.Create(b => b.Cuda().OpenCL().EnableAlgorithms());

    internal static Context CpuContext() => Context.Create(b => b.CPU().EnableAlgorithms());

    /// <summary>Opens the first GPU (CUDA before OpenCL), or null.</summary>
    internal static (Context, Accelerator)? OpenGpu()
    {
        var context = GpuContext();
        var device = context.Devices.FirstOrDefault(d => d.AcceleratorType == AcceleratorType.Cuda)
                     ?? context.Devices.FirstOrDefault(d => d.AcceleratorType == AcceleratorType.OpenCL);
        if (device is null)
        {
            context.Dispose();
            return null;
        }
        return (context, device.CreateAccelerator(context));
    }

    /// <summary>Opens ILGPU's CPU accelerator (a simulator: slow, for tests).</summary>
    internal static (Context, Accelerator) OpenCpu()
    {
        var context = CpuContext();
        return (context, context.CreateCPUAccelerator(0));
    }

    private static IReadOnlyList<IlgpuDeviceDescription> Describe(Func<Context> create, Func<Device, bool> keep)
    {
        try
        {
            using var context = create();
            return context.Devices.Where(keep)
                .Select(d => new IlgpuDeviceDescription(d.AcceleratorType.ToString(), d.Name, d.MemorySize,
                    d.NumMultiprocessors, d.MaxNumThreadsPerGroup))
                .ToList();
        }
#pragma warning disable CA1031 // a broken driver means "no ILGPU device", not a crash of `engram info`
        catch (Exception)
        {
            return [];
        }
#pragma warning restore CA1031
    }
}
