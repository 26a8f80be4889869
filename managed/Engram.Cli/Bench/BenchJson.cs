using System.Text.Json;

namespace Engram.Cli.Bench;

/// <summary>A benchmark JSON file that does not follow docs/bench-json.md.</summary>
public sealed class BenchFormatException(string message) : Exception(message);

/// <summary>Reads and checks benchmark JSON.</summary>
public static class BenchJson
{
    /// <summary>The first schema: shape {n, v, d} per case, no top-level op.</summary>
    public const string SchemaV1 = "engram-bench/1";

    /// <summary>The schema engram-bench writes now: top-level op, shape (named dimensions), error; per-case validation.</summary>
    public const string SchemaV2 = "engram-bench/2";

    /// <summary>v2 plus statistics: per-repetition samples, MAD, a noise warning; machine and build blocks.</summary>
    public const string SchemaV3 = "engram-bench/3";

    /// <summary>The schemas this reader understands (docs/bench-json.md).</summary>
    public static readonly IReadOnlyList<string> Schemas = [SchemaV1, SchemaV2, SchemaV3];

    /// <summary>Reads a file.</summary>
    /// <exception cref="BenchFormatException">Not JSON, another schema, or a case missing a required field.</exception>
    public static BenchReport Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"benchmark JSON not found: {path}", path);
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses text; <paramref name="source"/> names it in messages.</summary>
    public static BenchReport Parse(string text, string source = "input")
    {
        BenchReport? report;
        if (string.IsNullOrWhiteSpace(text)) throw new BenchFormatException($"{source}: empty file, not benchmark JSON");
        try
        {
            report = JsonSerializer.Deserialize<BenchReport>(text, Json.Options);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException or FormatException)
        {
            // A truncated file (a run killed mid-write by hand) lands here too: say where it broke.
            throw new BenchFormatException($"{source}: not valid benchmark JSON (malformed or truncated): {FirstLine(e.Message)}");
        }
        if (report is null) throw new BenchFormatException($"{source}: empty document");
        if (report.Schema is null && report.Cases.Count == 0)
            throw new BenchFormatException($"{source}: no \"schema\" and no \"cases\": not an engram-bench file");
        if (report.Schema is not null && !Schemas.Contains(report.Schema))
            throw new BenchFormatException($"{source}: schema '{report.Schema}', expected one of {string.Join(", ", Schemas)}");
        if (report.Error is { Length: > 0 } error)
            throw new BenchFormatException($"{source}: the run failed and has no results: {error}");
        for (int i = 0; i < report.Cases.Count; i++) Check(report.Cases[i], $"{source}: cases[{i}]");
        return report;
    }

    private static string FirstLine(string s) => s.Split('\n')[0].Trim();

    private static void Check(BenchCase c, string where)
    {
        var missing = new List<string>();
        if (string.IsNullOrEmpty(c.Op)) missing.Add("op");
        if (string.IsNullOrEmpty(c.Impl)) missing.Add("impl");
        if (string.IsNullOrEmpty(c.Backend)) missing.Add("backend");
        if (c.Shape is null) missing.Add("shape");
        if (string.IsNullOrEmpty(c.Dtype)) missing.Add("dtype");
        if (c.MedianMs is null) missing.Add("median_ms");
        if (c.MinMs is null) missing.Add("min_ms");
        if (c.MaxMs is null) missing.Add("max_ms");
        if (c.PeakExtraBytes is null) missing.Add("peak_extra_bytes");
        if (c.MaxAbsErr is null) missing.Add("max_abs_err");
        if (missing.Count > 0) throw new BenchFormatException($"{where}: missing {string.Join(", ", missing)}");
        if (c.MedianMs <= 0 || double.IsNaN(c.MedianMs!.Value))
            throw new BenchFormatException($"{where}: median_ms must be positive, got {c.MedianMs}");
        if (c.SamplesMs is { } samples && samples.Any(x => !(x > 0)))
            throw new BenchFormatException($"{where}: samples_ms must hold positive times");
    }
}
