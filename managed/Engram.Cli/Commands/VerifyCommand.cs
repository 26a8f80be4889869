using System.Globalization;
using Engram.Backends;
using Engram.Reference;
using Spectre.Console;

namespace Engram.Cli.Commands;

/// <summary>
/// `engram verify`: CCE (forward, backward, forward+backward, shard forward+combine+backward) with random
/// options on random awkward shapes, on one backend, each compared with the float64 reference.
/// </summary>
public static class VerifyCommand
{
    /// <summary>Cases run by default and by `--quick`.</summary>
    public const int DefaultCases = 24, QuickCases = 12;

    /// <summary>One row of `engram verify --json`.</summary>
    public sealed record CaseRow(int Index, string Case, bool Passed, double MaxAbsErr, double Tolerance, string Worst,
        double Ms, string? Error);

    /// <summary>What `engram verify --json` prints.</summary>
    public sealed record VerifyReport(string Backend, string Device, int Seed, int Passed, int Failed,
        IReadOnlyList<CaseRow> Cases);

    /// <summary>Runs the cases and prints them; the report, or null when the backend could not be opened.</summary>
    public static VerifyReport? Verify(CliOutput output, EngramBackend backend, int seed, int cases, bool json)
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
        using (context)
        {
            // ILGPU's CPU accelerator simulates every thread: only tiny shapes finish quickly there.
            var limits = context.Backend == EngramBackend.IlgpuCpu ? CceCaseLimits.Tiny : CceCaseLimits.Normal;
            var rows = new List<CaseRow>();
            var table = new Table().Title($"CCE on {Markup.Escape(context.ToString())} vs float64 reference (seed {seed})")
                .AddColumns("#", "case", "max abs err", "tolerance", "worst at", "ms", "result");
            foreach (var (c, i) in CceCaseGenerator.Random(seed, cases, limits).Select((c, i) => (c, i + 1)))
            {
                var r = CceVerifier.Run(context, c);
                rows.Add(new CaseRow(i, c.Describe(), r.Passed, r.MaxAbsError, r.Tolerance, r.Worst, r.Milliseconds, r.Error));
                table.AddRow(i.ToString(CultureInfo.InvariantCulture), Markup.Escape(c.Describe()), Sci(r.MaxAbsError),
                    Sci(r.Tolerance), Markup.Escape(r.Worst), r.Milliseconds.ToString("0.0", CultureInfo.InvariantCulture),
                    r.Passed ? "[green]ok[/]" : $"[red]FAIL[/] {Markup.Escape(r.Error ?? "")}");
            }
            int passed = rows.Count(r => r.Passed);
            var report = new VerifyReport(BackendNames.Name(context.Backend), context.Device, seed, passed,
                rows.Count - passed, rows);
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
    }

    /// <summary>Runs the command: 0 when every case passed, 1 on any mismatch, 2 when the backend cannot run.</summary>
    public static int Run(CliOutput output, EngramBackend backend, int seed, int cases, bool json)
    {
        if (cases <= 0)
        {
            output.Fail("--cases must be positive");
            return ExitCodes.Environment;
        }
        var report = Verify(output, backend, seed, cases, json);
        return report is null ? ExitCodes.Environment : report.Failed == 0 ? ExitCodes.Ok : ExitCodes.Mismatch;
    }

    private static string Sci(double x) => double.IsNaN(x) ? "-" : x.ToString("0.00e+00", CultureInfo.InvariantCulture);
}
