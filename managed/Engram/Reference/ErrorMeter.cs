namespace Engram.Reference;

/// <summary>
/// Compares outputs with reference values, element by element, with tolerance
/// <c>atol · max(1, max|ref|) + rtol · |ref|</c> per output (llm.c's tol + |ref|·eps, scaled so that
/// large gradients are judged relative to their own size). Keeps the worst element.
/// </summary>
public sealed class ErrorMeter
{
    /// <summary>Largest |got − ref| seen.</summary>
    public double MaxAbsError { get; private set; }

    /// <summary>Tolerance at the element whose error/tolerance ratio is largest.</summary>
    public double ToleranceAtWorst { get; private set; }

    /// <summary>Largest error/tolerance ratio (≤ 1 passes).</summary>
    public double WorstRatio { get; private set; }

    /// <summary>Where the worst ratio was seen, e.g. "grad_e[17]".</summary>
    public string Worst { get; private set; } = "";

    /// <summary>True when every element was within tolerance (and nothing was NaN).</summary>
    public bool Passed => WorstRatio <= 1.0;

    /// <summary>Compares one output; <paramref name="slack"/> is an extra absolute allowance (e.g. the gradient filter's bound).</summary>
    public void Add(string name, ReadOnlySpan<double> got, ReadOnlySpan<double> expected, double atol, double rtol,
        double slack = 0)
    {
        if (got.Length != expected.Length)
            throw new ArgumentException($"{name}: {got.Length} values, reference has {expected.Length}", nameof(got));
        double scale = 1;
        foreach (double x in expected) scale = Math.Max(scale, Math.Abs(x));
        for (int i = 0; i < got.Length; i++)
        {
            double err = Math.Abs(got[i] - expected[i]);
            double tol = atol * scale + rtol * Math.Abs(expected[i]) + slack;
            double ratio = double.IsNaN(err) ? double.PositiveInfinity : err / tol;
            if (!double.IsNaN(err)) MaxAbsError = Math.Max(MaxAbsError, err);
            else MaxAbsError = double.NaN;
            if (ratio > WorstRatio || Worst.Length == 0)
            {
                WorstRatio = Math.Max(WorstRatio, ratio);
                ToleranceAtWorst = tol;
                Worst = $"{name}[{i}]";
            }
        }
    }
}
