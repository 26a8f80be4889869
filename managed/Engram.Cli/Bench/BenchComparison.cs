namespace Engram.Cli.Bench;

/// <summary>How a case changed between two runs.</summary>
public enum ChangeStatus
{
    /// <summary>Within the threshold.</summary>
    Same,
    /// <summary>Faster by more than the threshold.</summary>
    Improved,
    /// <summary>Slower by more than the threshold: fails `engram compare`.</summary>
    Regressed,
    /// <summary>Only in the new run.</summary>
    Added,
    /// <summary>Only in the old run.</summary>
    Removed,
}

/// <summary>One matched (or unmatched) case.</summary>
/// <param name="Key">(op, impl, variant, backend, shape, dtype).</param>
/// <param name="OldMs">Old median, ms.</param>
/// <param name="NewMs">New median, ms.</param>
/// <param name="Ratio">NEW / OLD median.</param>
/// <param name="Status">The verdict.</param>
public sealed record CaseChange(string Key, double? OldMs, double? NewMs, double? Ratio, ChangeStatus Status);

/// <summary>Matches two runs' cases and judges each by its NEW/OLD median ratio.</summary>
public static class BenchComparison
{
    /// <summary>
    /// Every key of either run; Regressed when NEW/OLD &gt; 1 + <paramref name="threshold"/>, Improved when
    /// below 1 / (1 + threshold).
    /// </summary>
    public static IReadOnlyList<CaseChange> Compare(BenchReport oldRun, BenchReport newRun, double threshold)
    {
        var oldCases = ByKey(oldRun);
        var newCases = ByKey(newRun);
        var changes = new List<CaseChange>();
        foreach (var (key, n) in newCases)
        {
            if (!oldCases.TryGetValue(key, out var o))
            {
                changes.Add(new CaseChange(key, null, n.MedianMs, null, ChangeStatus.Added));
                continue;
            }
            double ratio = n.MedianMs!.Value / o.MedianMs!.Value;
            var status = ratio > 1 + threshold ? ChangeStatus.Regressed
                : ratio < 1 / (1 + threshold) ? ChangeStatus.Improved
                : ChangeStatus.Same;
            changes.Add(new CaseChange(key, o.MedianMs, n.MedianMs, ratio, status));
        }
        foreach (var (key, o) in oldCases)
            if (!newCases.ContainsKey(key)) changes.Add(new CaseChange(key, o.MedianMs, null, null, ChangeStatus.Removed));
        return changes;
    }

    // The first case wins when a run repeats a key (it should not).
    private static Dictionary<string, BenchCase> ByKey(BenchReport r)
    {
        var d = new Dictionary<string, BenchCase>(StringComparer.Ordinal);
        foreach (var c in r.Cases) d.TryAdd(c.Key, c);
        return d;
    }
}
