namespace Engram.Cli.Bench;

/// <summary>How a case changed between two runs.</summary>
public enum ChangeStatus
{
    /// <summary>Within the tolerance or the noise.</summary>
    Same,
    /// <summary>Faster beyond both the tolerance and the noise.</summary>
    Improved,
    /// <summary>Slower beyond both the tolerance and the noise: fails `engram compare` (engram cases only).</summary>
    Regressed,
    /// <summary>Matched, but no figure could be judged (no in-run baseline across machines).</summary>
    NotJudged,
    /// <summary>Only in the new run.</summary>
    Added,
    /// <summary>Only in the old run.</summary>
    Removed,
}

/// <summary>One figure of a matched case, OLD against NEW (both "lower is better").</summary>
/// <param name="Old">OLD value (ms, or time / baseline time).</param>
/// <param name="New">NEW value.</param>
/// <param name="Ratio">NEW / OLD: above 1 is slower.</param>
/// <param name="NoiseBand">
/// The relative change the runs' own noise can explain: <see cref="BenchComparison.NoiseSigmas"/> x the combined relative
/// uncertainty of the medians the figure is made of (<see cref="BenchComparison.MedianUncertainty"/>).
/// </param>
/// <param name="Limit">max(tolerance, noise band): a change beyond it counts.</param>
/// <param name="Status">Same, Improved or Regressed.</param>
public sealed record FigureChange(double Old, double New, double Ratio, double NoiseBand, double Limit, ChangeStatus Status);

/// <summary>One matched (or unmatched) case.</summary>
/// <param name="Key">(op, impl, variant, backend, shape, dtype, threads).</param>
/// <param name="Impl">engram, naive (the in-run baseline) or a peer (torch, ...).</param>
/// <param name="OldMs">Old median, ms.</param>
/// <param name="NewMs">New median, ms.</param>
/// <param name="Time">Absolute time NEW/OLD (judged on the same machine only).</param>
/// <param name="VsBaseline">Time / in-run naive time, NEW against OLD (travels between machines).</param>
/// <param name="Status">The verdict: the worse of the judged figures.</param>
/// <param name="Noisy">True when either run's spread of this case (or its baseline) is too large to trust.</param>
public sealed record CaseChange(string Key, string Impl, double? OldMs, double? NewMs, FigureChange? Time, FigureChange? VsBaseline,
                                ChangeStatus Status, bool Noisy = false)
{
    /// <summary>NEW / OLD median (the headline ratio), null when unmatched.</summary>
    public double? Ratio => Time?.Ratio;

    /// <summary>Only engram cases gate: naive is the in-run baseline, peers are other projects.</summary>
    public bool Gates => Impl == "engram";
}

/// <summary>What `engram compare` concluded.</summary>
public sealed record ComparisonResult
{
    /// <summary>Every case of either run, engram cases first.</summary>
    public required IReadOnlyList<CaseChange> Cases { get; init; }

    /// <summary>True when the two runs come from the same machine (absolute times are judged).</summary>
    public required bool SameMachine { get; init; }

    /// <summary>Things a reader must know: thread counts, machines, noisy cases.</summary>
    public required IReadOnlyList<string> Notes { get; init; }

    /// <summary>Cases present in both runs.</summary>
    public int Matched => Cases.Count(c => c.Status is not ChangeStatus.Added and not ChangeStatus.Removed);

    /// <summary>Engram cases that regressed.</summary>
    public int Regressions => Cases.Count(c => c.Gates && c.Status == ChangeStatus.Regressed);
}

/// <summary>
/// Matches two runs' cases on (op, impl, variant, backend, shape, dtype, threads) and judges each engram case by two
/// figures: its time relative to the in-run naive baseline (a ratio that travels between machines) and, when both
/// runs come from the same machine, its absolute median time. A figure regresses only when its NEW/OLD ratio exceeds
/// both 1 + tolerance and 1 + the noise band of the two runs: 3 x the root sum of squares of the relative standard
/// errors of the medians involved (docs/bench-json.md, "engram compare").
/// </summary>
public static class BenchComparison
{
    /// <summary>Robust standard deviations a change must exceed to be more than noise.</summary>
    public const double NoiseSigmas = 3.0;

    /// <summary>MAD to standard deviation for normal data.</summary>
    private const double MadToSigma = 1.4826;

    /// <summary>A case whose robust relative spread exceeds this is marked noisy (its verdict is less certain).</summary>
    public const double NoisySpread = 0.05;

    /// <summary>Compares with a tolerance given as a fraction (0.10 = 10%), machines taken as the files say.</summary>
    public static ComparisonResult Compare(BenchReport oldRun, BenchReport newRun, double tolerance) =>
        Compare(oldRun, newRun, tolerance, SameMachine(oldRun, newRun));

    /// <summary>Compares; <paramref name="sameMachine"/> decides whether absolute times are judged.</summary>
    public static ComparisonResult Compare(BenchReport oldRun, BenchReport newRun, double tolerance, bool sameMachine)
    {
        var notes = new List<string>();
        int? oldThreads = oldRun.EffectiveThreads, newThreads = newRun.EffectiveThreads;
        if (oldThreads != newThreads)
            notes.Add($"thread counts differ: OLD ran on {Threads(oldThreads)}, NEW on {Threads(newThreads)}; " +
                      "cases only match at the same thread count");
        if (!sameMachine)
            notes.Add("only times relative to the in-run baseline are judged (different machines or --ratios-only); absolute times are shown");

        var oldCases = ByKey(oldRun);
        var newCases = ByKey(newRun);
        var changes = new List<CaseChange>();
        foreach (var (key, n) in newCases)
        {
            if (!oldCases.TryGetValue(key, out var o))
            {
                changes.Add(new CaseChange(key, n.Impl!, null, n.MedianMs, null, null, ChangeStatus.Added));
                continue;
            }
            changes.Add(Judge(key, o, n, oldRun, newRun, tolerance, sameMachine));
        }
        foreach (var (key, o) in oldCases)
            if (!newCases.ContainsKey(key)) changes.Add(new CaseChange(key, o.Impl!, o.MedianMs, null, null, null, ChangeStatus.Removed));
        int noisy = changes.Count(c => c.Noisy);
        if (noisy > 0)
            notes.Add($"{noisy} matched case(s) have a spread above {NoisySpread:0%} in one run: their noise band is wide");
        return new ComparisonResult
        {
            Cases = [.. changes.OrderBy(c => c.Gates ? 0 : 1).ThenBy(c => c.Status is ChangeStatus.Added or ChangeStatus.Removed ? 1 : 0)],
            SameMachine = sameMachine,
            Notes = notes,
        };
    }

    /// <summary>Same CPU model, thread count, ISA and GPU (and cores and caches when both runs give them).</summary>
    public static bool SameMachine(BenchReport a, BenchReport b)
    {
        if (a.Machine is not { } ma || b.Machine is not { } mb || ma.Cpu is null || mb.Cpu is null) return false;
        if (ma.Identity != mb.Identity) return false;
        if (ma.Cores is { } ca && mb.Cores is { } cb && ca != cb) return false;
        if (ma.Caches is { } xa && mb.Caches is { } xb && !xa.OrderBy(k => k.Key).SequenceEqual(xb.OrderBy(k => k.Key))) return false;
        return true;
    }

    /// <summary>
    /// The robust relative spread (an estimate of the standard deviation over the median) of one case: 1.4826 MAD / median
    /// from its per-repetition samples (v3), else from its MAD, else half its min..max range over the median (v1/v2
    /// files keep only min, median, max).
    /// </summary>
    public static double RelativeSpread(BenchCase c)
    {
        double median = c.MedianMs!.Value;
        if (c.SamplesMs is { Count: >= 3 } samples) return MadToSigma * Mad(samples) / median;
        if (c.MadMs is { } mad) return MadToSigma * mad / median;
        if (c.MinMs is { } lo && c.MaxMs is { } hi && hi >= lo) return 0.5 * (hi - lo) / median;
        return 0;
    }

    /// <summary>
    /// The relative uncertainty of a case's median: 1.2533 x <see cref="RelativeSpread"/> / sqrt(repetitions) (the standard
    /// error of a median of n samples; the repetition count from samples_ms, else reps, else 1).
    /// </summary>
    public static double MedianUncertainty(BenchCase c)
    {
        int n = c.SamplesMs?.Count is > 0 and var k ? k : c.Reps is > 0 ? c.Reps.Value : 1;
        return 1.2533 * RelativeSpread(c) / Math.Sqrt(n);
    }

    /// <summary>Median absolute deviation from the median.</summary>
    public static double Mad(IReadOnlyList<double> xs)
    {
        double m = Median(xs);
        return Median(xs.Select(x => Math.Abs(x - m)).ToList());
    }

    /// <summary>Median (mean of the two middle values for an even count).</summary>
    public static double Median(IReadOnlyList<double> xs)
    {
        var s = xs.OrderBy(x => x).ToList();
        int n = s.Count;
        return n == 0 ? double.NaN : n % 2 == 1 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    }

    private static CaseChange Judge(string key, BenchCase o, BenchCase n, BenchReport oldRun, BenchReport newRun,
                                    double tolerance, bool sameMachine)
    {
        bool noisy = RelativeSpread(o) > NoisySpread || RelativeSpread(n) > NoisySpread || o.Noisy == true || n.Noisy == true;
        double so = MedianUncertainty(o), sn = MedianUncertainty(n);
        var time = Figure(o.MedianMs!.Value, n.MedianMs!.Value, Hypot(so, sn), tolerance, judged: sameMachine);

        FigureChange? vs = null;
        // The in-run baseline: the naive case of the same (op, backend, shape, dtype) in the same run.
        if (o.Impl != "naive" && Baseline(oldRun, o) is { } ob && Baseline(newRun, n) is { } nb)
        {
            noisy |= RelativeSpread(ob) > NoisySpread || RelativeSpread(nb) > NoisySpread;
            double sob = MedianUncertainty(ob), snb = MedianUncertainty(nb);
            vs = Figure(o.MedianMs.Value / ob.MedianMs!.Value, n.MedianMs.Value / nb.MedianMs!.Value,
                Hypot(Hypot(so, sob), Hypot(sn, snb)), tolerance, judged: true);
        }
        var judgedFigures = new[] { sameMachine ? time : null, vs }.Where(f => f is not null).Select(f => f!.Status).ToList();
        var status = judgedFigures.Count == 0 ? ChangeStatus.NotJudged
            : judgedFigures.Contains(ChangeStatus.Regressed) ? ChangeStatus.Regressed
            : judgedFigures.Contains(ChangeStatus.Improved) ? ChangeStatus.Improved
            : ChangeStatus.Same;
        return new CaseChange(key, n.Impl!, o.MedianMs, n.MedianMs, time, vs, status, noisy);
    }

    private static FigureChange Figure(double oldValue, double newValue, double combinedSpread, double tolerance, bool judged)
    {
        double ratio = newValue / oldValue;
        double band = NoiseSigmas * combinedSpread;
        double limit = Math.Max(tolerance, band);
        var status = !judged ? ChangeStatus.NotJudged
            : ratio > 1 + limit ? ChangeStatus.Regressed
            : ratio < 1 / (1 + limit) ? ChangeStatus.Improved
            : ChangeStatus.Same;
        return new FigureChange(oldValue, newValue, ratio, band, limit, status);
    }

    private static double Hypot(double a, double b) => Math.Sqrt(a * a + b * b);

    private static BenchCase? Baseline(BenchReport run, BenchCase c) =>
        run.Cases.FirstOrDefault(x => x.Impl == "naive" && x.Op == c.Op && x.Backend == c.Backend &&
                                      Equals(x.Shape, c.Shape) && x.Dtype == c.Dtype && x.Threads == c.Threads);

    private static string Threads(int? t) => t is { } v ? $"{v} thread(s)" : "an unknown number of threads";

    /// <summary>The match key: the case's identity and the threads it ran on.</summary>
    public static string KeyOf(BenchReport run, BenchCase c) => $"{c.Key} t={(c.Threads ?? run.EffectiveThreads)?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"}";

    // The first case wins when a run repeats a key (it should not).
    private static Dictionary<string, BenchCase> ByKey(BenchReport r)
    {
        var d = new Dictionary<string, BenchCase>(StringComparer.Ordinal);
        foreach (var c in r.Cases) d.TryAdd(KeyOf(r, c), c);
        return d;
    }
}
