using System.Globalization;
using Engram.Backends;
using Engram.Cli.Bench;
using Engram.Reference;
using Spectre.Console;

namespace Engram.Cli.Commands;

/// <summary>
/// `engram verify [OP]`: every op against its float64 reference on awkward shapes. On the native backends
/// (cpu, cuda) it runs the op families' case suites through `engram-bench verify` (the cases the native tests
/// run); on ILGPU backends, the managed CCE verifier (random options on random awkward shapes).
/// </summary>
public static class VerifyCommand
{
    /// <summary>ILGPU cases run by default and by `engram run`; on native backends, the most cases per op.</summary>
    public const int DefaultCases = 24, QuickCases = 12;

    /// <summary>The verifier of the native backends.</summary>
    public const string NativeVerifier = "engram-bench verify", ManagedVerifier = "managed";

    /// <summary>One row of `engram verify --json`.</summary>
    /// <param name="Index">1-based.</param>
    /// <param name="Case">What was run (op, shape, dtype, options).</param>
    /// <param name="Passed">Every output within its bound.</param>
    /// <param name="MaxAbsErr">The largest |got - reference|.</param>
    /// <param name="Tolerance">The managed verifier's scalar tolerance; null for the native suites (a bound per entry).</param>
    /// <param name="Worst">Where the error was worst relative to its bound.</param>
    /// <param name="Ms">Time of the case (managed verifier).</param>
    /// <param name="Error">Why the case failed.</param>
    /// <param name="WorstRatio">Native suites: the largest |got - reference| / bound (1 or less passes).</param>
    /// <param name="Op">The op of the case (native suites).</param>
    public sealed record CaseRow(int Index, string Case, bool Passed, double MaxAbsErr, double? Tolerance, string Worst,
        double? Ms, string? Error, double? WorstRatio = null, string? Op = null);

    /// <summary>What `engram verify --json` prints.</summary>
    public sealed record VerifyReport(string Backend, string Device, int Seed, int Passed, int Failed,
        IReadOnlyList<CaseRow> Cases)
    {
        /// <summary>engram-bench verify (native case suites) or managed (ILGPU).</summary>
        public string Verifier { get; init; } = ManagedVerifier;

        /// <summary>The op or family verified, or "all".</summary>
        public string Op { get; init; } = "all";
    }

    /// <summary>Runs the cases and prints them; the report, or null when the backend or verifier could not run.</summary>
    public static VerifyReport? Verify(CliOutput output, EngramBackend backend, string? op, int seed, int? cases, bool json)
    {
        EngramContext context;
        try
        {
            context = EngramContext.Create(backend);
        }
        catch (Exception e) when (e is BackendUnavailableException or EngramException or DllNotFoundException)
        {
            output.Fail(e.Message);
            return null;
        }
        EngramBackend resolved;
        string device;
        using (context)
        {
            resolved = context.Backend;
            device = context.Device;
            if (resolved is not (EngramBackend.NativeCpu or EngramBackend.NativeCuda))
                return VerifyManaged(output, context, op, seed, cases ?? DefaultCases, json);
        }
        return VerifyNative(output, resolved, device, op, seed, cases, json);
    }

    /// <summary>Runs the command: 0 when every case passed, 1 on any mismatch, 2 when the backend cannot run.</summary>
    public static int Run(CliOutput output, EngramBackend backend, string? op, int seed, int? cases, bool json)
    {
        if (cases is <= 0)
        {
            output.Fail("--cases must be positive");
            return ExitCodes.Environment;
        }
        var report = Verify(output, backend, op, seed, cases, json);
        return report is null ? ExitCodes.Environment : report.Failed == 0 ? ExitCodes.Ok : ExitCodes.Mismatch;
    }

    // The native case suites, run by the driver in a child process; its engram-verify/1 JSON becomes the report.
    private static VerifyReport? VerifyNative(CliOutput output, EngramBackend backend, string device, string? op, int seed,
        int? cases, bool json)
    {
        if (seed <= 0)
        {
            output.Fail("--seed must be positive on the native backends");
            return null;
        }
        string? driver = BenchDriver.Find(out var tried);
        if (driver is null)
        {
            output.Fail(BenchDriver.NotFoundMessage(tried));
            return null;
        }
        string jsonPath = Path.Combine(Path.GetTempPath(), $"engram-verify-{Environment.ProcessId}-{Guid.NewGuid():N}.json");
        var args = new List<string> { "verify" };
        if (op is { Length: > 0 }) args.Add(op);
        args.AddRange(["--backend", backend == EngramBackend.NativeCuda ? "cuda" : "cpu", "--seed", I(seed)]);
        if (cases is > 0) args.AddRange(["--cases", I(cases.Value)]);
        args.AddRange(["--json", jsonPath]);
        NativeVerify? result;
        try
        {
            // The driver's own per-case lines are replaced by the table below; its errors go to stderr.
            int rc = ChildProcess.Capture(driver, args, out _, output.Error);
            if (rc is not (0 or 1) || !File.Exists(jsonPath))
            {
                output.Fail($"{driver} {string.Join(' ', args)} exited with code {rc}");
                return null;
            }
            result = System.Text.Json.JsonSerializer.Deserialize<NativeVerify>(File.ReadAllText(jsonPath), Json.Options);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or IOException or System.ComponentModel.Win32Exception)
        {
            output.Fail($"engram-bench verify: {e.Message}");
            return null;
        }
        finally
        {
            File.Delete(jsonPath);
        }
        if (result?.Schema != NativeVerify.SchemaName)
        {
            output.Fail($"engram-bench verify wrote schema '{result?.Schema}', expected '{NativeVerify.SchemaName}'");
            return null;
        }
        var rows = result.Cases.Select((c, i) => new CaseRow(i + 1, c.Label ?? c.Op ?? "?", c.Passed, c.MaxAbsErr ?? double.NaN, null,
            c.WorstAt ?? "", null, c.Error, c.WorstRatio, c.Op)).ToList();
        int passed = rows.Count(r => r.Passed);
        var report = new VerifyReport(BackendNames.Name(backend), device, seed, passed, rows.Count - passed, rows)
        {
            Verifier = NativeVerifier,
            Op = op ?? "all",
        };
        if (json)
        {
            Json.Write(output.Out, report);
            return report;
        }
        var table = new Table()
            .Title($"{Markup.Escape(op ?? "every op")} on {Markup.Escape(BackendNames.Name(backend))} ({Markup.Escape(device)}) " +
                   $"vs float64 reference, case suites of engram-bench (seed {seed})")
            .AddColumns("#", "case", "max abs err", "worst err/bound", "worst at", "result");
        foreach (var r in rows)
            table.AddRow(r.Index.ToString(Inv), Markup.Escape(r.Case), Sci(r.MaxAbsErr),
                r.WorstRatio is { } w ? w.ToString("0.000", Inv) : "-", Markup.Escape(r.Worst),
                r.Passed ? "[green]ok[/]" : $"[red]FAIL[/] {Markup.Escape(r.Error ?? "")}");
        output.Console.Write(table);
        output.Line($"{passed} passed, {rows.Count - passed} failed");
        return report;
    }

    // The managed CCE verifier, for the ILGPU backends (no native suite runs there).
    private static VerifyReport? VerifyManaged(CliOutput output, EngramContext context, string? op, int seed, int cases,
        bool json)
    {
        if (op is { Length: > 0 } && op != "cce")
        {
            output.Fail($"on {BackendNames.Name(context.Backend)} `engram verify` runs the managed CCE verifier (every CCE op); " +
                        "give no OP or 'cce'");
            return null;
        }
        // ILGPU's CPU accelerator simulates every thread: only tiny shapes finish quickly there.
        var limits = context.Backend == EngramBackend.IlgpuCpu ? CceCaseLimits.Tiny : CceCaseLimits.Normal;
        var rows = new List<CaseRow>();
        var table = new Table().Title($"CCE on {Markup.Escape(context.ToString())} vs float64 reference (seed {seed})")
            .AddColumns("#", "case", "max abs err", "tolerance", "worst at", "ms", "result");
        foreach (var (c, i) in CceCaseGenerator.Random(seed, cases, limits).Select((c, i) => (c, i + 1)))
        {
            var r = CceVerifier.Run(context, c);
            rows.Add(new CaseRow(i, c.Describe(), r.Passed, r.MaxAbsError, r.Tolerance, r.Worst, r.Milliseconds, r.Error));
            table.AddRow(i.ToString(Inv), Markup.Escape(c.Describe()), Sci(r.MaxAbsError),
                Sci(r.Tolerance), Markup.Escape(r.Worst), r.Milliseconds.ToString("0.0", Inv),
                r.Passed ? "[green]ok[/]" : $"[red]FAIL[/] {Markup.Escape(r.Error ?? "")}");
        }
        int passed = rows.Count(r => r.Passed);
        var report = new VerifyReport(BackendNames.Name(context.Backend), context.Device, seed, passed,
            rows.Count - passed, rows) { Op = op ?? "all" };
        if (json)
        {
            Json.Write(output.Out, report);
        }
        else
        {
            output.Console.Write(table);
            output.Line($"{passed} passed, {rows.Count - passed} failed");
        }
        return report;
    }

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private static string I(int x) => x.ToString(Inv);

    private static string Sci(double x) => double.IsNaN(x) ? "-" : x.ToString("0.00e+00", Inv);
}

/// <summary>The engram-verify/1 JSON of `engram-bench verify` (docs/bench-json.md).</summary>
internal sealed record NativeVerify
{
    public const string SchemaName = "engram-verify/1";

    public string? Schema { get; init; }
    public string? Backend { get; init; }
    public List<NativeVerifyCase> Cases { get; init; } = [];
    public int Passed { get; init; }
    public int Failed { get; init; }
}

/// <summary>One case of engram-verify/1.</summary>
internal sealed record NativeVerifyCase
{
    public string? Family { get; init; }
    public string? Op { get; init; }
    public BenchShape? Shape { get; init; }
    public string? Dtype { get; init; }
    public string? Label { get; init; }
    public bool Passed { get; init; }
    public double? MaxAbsErr { get; init; }
    public double? WorstRatio { get; init; }
    public string? WorstAt { get; init; }
    public string? Error { get; init; }
}
