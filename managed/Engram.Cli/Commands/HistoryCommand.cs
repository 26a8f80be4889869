using System.Globalization;
using System.Text;
using Engram.Cli.Bench;
using ScottPlot;

namespace Engram.Cli.Commands;

/// <summary>
/// `engram history DIR [--op NAME...] --out FILE.png [--markdown FILE]`: every engram case's speed-up over the in-run
/// naive baseline and its achieved GFLOP/s (or GB/s) across the runs in DIR, ordered by commit time; one PNG (two
/// panels per op) and a Markdown summary. Exit 0, or 2 when DIR holds a malformed, truncated or wrong-version run.
/// </summary>
public static class HistoryCommand
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Runs the command; never throws.</summary>
    public static int Run(CliOutput output, string dir, IReadOnlyCollection<string> ops, string outPng, string? markdown)
    {
        try
        {
            var skipped = new List<string>();
            var runs = BenchHistory.Load(dir, skipped);
            foreach (string s in skipped) output.Warn($"skipped {s}");
            var series = BenchHistory.Series(runs, ops);
            if (series.Count == 0)
            {
                output.Fail(runs.Count == 0
                    ? $"no benchmark JSON (engram-bench/1..3) under {dir}"
                    : $"no engram case{(ops.Count > 0 ? " of " + string.Join(", ", ops) : "")} in the {runs.Count} run(s) under {dir}");
                return ExitCodes.Environment;
            }
            string md = Summary(dir, runs.Count, series, outPng);
            Plot(series, outPng);
            string mdPath = markdown ?? Path.ChangeExtension(outPng, ".md");
            File.WriteAllText(mdPath, md);
            output.Line(md);
            output.Line($"wrote {outPng} and {mdPath}");
            return ExitCodes.Ok;
        }
        catch (Exception e) when (e is BenchFormatException or IOException or UnauthorizedAccessException)
        {
            output.Fail(e.Message);
            return ExitCodes.Environment;
        }
    }

    /// <summary>Per op: speed-up panel and rate panel, one line per case, x = runs by commit time.</summary>
    public static void Plot(IReadOnlyList<HistorySeries> series, string path)
    {
        // Every run that has any plotted case, in time order: shared x positions and tick labels.
        var runs = series.SelectMany(s => s.Points).Select(p => (p.When, p.Label, p.File)).Distinct()
            .OrderBy(r => r.When).ThenBy(r => r.File, StringComparer.Ordinal).ToList();
        var x = runs.Select((r, i) => (r.File, i)).ToDictionary(t => t.File, t => (double)t.i);
        double[] ticks = [.. Enumerable.Range(0, runs.Count).Select(i => (double)i)];
        // Runs of one commit (repeated measurements) get "(2)", "(3)" so that each tick names one run.
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        string[] labels = [.. runs.Select(r => (seen[r.Label] = seen.GetValueOrDefault(r.Label) + 1) is var k && k > 1 ? $"{r.Label} ({k})" : r.Label)];
        var multiplot = new Multiplot();
        var initial = multiplot.GetPlots().ToList(); // a new Multiplot holds one empty plot: replaced by ours
        int panels = 0;
        foreach (var group in series.GroupBy(s => s.Op))
        {
            foreach (bool speedup in new[] { true, false })
            {
                var plot = new Plot();
                var ps = group.ToList();
                for (int i = 0; i < ps.Count; i++)
                {
                    var pts = ps[i].Points.Where(p => (speedup ? p.Speedup : p.Rate) is not null).ToList();
                    if (pts.Count == 0) continue;
                    var line = plot.Add.Scatter(pts.Select(p => x[p.File]).ToArray(),
                        pts.Select(p => (speedup ? p.Speedup : p.Rate)!.Value).ToArray());
                    line.LegendText = ps[i].Name[(group.Key.Length + 1)..];
                    line.Color = Colors.Category10[i % 10];
                    line.LineWidth = 2;
                    line.MarkerSize = 7;
                }
                if (speedup)
                {
                    var one = plot.Add.HorizontalLine(1.0);
                    one.LineColor = Colors.Gray;
                    one.LinePattern = LinePattern.Dashed;
                }
                string unit = group.SelectMany(s => s.Points).Select(p => p.RateUnit).FirstOrDefault() ?? "GB/s";
                plot.Title(speedup ? $"{group.Key}: speed-up over the in-run naive baseline (higher is better)"
                                   : $"{group.Key}: achieved {unit}");
                plot.YLabel(speedup ? "naive time / engram time" : unit);
                plot.XLabel("commit (oldest left)");
                plot.Axes.Bottom.SetTicks(ticks, labels);
                plot.Axes.SetLimitsX(-0.5, Math.Max(0.5, runs.Count - 0.5));
                plot.ShowLegend(Edge.Right);
                multiplot.AddPlot(plot);
                panels++;
            }
        }
        foreach (var p in initial) multiplot.RemovePlot(p);
        multiplot.SavePng(path, 1500, 400 * panels);
    }

    /// <summary>The Markdown summary: per case, first and latest run, and the change.</summary>
    public static string Summary(string dir, int runCount, IReadOnlyList<HistorySeries> series, string png)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"## engram history: {series.Count} engram case(s) over {runCount} run(s) in `{dir}`");
        sb.AppendLine();
        sb.AppendLine($"![history]({Path.GetFileName(png)})");
        sb.AppendLine();
        sb.AppendLine("| case | runs | first | latest | speed-up first → latest | rate first → latest | latest ms |");
        sb.AppendLine("|---|---:|---|---|---:|---:|---:|");
        foreach (var s in series)
        {
            var first = s.Points[0];
            var last = s.Points[^1];
            sb.AppendLine($"| `{s.Name}` | {s.Points.Count} | {first.Label} | {last.Label} | " +
                          $"{Num(first.Speedup, "0.00")}x → {Num(last.Speedup, "0.00")}x | " +
                          $"{Num(first.Rate, "0.0")} → {Num(last.Rate, "0.0")} {last.RateUnit} | {last.MedianMs.ToString("0.00", Inv)} |");
        }
        sb.AppendLine();
        sb.AppendLine("Speed-up: the in-run naive baseline's time over the engram case's time (each run's own ratio, so runs on " +
                      "different machines compare). Rate: the case's counted FLOPs (or modelled bytes) per second.");
        return sb.ToString();
    }

    private static string Num(double? v, string f) => v is { } x ? x.ToString(f, Inv) : "-";
}
