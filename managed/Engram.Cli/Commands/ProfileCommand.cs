using System.Globalization;
using Engram.Cli.Bench;

namespace Engram.Cli.Commands;

/// <summary>Settings of `engram profile OP` (engram-bench profile; docs/profiling.md).</summary>
/// <param name="Op">cce, cce_forward, cce_backward or cce_forward_backward.</param>
/// <param name="Phase">forward, backward or forward_backward (with a family as OP).</param>
/// <param name="Iters">Calls in the measured loop.</param>
/// <param name="Warmup">Calls before it.</param>
/// <param name="Backend">cpu or cuda (null: the driver's default, cpu).</param>
/// <param name="Shape">"n=N,v=V,d=D" (null: the driver's default).</param>
/// <param name="DType">f32, f16 or bf16.</param>
/// <param name="Threads">CPU worker threads (null: all cores).</param>
public sealed record ProfileSettings(string Op, string? Phase, int Iters, int? Warmup, string? Backend, string? Shape, string DType, int? Threads)
{
    /// <summary>The driver's command line.</summary>
    public IReadOnlyList<string> Arguments
    {
        get
        {
            var a = new List<string> { "profile", Op, "--iters", Iters.ToString(CultureInfo.InvariantCulture), "--dtype", DType };
            if (Phase is { Length: > 0 }) a.AddRange(["--phase", Phase]);
            if (Warmup is { } w) a.AddRange(["--warmup", w.ToString(CultureInfo.InvariantCulture)]);
            if (Backend is { Length: > 0 }) a.AddRange(["--backend", Backend]);
            if (Shape is { Length: > 0 }) a.AddRange(["--shape", Shape]);
            if (Threads is { } t) a.AddRange(["--threads", t.ToString(CultureInfo.InvariantCulture)]);
            return a;
        }
    }
}

/// <summary>
/// `engram profile OP`: one op and phase in a plain loop for perf, ncu and nsys, through the native driver (inputs made
/// once before the loop, no reference). Exit: the driver's (0 ok, 1 a failed call, 2 usage or no driver).
/// </summary>
public static class ProfileCommand
{
    /// <summary>Runs the driver's profile loop, its output passed through.</summary>
    public static int Run(CliOutput output, ProfileSettings s)
    {
        if (s.Iters < 1)
        {
            output.Fail($"--iters must be at least 1, got {s.Iters}");
            return ExitCodes.Environment;
        }
        string? driver = BenchDriver.Find(out var tried);
        if (driver is null)
        {
            output.Fail(BenchDriver.NotFoundMessage(tried));
            return ExitCodes.Environment;
        }
        try
        {
            int rc = ChildProcess.Run(driver, s.Arguments, output.Out);
            return rc switch { 0 => ExitCodes.Ok, 1 => ExitCodes.Mismatch, _ => ExitCodes.Environment };
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            output.Fail($"cannot start {driver}: {e.Message}");
            return ExitCodes.Environment;
        }
    }
}
