using System.Globalization;
using Engram.Cli.Bench;

namespace Engram.Cli.Commands;

/// <summary>
/// `engram run`, the main job for a newcomer: what this machine has, a quick verification on the best
/// backend, then the CCE benchmark at the default size, ending with a short summary of what was measured.
/// </summary>
public static class RunCommand
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Runs the job: 0, 1 if verification failed, 2 if the library or the benchmark could not run.</summary>
    public static int Run(CliOutput output, int seed, BenchSettings bench)
    {
        output.Console.Write(new Spectre.Console.Rule("1. this machine"));
        var info = InfoCommand.Gather();
        InfoCommand.Render(output, info, brief: true);
        if (info.LibraryError is not null) return ExitCodes.Environment;

        output.Console.Write(new Spectre.Console.Rule("2. verify the ops against their float64 references"));
        var verify = VerifyCommand.Verify(output, EngramBackend.Auto, op: null, seed, VerifyCommand.QuickCases, json: false);

        output.Console.Write(new Spectre.Console.Rule("3. benchmark CCE against the naive method"));
        var report = BenchCommand.Bench(output, bench);

        output.Console.Write(new Spectre.Console.Rule("summary"));
        if (verify is null) output.Line("verify: not run (see the message above)");
        else
            output.Line($"verify: {verify.Passed} of {verify.Passed + verify.Failed} " +
                        (verify.Verifier == VerifyCommand.NativeVerifier ? "awkward cases of the case suites" : "random CCE cases") +
                        $" matched the float64 reference on {verify.Backend} ({verify.Device})");
        if (report is null) output.Line("bench: not run (see the message above)");
        else foreach (string line in Summarize(report)) output.Line(line);

        if (verify is null || report is null) return ExitCodes.Environment;
        return verify.Failed == 0 ? ExitCodes.Ok : ExitCodes.Mismatch;
    }

    /// <summary>One line per engram case: its time and peak extra memory relative to the naive method.</summary>
    public static IEnumerable<string> Summarize(BenchReport report)
    {
        foreach (var c in report.Cases.Where(c => c.Impl == "engram"))
        {
            var naive = report.Cases.FirstOrDefault(n => n.Impl == "naive" && n.Op == c.Op && n.Backend == c.Backend &&
                                                        Equals(n.Shape, c.Shape) && n.Dtype == c.Dtype);
            string what = $"{c.Op} ({c.Variant ?? "-"}, {c.Backend}, {c.Shape}, {c.Dtype}): {BenchTable.Num(c.MedianMs, "0.0")} ms";
            if (naive is null)
            {
                yield return "bench: " + what;
                continue;
            }
            double speed = naive.MedianMs!.Value / c.MedianMs!.Value;
            string time = speed >= 1 ? $"{speed.ToString("0.00", Inv)}x faster than naive" : $"{(1 / speed).ToString("0.00", Inv)}x the naive time";
            string memory = c.PeakExtraBytes > 0
                ? $"{(naive.PeakExtraBytes!.Value / c.PeakExtraBytes!.Value).ToString("0", Inv)}x less extra memory " +
                  $"({Mib(c.PeakExtraBytes)} vs {Mib(naive.PeakExtraBytes)} MiB)"
                : $"no extra memory (naive: {Mib(naive.PeakExtraBytes)} MiB)";
            yield return $"bench: {what}, {time}, {memory}";
        }
    }

    private static string Mib(double? bytes) => BenchTable.Num(bytes / (1024.0 * 1024.0), "0.0");
}
