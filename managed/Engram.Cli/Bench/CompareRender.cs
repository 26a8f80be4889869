using System.Globalization;
using System.Text;

namespace Engram.Cli.Bench;

/// <summary>The Markdown of `engram compare --markdown FILE` (a pull-request comment) and the verdict words it shares with the table.</summary>
public static class CompareRender
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>"1.250x (limit 1.10x)"; "-" when absent.</summary>
    public static string Figure(FigureChange? f) =>
        f is null ? "-" : $"{f.Ratio.ToString("0.000", Inv)}x (limit {(1 + f.Limit).ToString("0.00", Inv)}x)";

    /// <summary>"1.03 → 1.29": the case's time over the in-run baseline's, OLD → NEW.</summary>
    public static string VsBaseline(FigureChange? f) =>
        f is null ? "-" : $"{f.Old.ToString("0.000", Inv)} → {f.New.ToString("0.000", Inv)}";

    /// <summary>Plain verdict word.</summary>
    public static string Verdict(CaseChange c) => c.Status switch
    {
        ChangeStatus.Regressed when !c.Gates => "slower (not gating)",
        ChangeStatus.Regressed => "REGRESSED",
        ChangeStatus.Improved => "improved",
        ChangeStatus.NotJudged => "not judged",
        ChangeStatus.Added => "only in NEW",
        ChangeStatus.Removed => "only in OLD",
        _ => "ok",
    } + (c.Noisy && c.Status is not ChangeStatus.Added and not ChangeStatus.Removed ? " (noisy)" : "");

    /// <summary>The whole report as Markdown.</summary>
    public static string Markdown(CompareOutcome r)
    {
        var sb = new StringBuilder();
        sb.AppendLine("## engram compare");
        sb.AppendLine();
        sb.AppendLine($"- OLD: `{r.Old}` ({r.OldMachine})");
        sb.AppendLine($"- NEW: `{r.New}` ({r.NewMachine})");
        sb.AppendLine($"- rule: a figure regresses when NEW/OLD exceeds 1 + max(tolerance {r.TolerancePct.ToString("0.##", Inv)}%, " +
                      $"{BenchComparison.NoiseSigmas.ToString("0", Inv)} x the combined standard error of the medians, from each run's robust spread); " +
                      (r.SameMachine && !r.RatiosOnly ? "same machine: absolute times and times relative to the in-run baseline are judged"
                                     : r.SameMachine ? "--ratios-only: only times relative to the in-run baseline are judged"
                                     : "different machines: only times relative to the in-run baseline are judged"));
        foreach (string note in r.Notes) sb.AppendLine($"- note: {note}");
        sb.AppendLine();
        Table(sb, "Engram cases (gating)", r.Cases.Where(c => c.Gates && IsMatched(c)));
        Table(sb, "In-run baseline and peers (reported apart, never counted as Engram regressions)",
            r.Cases.Where(c => !c.Gates && IsMatched(c)));
        var missing = r.Cases.Where(c => !IsMatched(c)).ToList();
        if (missing.Count > 0)
        {
            sb.AppendLine("### Cases missing on one side");
            sb.AppendLine();
            foreach (var c in missing) sb.AppendLine($"- {Verdict(c)}: `{c.Key}`");
            sb.AppendLine();
        }
        sb.AppendLine($"**{r.Summary}**");
        return sb.ToString();
    }

    /// <summary>Present in both runs.</summary>
    public static bool IsMatched(CaseChange c) => c.Status is not ChangeStatus.Added and not ChangeStatus.Removed;

    private static void Table(StringBuilder sb, string title, IEnumerable<CaseChange> cases)
    {
        var list = cases.ToList();
        if (list.Count == 0) return;
        sb.AppendLine($"### {title}");
        sb.AppendLine();
        sb.AppendLine("| case | old ms | new ms | time NEW/OLD | time / baseline, OLD → NEW | relative NEW/OLD | verdict |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---|");
        foreach (var c in list)
            sb.AppendLine($"| `{c.Key}` | {BenchTable.Num(c.OldMs, "0.00")} | {BenchTable.Num(c.NewMs, "0.00")} | {Figure(c.Time)} | " +
                          $"{VsBaseline(c.VsBaseline)} | {Figure(c.VsBaseline)} | {Verdict(c)} |");
        sb.AppendLine();
    }
}
