using Engram.Backends;
using Engram.Cli.Bench;

namespace Engram.Cli.Commands;

/// <summary>Settings of `engram bench OP`.</summary>
public sealed record BenchSettings
{
    /// <summary>The op family to benchmark (one of `engram-bench list`): cce.</summary>
    public string Op { get; init; } = "cce";

    /// <summary>Default problem: the issue's CPU target size.</summary>
    public const long DefaultN = 4096, DefaultV = 32768, DefaultD = 1024;

    /// <summary>cpu or cuda; null picks cuda when libengram has a usable CUDA backend, else cpu.</summary>
    public string? Backend { get; init; }

    /// <summary>Tokens.</summary>
    public long? N { get; init; }

    /// <summary>Vocabulary.</summary>
    public long? V { get; init; }

    /// <summary>Hidden size.</summary>
    public long? D { get; init; }

    /// <summary>f32, f16, bf16.</summary>
    public string DType { get; init; } = "f32";

    /// <summary>Timed repetitions (default 5, or 3 with Quick).</summary>
    public int? Reps { get; init; }

    /// <summary>Where to keep the driver's JSON (default: a temporary file).</summary>
    public string? JsonFile { get; init; }

    /// <summary>A smaller problem (1024 x 8192 x 512) for a first look.</summary>
    public bool Quick { get; init; }

    /// <summary>Render this existing JSON file instead of running the driver.</summary>
    public string? From { get; init; }

    /// <summary>CPU worker threads (null: all cores).</summary>
    public int? Threads { get; init; }

    /// <summary>Comma-separated engram variants: exact, fused, filtered, fused-filtered (null: all).</summary>
    public string? Variants { get; init; }

    /// <summary>CPU scratch budgets for extra runs of the one-pass fused forward+backward, e.g. "8M,64M" (null: none).</summary>
    public string? Scratch { get; init; }

    /// <summary>Most timed repetitions per case while the spread settles (null: 20 without Reps, else exactly Reps).</summary>
    public int? MaxReps { get; init; }

    /// <summary>Timed seconds per case before it stops repeating (null: engram-bench's default, 10).</summary>
    public double? BudgetSeconds { get; init; }

    /// <summary>Named dimensions (engram-bench list), e.g. t=8192 for scan; for cce it replaces --n/--v/--d.</summary>
    public string? Shape { get; init; }

    /// <summary>Also time PyTorch's materialised cross-entropy (CPU backend, when a python3 with torch exists).</summary>
    public bool Peer { get; init; } = true;

    /// <summary>The request the driver gets.</summary>
    public BenchRequest ToRequest(string jsonPath) => new(
        Backend ?? DefaultBackend(),
        N ?? (Quick ? 1024 : DefaultN), V ?? (Quick ? 8192 : DefaultV), D ?? (Quick ? 512 : DefaultD),
        DType, Reps ?? (Quick ? 3 : 5), jsonPath, Threads, Variants, Op, Scratch,
        // Without --reps the driver repeats until the spread settles (up to 20); --reps alone means exactly that many.
        MaxReps ?? (Reps is null ? DefaultMaxReps : null), BudgetSeconds, Shape);

    /// <summary>The most repetitions per case when neither --reps nor --max-reps is given.</summary>
    public const int DefaultMaxReps = 20;

    /// <summary>cuda when libengram's CUDA backend can run here, else cpu.</summary>
    public static string DefaultBackend() => BackendSelector.Probe(EngramBackend.NativeCuda).Available ? "cuda" : "cpu";
}

/// <summary>`engram bench OP`: runs the native driver engram-bench and renders its JSON.</summary>
public static class BenchCommand
{
    /// <summary>Runs (or, with From, only renders) a benchmark; the report, or null with a message on stderr.</summary>
    public static BenchReport? Bench(CliOutput output, BenchSettings settings)
    {
        if (settings.Backend is not null and not "cpu" and not "cuda")
        {
            output.Fail($"--backend {settings.Backend}: the benchmark driver runs libengram's cpu or cuda backend");
            return null;
        }
        try
        {
            if (settings.From is not null)
            {
                var existing = BenchJson.Load(settings.From);
                BenchTable.Render(output, existing);
                return existing;
            }
            string? driver = BenchDriver.Find(out var tried);
            if (driver is null)
            {
                output.Fail(BenchDriver.NotFoundMessage(tried));
                return null;
            }
            var families = BenchDriver.Families(driver, output.Error);
            if (families is null)
            {
                output.Fail($"{driver} could not list its ops (engram-bench list)");
                return null;
            }
            if (!families.Contains(settings.Op))
            {
                output.Fail($"unknown op '{settings.Op}': engram-bench benchmarks {string.Join(", ", families)} (see engram-bench list)");
                return null;
            }
            string json = settings.JsonFile ?? Path.Combine(Path.GetTempPath(), $"engram-bench-{Environment.ProcessId}.json");
            var request = settings.ToRequest(Path.GetFullPath(json));
            output.Line($"running {driver} {string.Join(' ', request.Arguments)}");
            int rc = BenchDriver.Run(driver, request, output.Error);
            if (rc != 0)
            {
                output.Fail($"engram-bench exited with code {rc}");
                return null;
            }
            if (!request.IsCce)
            {
                // The family's driver printed its table and ran its own peers; its JSON has its own schema.
                output.Line($"results: {request.JsonPath}");
                return new BenchReport();
            }
            if (settings.Peer && request.DType == "f32")
                TorchPeer.MergeInto(request.JsonPath, TorchPeer.Run(request, settings.Threads, output.Error));
            var report = BenchJson.Load(request.JsonPath);
            BenchTable.Render(output, report);
            if (settings.JsonFile is null) File.Delete(request.JsonPath);
            else output.Line($"results: {request.JsonPath}");
            return report;
        }
        catch (Exception e) when (e is BenchFormatException or IOException or System.ComponentModel.Win32Exception)
        {
            output.Fail(e.Message);
            return null;
        }
    }

    /// <summary>Runs the command: 0, or 2 when the driver is missing or failed.</summary>
    public static int Run(CliOutput output, BenchSettings settings) =>
        Bench(output, settings) is null ? ExitCodes.Environment : ExitCodes.Ok;
}
