using System.Globalization;

namespace Engram.Cli.Bench;

/// <summary>One point of a history series: one run's figures for one engram case.</summary>
/// <param name="Label">The run's commit (short) or date: the x-axis tick.</param>
/// <param name="When">When the commit was made (or the run, without a commit).</param>
/// <param name="File">The JSON file.</param>
/// <param name="MedianMs">Median time, ms.</param>
/// <param name="Speedup">Naive time / engram time in the same run (higher is better), null without a naive case.</param>
/// <param name="Rate">Achieved GFLOP/s (when the op counts FLOPs) or GB/s.</param>
/// <param name="RateUnit">"GFLOP/s" or "GB/s".</param>
public sealed record HistoryPoint(string Label, DateTimeOffset When, string File, double MedianMs, double? Speedup, double? Rate, string RateUnit);

/// <summary>One engram case (op, variant, backend, shape, dtype, threads) over runs, oldest first.</summary>
/// <param name="Op">The case's op (cce_forward, ...).</param>
/// <param name="Name">"cce_forward exact cpu 4096x32768x1024 f32 t=2".</param>
/// <param name="Points">One per run that has the case.</param>
public sealed record HistorySeries(string Op, string Name, IReadOnlyList<HistoryPoint> Points);

/// <summary>Collects the benchmark JSON files of a directory into per-case series for `engram history`.</summary>
public static class BenchHistory
{
    /// <summary>Files under <paramref name="dir"/> (recursively) that are engram-bench runs.</summary>
    /// <exception cref="BenchFormatException">A file is malformed, truncated, of an unknown engram-bench version, or a failed run.</exception>
    public static List<(string File, BenchReport Report)> Load(string dir, List<string> skipped)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"no such directory: {dir}");
        var runs = new List<(string, BenchReport)>();
        foreach (string file in Directory.EnumerateFiles(dir, "*.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            string text = File.ReadAllText(file);
            // Other documents (engram-compare/1, engram-verify/1, GPU summaries) are not runs: skipped, and said so.
            if (SchemaOf(text) is { } schema && !schema.StartsWith("engram-bench/", StringComparison.Ordinal))
            {
                skipped.Add($"{file}: schema {schema}, not a benchmark run");
                continue;
            }
            runs.Add((file, BenchJson.Parse(text, file)));
        }
        return runs;
    }

    /// <summary>Series of every engram case, optionally only the ops (or families) named in <paramref name="ops"/>.</summary>
    public static List<HistorySeries> Series(IEnumerable<(string File, BenchReport Report)> runs, IReadOnlyCollection<string> ops)
    {
        var byKey = new Dictionary<string, (string Op, List<HistoryPoint> Points)>(StringComparer.Ordinal);
        foreach (var (file, r) in runs)
        {
            var (label, when) = RunLabel(file, r);
            foreach (var c in r.Cases.Where(c => c.Impl == "engram"))
            {
                if (ops.Count > 0 && !ops.Contains(c.Op!) && (r.Op is null || !ops.Contains(r.Op))) continue;
                var naive = r.Cases.FirstOrDefault(x => x.Impl == "naive" && x.Op == c.Op && x.Backend == c.Backend &&
                                                        Equals(x.Shape, c.Shape) && x.Dtype == c.Dtype);
                double? speedup = naive is null ? null : naive.MedianMs!.Value / c.MedianMs!.Value;
                // A rate from the case's own work counts; FLOP-bound ops report GFLOP/s, the others GB/s.
                bool flopBound = c.Flops is > 0;
                double? work = flopBound ? c.Flops : c.BytesMoved;
                double? rate = work is > 0 ? work.Value / (c.MedianMs!.Value * 1e-3) / 1e9 : null;
                string key = $"{c.Op} {c.Variant ?? "-"} {c.Backend} {c.Shape} {c.Dtype} t={(c.Threads ?? r.EffectiveThreads)?.ToString(CultureInfo.InvariantCulture) ?? "?"}";
                if (!byKey.TryGetValue(key, out var s)) byKey[key] = s = (c.Op!, []);
                s.Points.Add(new HistoryPoint(label, when, file, c.MedianMs!.Value, speedup, rate, flopBound ? "GFLOP/s" : "GB/s"));
            }
        }
        return byKey.Select(kv => new HistorySeries(kv.Value.Op, kv.Key, [.. kv.Value.Points.OrderBy(p => p.When)]))
            .OrderBy(s => s.Op, StringComparer.Ordinal).ThenBy(s => s.Name, StringComparer.Ordinal).ToList();
    }

    /// <summary>The run's commit and its time (engram-bench/3 build block), else the run's date and creation time.</summary>
    public static (string Label, DateTimeOffset When) RunLabel(string file, BenchReport r)
    {
        DateTimeOffset created = Parse(r.CreatedUtc) ?? new DateTimeOffset(File.GetLastWriteTimeUtc(file));
        if (r.Build?.Commit is { Length: > 0 } commit && commit != "unknown")
        {
            // "1a2b3c4d5e6f-dirty" -> "1a2b3c4d+": 8 hex digits, "+" for uncommitted changes.
            bool dirty = commit.EndsWith("-dirty", StringComparison.Ordinal);
            string hash = dirty ? commit[..^"-dirty".Length] : commit;
            return (hash[..Math.Min(8, hash.Length)] + (dirty ? "+" : ""), Parse(r.Build.CommitUtc) ?? created);
        }
        return (created.UtcDateTime.ToString("MM-dd HH:mm", CultureInfo.InvariantCulture), created);
    }

    private static DateTimeOffset? Parse(string? s) =>
        DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) ? t : null;

    private static string? SchemaOf(string text)
    {
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(text, new System.Text.Json.JsonDocumentOptions
            {
                AllowTrailingCommas = true, CommentHandling = System.Text.Json.JsonCommentHandling.Skip,
            });
            return doc.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object &&
                   doc.RootElement.TryGetProperty("schema", out var s) && s.ValueKind == System.Text.Json.JsonValueKind.String
                ? s.GetString() : null;
        }
        catch (System.Text.Json.JsonException)
        {
            return null; // BenchJson.Parse reports it, naming the file
        }
    }
}
