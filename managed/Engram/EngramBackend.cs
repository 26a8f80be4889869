namespace Engram;

/// <summary>Where an <see cref="EngramContext"/> runs its ops. A named backend is the only one the context uses.</summary>
public enum EngramBackend
{
    /// <summary>
    /// Every available backend, best first (native CUDA, an ILGPU GPU, native CPU); each op runs on the first
    /// of them that supports it, so a family without a CUDA or ILGPU port still runs.
    /// </summary>
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
