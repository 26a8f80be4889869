using System.Diagnostics;
using Engram.Ops;

namespace Engram.Reference;

/// <summary>The outcome of one verification case.</summary>
/// <param name="Case">The case.</param>
/// <param name="Passed">Every output within tolerance and no exception.</param>
/// <param name="MaxAbsError">Largest absolute error over all outputs.</param>
/// <param name="Tolerance">The tolerance at the worst element (relative to which the case passed or failed).</param>
/// <param name="Worst">The worst element, e.g. "grad_e[12]".</param>
/// <param name="Milliseconds">Time spent in the backend.</param>
/// <param name="Error">The exception message when the backend threw.</param>
public sealed record CceCaseResult(CceCase Case, bool Passed, double MaxAbsError, double Tolerance, string Worst,
    double Milliseconds, string? Error);

/// <summary>
/// Runs <see cref="CceCase"/>s on a context and compares every output with <see cref="CceReference"/>.
/// Tolerances: 1e-4 (× the output's scale, plus 1e-4 relative) for fp32 accumulation; plus the
/// rounding of 16-bit gradient outputs; plus, when the gradient filter is on, the largest contribution
/// it may drop.
/// </summary>
public static class CceVerifier
{
    private const double Atol = 1e-4, Rtol = 1e-4;

    /// <summary>Runs one case; exceptions from the backend become a failed result.</summary>
    public static CceCaseResult Run(EngramContext context, CceCase c)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(c);
        return (c.DType, c.TargetDType, c.GradsInInputType) switch
        {
            (EngramDType.F16, EngramDType.I32, true) => Run<Half, int, Half>(context, c),
            (EngramDType.F16, EngramDType.I32, false) => Run<Half, int, float>(context, c),
            (EngramDType.F16, _, true) => Run<Half, long, Half>(context, c),
            (EngramDType.F16, _, false) => Run<Half, long, float>(context, c),
            (EngramDType.BF16, EngramDType.I32, true) => Run<BFloat16, int, BFloat16>(context, c),
            (EngramDType.BF16, EngramDType.I32, false) => Run<BFloat16, int, float>(context, c),
            (EngramDType.BF16, _, true) => Run<BFloat16, long, BFloat16>(context, c),
            (EngramDType.BF16, _, false) => Run<BFloat16, long, float>(context, c),
            (_, EngramDType.I32, _) => Run<float, int, float>(context, c),
            _ => Run<float, long, float>(context, c),
        };
    }

    private static CceCaseResult Run<T, TTarget, TGrad>(EngramContext context, CceCase c)
        where T : unmanaged where TTarget : unmanaged where TGrad : unmanaged
    {
        var data = CceCaseData.Create(c);
        var typed = new Typed<T, TTarget>(data);
        var meter = new ErrorMeter();
        var sw = new Stopwatch();
        try
        {
            switch (c.Kind)
            {
                case CceCaseKind.Forward: Forward(context, c, typed, meter, sw); break;
                case CceCaseKind.Backward: Backward<T, TTarget, TGrad>(context, c, typed, data, meter, sw); break;
                case CceCaseKind.ForwardBackward: ForwardBackward<T, TTarget, TGrad>(context, c, typed, data, meter, sw); break;
                default: Shards<T, TTarget, TGrad>(context, c, typed, data, meter, sw); break;
            }
        }
#pragma warning disable CA1031 // a failing backend is a failed case, reported with its message
        catch (Exception e) when (e is EngramException or ArgumentException or InvalidOperationException or NotSupportedException)
        {
            return new CceCaseResult(c, false, double.NaN, double.NaN, "", sw.Elapsed.TotalMilliseconds, e.Message);
        }
#pragma warning restore CA1031
        return new CceCaseResult(c, meter.Passed, meter.MaxAbsError, meter.ToleranceAtWorst, meter.Worst,
            sw.Elapsed.TotalMilliseconds, null);
    }

    private static void Forward<T, TTarget>(EngramContext ctx, CceCase c, Typed<T, TTarget> x, ErrorMeter meter,
        Stopwatch sw)
        where T : unmanaged where TTarget : unmanaged
    {
        var o = c.Options;
        var loss = new float[o.LossLength(c.N)];
        var lse = new float[c.N];
        sw.Start();
        Cce.Forward(ctx, x.Inputs(), loss, lse, o);
        sw.Stop();
        var r = CceReference.Forward(x.Reference, o);
        meter.Add("loss", Elements.Widen<float>(loss), r.Loss, Atol, Rtol);
        meter.Add("lse", Elements.Widen<float>(lse), r.Lse, Atol, Rtol);
    }

    private static void Backward<T, TTarget, TGrad>(EngramContext ctx, CceCase c, Typed<T, TTarget> x,
        CceCaseData data, ErrorMeter meter, Stopwatch sw)
        where T : unmanaged where TTarget : unmanaged where TGrad : unmanaged
    {
        var o = c.Options;
        float[] lse = c.PassLse ? Array.ConvertAll(CceReference.Forward(x.Reference, o).Lse, v => (float)v) : [];
        float[] gradLoss = c.PassGradLoss ? data.GradLoss[..(int)o.LossLength(c.N)] : [];
        var g = new GradBuffers<TGrad>(c);
        sw.Start();
        Cce.Backward(ctx, x.Inputs(), g.AsGrads(), lse, gradLoss, o);
        sw.Stop();
        CompareGrads(c, x.Reference, gradLoss, g, meter);
    }

    private static void ForwardBackward<T, TTarget, TGrad>(EngramContext ctx, CceCase c, Typed<T, TTarget> x,
        CceCaseData data, ErrorMeter meter, Stopwatch sw)
        where T : unmanaged where TTarget : unmanaged where TGrad : unmanaged
    {
        var o = c.Options;
        var loss = new float[o.LossLength(c.N)];
        var lse = new float[c.N];
        float[] gradLoss = c.PassGradLoss ? data.GradLoss[..(int)o.LossLength(c.N)] : [];
        var g = new GradBuffers<TGrad>(c);
        sw.Start();
        Cce.ForwardBackward(ctx, x.Inputs(), g.AsGrads(), loss, lse, gradLoss, o);
        sw.Stop();
        var r = CceReference.Forward(x.Reference, o);
        meter.Add("loss", Elements.Widen<float>(loss), r.Loss, Atol, Rtol);
        meter.Add("lse", Elements.Widen<float>(lse), r.Lse, Atol, Rtol);
        CompareGrads(c, x.Reference, gradLoss, g, meter);
    }

    private static void Shards<T, TTarget, TGrad>(EngramContext ctx, CceCase c, Typed<T, TTarget> x,
        CceCaseData data, ErrorMeter meter, Stopwatch sw)
        where T : unmanaged where TTarget : unmanaged where TGrad : unmanaged
    {
        var o = c.Options;
        int n = c.N, d = c.D;
        int[] bounds = data.ShardBounds;
        int shards = bounds.Length - 1;
        var shardLse = new float[shards * n];
        var targetLogit = new float[n];
        var logitSum = new float[n];
        var partialT = new float[n];
        var partialS = new float[n];
        for (int s = 0; s < shards; s++)
        {
            int start = bounds[s], count = bounds[s + 1] - bounds[s];
            sw.Start();
            Cce.ShardForward(ctx, x.ShardInputs(start, count), shardLse.AsSpan(s * n, n), partialT, partialS, o);
            sw.Stop();
            var rs = CceReference.Shard(x.Reference, o, start, count);
            meter.Add($"shard{s}.lse", Elements.Widen<float>(shardLse.AsSpan(s * n, n)), rs.Lse, Atol, Rtol);
            for (int i = 0; i < n; i++)
            {
                targetLogit[i] += partialT[i]; // the all-reduce SUM a real job would do
                logitSum[i] += partialS[i];
            }
        }
        var loss = new float[o.LossLength(n)];
        var lse = new float[n];
        sw.Start();
        Cce.ShardCombine(ctx, shards, c.V, shardLse, targetLogit, logitSum, x.Targets, loss, lse, o);
        sw.Stop();
        var r = CceReference.Forward(x.Reference, o);
        meter.Add("loss", Elements.Widen<float>(loss), r.Loss, Atol, Rtol);
        meter.Add("lse", Elements.Widen<float>(lse), r.Lse, Atol, Rtol);

        // Each shard's backward with the global lse: dE partials summed, dC and dBias concatenated.
        float[] gradLoss = c.PassGradLoss ? data.GradLoss[..(int)o.LossLength(n)] : [];
        var all = new GradBuffers<TGrad>(c);
        var sumE = new double[n * d];
        for (int s = 0; s < shards; s++)
        {
            int start = bounds[s], count = bounds[s + 1] - bounds[s];
            var part = new GradBuffers<TGrad>(c, count);
            sw.Start();
            Cce.Backward(ctx, x.ShardInputs(start, count), part.AsGrads(), lse, gradLoss, o);
            sw.Stop();
            for (int i = 0; i < sumE.Length; i++) sumE[i] += Elements.ToDouble(part.E[i]);
            part.C.CopyTo(all.C.AsSpan(start * d, count * d));
            if (c.HasBias) part.Bias.CopyTo(all.Bias.AsSpan(start, count));
        }
        var rg = CceReference.Backward(x.Reference, o, gradLoss);
        var (atol, rtol, slack) = GradTolerance(c, x.Reference, rg);
        meter.Add("grad_e", sumE, rg.E, atol * shards, rtol, slack.E);
        meter.Add("grad_c", Elements.Widen<TGrad>(all.C), rg.C, atol, rtol, slack.C);
        if (c.HasBias) meter.Add("grad_bias", Elements.Widen<TGrad>(all.Bias), rg.Bias, atol, rtol, slack.Bias);
    }

    private static void CompareGrads<TGrad>(CceCase c, CceReferenceProblem p, float[] gradLoss, GradBuffers<TGrad> g,
        ErrorMeter meter) where TGrad : unmanaged
    {
        var r = CceReference.Backward(p, c.Options, gradLoss);
        var (atol, rtol, slack) = GradTolerance(c, p, r);
        meter.Add("grad_e", Elements.Widen<TGrad>(g.E), r.E, atol, rtol, slack.E);
        meter.Add("grad_c", Elements.Widen<TGrad>(g.C), r.C, atol, rtol, slack.C);
        if (c.HasBias) meter.Add("grad_bias", Elements.Widen<TGrad>(g.Bias), r.Bias, atol, rtol, slack.Bias);
    }

    // fp32 accumulation, plus the rounding of a 16-bit output, plus what the filter may drop: every
    // skipped |dloss/dz| < eps, so dE[i,k] loses at most eps·up_i·Σ_j|C[j,k]|, dC[j,k] at most
    // eps·Σ_i up_i·|E[i,k]|, dBias[j] at most eps·Σ_i up_i (the softcap factor is ≤ 1).
    private static (double Atol, double Rtol, (double E, double C, double Bias) Slack) GradTolerance(CceCase c,
        CceReferenceProblem p, CceReferenceGrads r)
    {
        double rounding = !c.GradsInInputType ? 0 : c.DType switch
        {
            EngramDType.BF16 => 1.0 / 256,
            EngramDType.F16 => 1.0 / 2048,
            _ => 0,
        };
        double eps = c.Options.ResolvedFilterEps(c.DType);
        double maxUp = r.Upstream.Select(Math.Abs).DefaultIfEmpty(0).Max();
        double sumUp = r.Upstream.Sum(Math.Abs);
        double maxC = p.C.Select(Math.Abs).Max(), maxE = p.E.Select(Math.Abs).Max();
        var slack = (eps * maxUp * p.V * maxC, eps * sumUp * maxE, eps * sumUp);
        return (Atol + rounding, Rtol + rounding, slack);
    }

    /// <summary>The inputs of a case in their element types, and the same values widened for the reference.</summary>
    private sealed class Typed<T, TTarget>
        where T : unmanaged where TTarget : unmanaged
    {
        private readonly CceCase _c;

        public Typed(CceCaseData data)
        {
            _c = data.Case;
            E = Elements.Array<T>(data.E);
            C = Elements.Array<T>(data.C);
            Bias = data.Bias is null ? null : Elements.Array<T>(data.Bias);
            Targets = Elements.Array<TTarget>(data.Targets.Select(t => (double)t).ToArray());
            Reference = new CceReferenceProblem(_c.N, _c.D, _c.V, Elements.Widen<T>(E), Elements.Widen<T>(C),
                Bias is null ? null : Elements.Widen<T>(Bias), data.Targets);
        }

        public T[] E { get; }
        public T[] C { get; }
        public T[]? Bias { get; }
        public TTarget[] Targets { get; }
        public CceReferenceProblem Reference { get; }

        public CceInputs<T, TTarget> Inputs() => new(new CceShape(_c.N, _c.D, _c.V), E, C, Targets, Bias);

        public CceInputs<T, TTarget> ShardInputs(int start, int count) =>
            new(CceShape.Shard(_c.N, _c.D, start, count, _c.V), E, C.AsSpan(start * _c.D, count * _c.D), Targets,
                Bias is null ? default : Bias.AsSpan(start, count));
    }

    /// <summary>Gradient outputs of a case (or of one shard with <c>v</c> rows).</summary>
    private sealed class GradBuffers<TGrad> where TGrad : unmanaged
    {
        public GradBuffers(CceCase c, int v = -1)
        {
            if (v < 0) v = c.V;
            E = new TGrad[c.N * c.D];
            C = new TGrad[v * c.D];
            Bias = c.HasBias ? new TGrad[v] : [];
        }

        public TGrad[] E { get; }
        public TGrad[] C { get; }
        public TGrad[] Bias { get; }

        public CceGrads<TGrad> AsGrads() => new(E, C, Bias);
    }
}
