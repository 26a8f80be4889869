namespace Engram.Cli;

/// <summary>Exit codes CI can rely on.</summary>
public static class ExitCodes
{
    /// <summary>Everything ran and passed.</summary>
    public const int Ok = 0;

    /// <summary>A verification mismatch or a benchmark regression.</summary>
    public const int Mismatch = 1;

    /// <summary>Bad usage or a missing piece of the environment (library, driver, backend, file).</summary>
    public const int Environment = 2;
}
