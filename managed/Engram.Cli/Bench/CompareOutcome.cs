namespace Engram.Cli.Bench;

/// <summary>What `engram compare --json` writes (schema engram-compare/1).</summary>
public sealed record CompareOutcome
{
    /// <summary>"engram-compare/1".</summary>
    public string Schema { get; init; } = "engram-compare/1";

    /// <summary>OLD file.</summary>
    public required string Old { get; init; }

    /// <summary>NEW file.</summary>
    public required string New { get; init; }

    /// <summary>OLD's machine line.</summary>
    public required string OldMachine { get; init; }

    /// <summary>NEW's machine line.</summary>
    public required string NewMachine { get; init; }

    /// <summary>Allowed slowdown, percent.</summary>
    public required double TolerancePct { get; init; }

    /// <summary>Robust standard deviations of noise a change must exceed.</summary>
    public double NoiseSigmas { get; init; } = BenchComparison.NoiseSigmas;

    /// <summary>Absolute times judged (same machine).</summary>
    public required bool SameMachine { get; init; }

    /// <summary>Only in-run ratios were judged (--ratios-only).</summary>
    public bool RatiosOnly { get; init; }

    /// <summary>Notes: thread counts, machines, noise.</summary>
    public required IReadOnlyList<string> Notes { get; init; }

    /// <summary>Cases in both runs.</summary>
    public required int Matched { get; init; }

    /// <summary>Engram cases that regressed.</summary>
    public required int Regressions { get; init; }

    /// <summary>0 ok, 1 regression, 2 incomparable.</summary>
    public required int ExitCode { get; init; }

    /// <summary>One line verdict.</summary>
    public required string Summary { get; init; }

    /// <summary>Every case of either run.</summary>
    public required IReadOnlyList<CaseChange> Cases { get; init; }
}
