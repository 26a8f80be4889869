using System.Globalization;
using Engram.Cli.Bench;
using Spectre.Console;

namespace Engram.Cli.Commands;

/// <summary>`engram compare OLD.json NEW.json`: NEW/OLD median ratios; exit 1 on a regression.</summary>
public static class CompareCommand
{
    /// <summary>What `engram compare --json` prints.</summary>
    public sealed record CompareReport(string Old, string New, double Threshold, int Regressions, IReadOnlyList<CaseChange> Cases);

    /// <summary>Runs the command: 0, 1 if any case regressed beyond the threshold, 2 for unreadable files.</summary>
    public static int Run(CliOutput output, string oldPath, string newPath, double threshold, bool json)
    {
        if (threshold < 0 || double.IsNaN(threshold))
        {
            output.Fail("--threshold must be >= 0 (e.g. 0.10 for 10%)");
            return ExitCodes.Environment;
        }
        BenchReport oldRun, newRun;
        try
        {
            oldRun = BenchJson.Load(oldPath);
            newRun = BenchJson.Load(newPath);
        }
        catch (Exception e) when (e is BenchFormatException or IOException)
        {
            output.Fail(e.Message);
            return ExitCodes.Environment;
        }
        var changes = BenchComparison.Compare(oldRun, newRun, threshold);
        int regressions = changes.Count(c => c.Status == ChangeStatus.Regressed);
        if (json)
        {
            Json.Write(output.Out, new CompareReport(oldPath, newPath, threshold, regressions, changes));
        }
        else
        {
            var table = new Table().Title($"NEW / OLD median time (regression: above {(1 + threshold).ToString("0.00", CultureInfo.InvariantCulture)}x)")
                .AddColumns("op impl variant backend shape dtype", "old ms", "new ms", "new/old", "status");
            foreach (var c in changes)
                table.AddRow(Markup.Escape(c.Key), BenchTable.Num(c.OldMs, "0.00"), BenchTable.Num(c.NewMs, "0.00"),
                    c.Ratio is { } r ? r.ToString("0.000", CultureInfo.InvariantCulture) + "x" : "-", Status(c.Status));
            output.Console.Write(table);
            output.Line($"{regressions} regression(s) beyond {threshold.ToString("0.##%", CultureInfo.InvariantCulture)} " +
                        $"in {changes.Count(c => c.Ratio is not null)} matched case(s)");
        }
        return regressions == 0 ? ExitCodes.Ok : ExitCodes.Mismatch;
    }

    private static string Status(ChangeStatus s) => s switch
    {
        ChangeStatus.Regressed => "[red]REGRESSED[/]",
        ChangeStatus.Improved => "[green]improved[/]",
        ChangeStatus.Added => "only in NEW",
        ChangeStatus.Removed => "only in OLD",
        _ => "ok",
    };
}
