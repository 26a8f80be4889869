namespace Engram;

/// <summary>Where an <see cref="EngramContext"/> runs its ops.</summary>
public enum EngramBackend
{
    /// <summary>The best available: native CUDA, then an ILGPU GPU (CUDA or OpenCL), then native CPU.</summary>
    Auto = 0,
    /// <summary>libengram's CUDA backend (needs a CUDA build of libengram and a device).</summary>
    NativeCuda = 1,
    /// <summary>The ILGPU fallback kernels on a GPU accelerator (ILGPU's own CUDA or OpenCL).</summary>
    IlgpuGpu = 2,
    /// <summary>libengram's CPU backend (always built).</summary>
    NativeCpu = 3,
    /// <summary>The ILGPU fallback kernels on ILGPU's CPU accelerator: a slow simulator, for tests at small sizes.</summary>
    IlgpuCpu = 4,
}
