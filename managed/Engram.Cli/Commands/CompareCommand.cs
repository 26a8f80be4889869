using System.Globalization;
using Engram.Cli.Bench;
using Spectre.Console;

namespace Engram.Cli.Commands;

/// <summary>Settings of `engram compare`.</summary>
/// <param name="OldPath">Baseline JSON.</param>
/// <param name="NewPath">New JSON.</param>
/// <param name="TolerancePct">Allowed slowdown in percent (10 = 10%).</param>
/// <param name="CrossMachine">Accept runs of different machines (then only in-run ratios are judged).</param>
/// <param name="Markdown">Write the Markdown report here.</param>
/// <param name="JsonFile">Write the JSON report here ("-" or empty: stdout instead of the table).</param>
/// <param name="JsonToStdout">Print JSON instead of the table.</param>
/// <param name="RatiosOnly">Judge only times relative to the in-run baseline, even on the same machine.</param>
public sealed record CompareSettings(string OldPath, string NewPath, double TolerancePct, bool CrossMachine = false,
                                     string? Markdown = null, string? JsonFile = null, bool JsonToStdout = false,
                                     bool RatiosOnly = false);

/// <summary>
/// `engram compare BASE.json NEW.json`: matches cases, judges engram cases against tolerance and noise.
/// Exit 0 ok, 1 an engram case regressed, 2 incomparable (unreadable, another schema, different machines without
/// --cross-machine, nothing matched or nothing could be judged).
/// </summary>
public static class CompareCommand
{
    /// <summary>Runs the command; never throws (a failure is a message and exit 2).</summary>
    public static int Run(CliOutput output, CompareSettings s)
    {
        try
        {
            return RunChecked(output, s);
        }
        catch (Exception e) when (e is BenchFormatException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            output.Fail(e.Message);
            return ExitCodes.Environment;
        }
    }

    private static int RunChecked(CliOutput output, CompareSettings s)
    {
        if (!(s.TolerancePct >= 0) || double.IsInfinity(s.TolerancePct))
        {
            output.Fail($"--tolerance must be a percentage >= 0 (e.g. 10), got {s.TolerancePct.ToString(CultureInfo.InvariantCulture)}");
            return ExitCodes.Environment;
        }
        var oldRun = BenchJson.Load(s.OldPath);
        var newRun = BenchJson.Load(s.NewPath);
        bool same = BenchComparison.SameMachine(oldRun, newRun);
        if (!same && !s.CrossMachine)
        {
            output.Fail($"the runs come from different machines (OLD: {BenchTable.MachineLine(oldRun)}; NEW: {BenchTable.MachineLine(newRun)}); " +
                        "absolute times do not compare. Pass --cross-machine to judge only times relative to the in-run baseline.");
            return ExitCodes.Environment;
        }
        var result = BenchComparison.Compare(oldRun, newRun, s.TolerancePct / 100.0, same && !s.RatiosOnly);
        int judged = result.Cases.Count(c => c.Gates && c.Status is ChangeStatus.Same or ChangeStatus.Improved or ChangeStatus.Regressed);
        int code;
        string summary;
        if (result.Matched == 0)
        {
            code = ExitCodes.Environment;
            summary = $"incomparable: no case matched (OLD has {oldRun.Cases.Count}, NEW has {newRun.Cases.Count}; " +
                      "cases match on op, impl, variant, backend, shape, dtype and threads)";
        }
        else if (judged == 0)
        {
            code = ExitCodes.Environment;
            summary = $"incomparable: {result.Matched} case(s) matched but no engram case could be judged " +
                      "(across machines an engram case needs its in-run naive baseline in both runs)";
        }
        else
        {
            code = result.Regressions > 0 ? ExitCodes.Mismatch : ExitCodes.Ok;
            summary = $"{result.Regressions} regression(s) in {judged} judged engram case(s), {result.Matched} matched case(s); " +
                      $"tolerance {s.TolerancePct.ToString("0.##", CultureInfo.InvariantCulture)}% and the runs' noise";
        }
        var outcome = new CompareOutcome
        {
            Old = s.OldPath, New = s.NewPath,
            OldMachine = BenchTable.MachineLine(oldRun), NewMachine = BenchTable.MachineLine(newRun),
            TolerancePct = s.TolerancePct, SameMachine = same, Notes = result.Notes, RatiosOnly = s.RatiosOnly,
            Matched = result.Matched, Regressions = result.Regressions, ExitCode = code, Summary = summary,
            Cases = result.Cases,
        };
        if (s.Markdown is { Length: > 0 } md) File.WriteAllText(md, CompareRender.Markdown(outcome));
        if (s.JsonFile is { Length: > 0 } jf && jf != "-")
        {
            using var w = new StreamWriter(jf);
            Json.Write(w, outcome);
        }
        if (s.JsonToStdout || s.JsonFile == "-") Json.Write(output.Out, outcome);
        else Render(output, outcome);
        if (code == ExitCodes.Environment) output.Fail(summary);
        return code;
    }

    private static void Render(CliOutput output, CompareOutcome r)
    {
        output.Line($"OLD {r.Old}: {r.OldMachine}");
        output.Line($"NEW {r.New}: {r.NewMachine}");
        foreach (string note in r.Notes) output.Warn(note);
        foreach (var (title, cases) in new[]
                 {
                     ("engram cases (gating)", r.Cases.Where(c => c.Gates && CompareRender.IsMatched(c))),
                     ("in-run baseline and peers (not gating)", r.Cases.Where(c => !c.Gates && CompareRender.IsMatched(c))),
                 })
        {
            var list = cases.ToList();
            if (list.Count == 0) continue;
            var table = new Table().Title(Markup.Escape(title))
                .AddColumns("op impl variant backend shape dtype threads", "old ms", "new ms", "time new/old",
                    "time/baseline old → new", "relative new/old", "status");
            foreach (var c in list)
                table.AddRow(Markup.Escape(c.Key), BenchTable.Num(c.OldMs, "0.00"), BenchTable.Num(c.NewMs, "0.00"),
                    Markup.Escape(CompareRender.Figure(c.Time)), Markup.Escape(CompareRender.VsBaseline(c.VsBaseline)),
                    Markup.Escape(CompareRender.Figure(c.VsBaseline)), Status(c));
            output.Console.Write(table);
        }
        foreach (var c in r.Cases.Where(c => !CompareRender.IsMatched(c)))
            output.Line($"{CompareRender.Verdict(c)}: {c.Key}");
        output.Line(r.Summary);
    }

    private static string Status(CaseChange c)
    {
        string word = Markup.Escape(CompareRender.Verdict(c));
        return c.Status switch
        {
            ChangeStatus.Regressed when c.Gates => $"[red]{word}[/]",
            ChangeStatus.Improved => $"[green]{word}[/]",
            _ => word,
        };
    }
}
