namespace Engram.Cli;

/// <summary>Backend names accepted on the command line.</summary>
public static class BackendNames
{
    /// <summary>The accepted spellings, for help text.</summary>
    public const string Help = "auto, native-cuda (cuda), ilgpu-gpu, native-cpu (cpu), ilgpu-cpu";

    /// <summary>Parses a backend name (case-insensitive).</summary>
    public static EngramBackend Parse(string name) => name.ToLowerInvariant().Replace("_", "-", StringComparison.Ordinal) switch
    {
        "auto" or "best" => EngramBackend.Auto,
        "native-cuda" or "cuda" or "nativecuda" => EngramBackend.NativeCuda,
        "ilgpu-gpu" or "ilgpu" or "ilgpugpu" => EngramBackend.IlgpuGpu,
        "native-cpu" or "cpu" or "nativecpu" => EngramBackend.NativeCpu,
        "ilgpu-cpu" or "ilgpucpu" => EngramBackend.IlgpuCpu,
        _ => throw new ArgumentException($"unknown backend '{name}': use {Help}"),
    };

    /// <summary>The command-line spelling of a backend.</summary>
    public static string Name(EngramBackend backend) => backend switch
    {
        EngramBackend.NativeCuda => "native-cuda",
        EngramBackend.IlgpuGpu => "ilgpu-gpu",
        EngramBackend.NativeCpu => "native-cpu",
        EngramBackend.IlgpuCpu => "ilgpu-cpu",
        _ => "auto",
    };
}
