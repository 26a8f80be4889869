using System.Globalization;
using Spectre.Console;

namespace Engram.Cli.Bench;

/// <summary>Renders a benchmark report as tables a newcomer can read.</summary>
public static class BenchTable
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Machine and limits lines, one table per (op, backend, shape, dtype), and a legend.</summary>
    public static void Render(CliOutput output, BenchReport report)
    {
        var console = output.Console;
        console.MarkupLine($"[bold]machine[/]  {Markup.Escape(MachineLine(report))}");
        console.MarkupLine($"[bold]limits[/]   {Markup.Escape(LimitsLine(report))}");
        if (report.Inputs is { } inputs)
            console.MarkupLine($"[bold]inputs[/]   {Markup.Escape(inputs.Kind ?? "?")} softmax" +
                               (inputs.MeanEntropyNats is { } h ? $", mean entropy {h.ToString("0.00", Inv)} nats per token" : ""));
        foreach (var group in report.Cases.GroupBy(c => (c.Op, c.Backend, Shape: c.Shape?.ToString(), c.Dtype)))
        {
            var (op, backend, shape, dtype) = group.Key;
            var table = new Table()
                .Title($"{Markup.Escape(OpTitle(op))} on {Markup.Escape(backend ?? "?")}, n x v x d = {Markup.Escape(shape ?? "?")}, {Markup.Escape(dtype ?? "?")}")
                .AddColumns("impl", "variant", "median ms", "vs naive", "peak extra MiB", "GFLOP/s", "% of GEMM probe",
                    "max err", "blocks skipped");
            foreach (var c in group)
            {
                table.AddRow(Markup.Escape(c.Impl ?? "?"), Markup.Escape(c.Variant ?? "-"), Num(c.MedianMs, "0.0"),
                    VsNaive(c), Num(c.PeakExtraBytes / (1024.0 * 1024.0), "0.0"), Num(c.Gflops, "0.0"),
                    Percent(c.FracOfGemmProbe), Sci(c.MaxAbsErr), Percent(c.BlocksSkippedFrac));
            }
            console.Write(table);
        }
        foreach (string w in report.Warnings ?? []) output.Warn(w);
        output.Line("vs naive: time / time of the naive method (materialised logits with the same BLAS); below 1.00x is faster.");
        output.Line("peak extra: memory the op allocated beyond its inputs and outputs. % of GEMM probe: achieved GFLOP/s");
        output.Line("against a plain GEMM of the same size measured in the same run. blocks skipped: logit blocks the");
        output.Line("gradient filter left out (exact variants skip none).");
    }

    /// <summary>"AMD EPYC, 2 threads, avx512, no GPU".</summary>
    public static string MachineLine(BenchReport r)
    {
        var m = r.Machine;
        if (m is null) return "unknown";
        string gpu = m.Gpu is { } g && g.ValueKind != System.Text.Json.JsonValueKind.Null ? g.ToString() : "no GPU";
        return $"{m.Cpu ?? "?"}, {m.CpuThreads?.ToString(Inv) ?? "?"} threads, {m.Isa ?? "?"}, {gpu}" +
               (r.EngramVersion is null ? "" : $"; engram {r.EngramVersion}") + (r.CreatedUtc is null ? "" : $"; {r.CreatedUtc}");
    }

    /// <summary>"bandwidth 34.5 GB/s (stream triad), GEMM 196.9 GFLOP/s (openblas sgemm)".</summary>
    public static string LimitsLine(BenchReport r)
    {
        var l = r.Limits;
        if (l is null) return "not measured";
        return $"bandwidth {Num(l.BandwidthGbs, "0.0")} GB/s ({l.BandwidthProbe ?? "?"}), " +
               $"GEMM {Num(l.GemmGflops, "0.0")} GFLOP/s ({l.GemmProbe ?? "?"})";
    }

    private static string OpTitle(string? op) => op switch
    {
        "cce_forward" => "CCE forward (loss)",
        "cce_forward_backward" => "CCE forward + backward (loss and gradients)",
        _ => op ?? "?",
    };

    private static string VsNaive(BenchCase c)
    {
        if (c.Impl == "naive") return "1.00x";
        if (c.VsNaive is not { } v) return "-";
        string text = v.ToString("0.00", Inv) + "x";
        return v <= 1.0 ? $"[green]{text}[/]" : v <= 1.1 ? text : $"[yellow]{text}[/]";
    }

    internal static string Num(double? x, string format) => x is { } v ? v.ToString(format, Inv) : "-";

    internal static string Percent(double? x) => x is { } v ? (v * 100).ToString("0.0", Inv) + "%" : "-";

    internal static string Sci(double? x) => x is { } v ? v.ToString("0.0e+00", Inv) : "-";
}
