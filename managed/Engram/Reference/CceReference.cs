using Engram.Ops;

namespace Engram.Reference;

/// <summary>A CCE problem in float64 for the reference: the full (unsharded) vocabulary.</summary>
/// <param name="N">Tokens.</param>
/// <param name="D">Hidden size.</param>
/// <param name="V">Vocabulary size.</param>
/// <param name="E">Hidden states [n, d].</param>
/// <param name="C">Classifier [v, d].</param>
/// <param name="Bias">Bias [v] or null.</param>
/// <param name="Targets">Target ids [n].</param>
public sealed record CceReferenceProblem(int N, int D, int V, double[] E, double[] C, double[]? Bias, long[] Targets);

/// <summary>Forward results of the reference.</summary>
/// <param name="TokenLoss">Per-token loss [n] (0 for ignored tokens).</param>
/// <param name="Lse">Per-token log-sum-exp [n] (0 for ignored tokens).</param>
/// <param name="Loss">The loss as the reduction writes it: [n] or [1].</param>
/// <param name="Valid">Tokens not equal to ignore_index.</param>
public sealed record CceReferenceForward(double[] TokenLoss, double[] Lse, double[] Loss, int Valid);

/// <summary>Exact gradients of the reference (no filter).</summary>
/// <param name="E">dLoss/dE [n, d].</param>
/// <param name="C">dLoss/dC [v, d].</param>
/// <param name="Bias">dLoss/dBias [v].</param>
/// <param name="Upstream">The upstream gradient each token's loss received [n].</param>
public sealed record CceReferenceGrads(double[] E, double[] C, double[] Bias, double[] Upstream);

/// <summary>The partial results of one vocabulary shard [start, start + count).</summary>
/// <param name="Lse">The shard's log-sum-exp per token.</param>
/// <param name="TargetLogit">The target logit if the target is in the shard, else 0.</param>
/// <param name="LogitSum">The sum of the shard's logits.</param>
public sealed record CceReferenceShard(double[] Lse, double[] TargetLogit, double[] LogitSum);

/// <summary>
/// The plain, obviously-correct CCE: float64, materialised logits per token, straight from the formula
/// in engram.h. Used by <c>engram verify</c> and the tests; never fast, never used for real work.
/// loss_i = (1 - s)(lse_i - z[i, t_i]) + s (lse_i - mean_j z[i, j]) + z_loss · lse_i², computed as
/// lse_i − (1 − s) z[i, t_i] − s Σ_j z[i, j] / V + z_loss · lse_i² (the terms of disabled options absent),
/// with lse as torch.logsumexp: non-finite inputs give the NaN / ±inf that PyTorch would.
/// </summary>
public static class CceReference
{
    /// <summary>Logits of token <paramref name="i"/> over columns [start, start + count), softcapped.</summary>
    public static double[] Logits(CceReferenceProblem p, CceOptions o, int i, int start = 0, int count = -1)
    {
        if (count < 0) count = p.V;
        var z = new double[count];
        for (int j = 0; j < count; j++)
        {
            double acc = 0;
            for (int k = 0; k < p.D; k++) acc += p.E[(long)i * p.D + k] * p.C[(long)(start + j) * p.D + k];
            if (p.Bias is not null) acc += p.Bias[start + j];
            z[j] = o.Softcap > 0 ? o.Softcap * Math.Tanh(acc / o.Softcap) : acc;
        }
        return z;
    }

    /// <summary>
    /// log Σ exp, stable, as torch.logsumexp (and engram's backends): shifted by the maximum when it is
    /// finite and by 0 otherwise, so that exp never sees inf − inf. A NaN gives NaN, a +inf (and no NaN)
    /// gives +inf, only −inf values (or none) give −inf.
    /// </summary>
    public static double LogSumExp(ReadOnlySpan<double> z)
    {
        double m = double.NegativeInfinity;
        foreach (double x in z) m = Math.Max(m, x); // NaN-propagating
        double shift = double.IsFinite(m) ? m : 0;
        double s = 0;
        foreach (double x in z) s += Math.Exp(x - shift);
        return shift + Math.Log(s);
    }

    /// <summary>
    /// The loss of one token from its lse, target logit and logit sum, as the backends compute it:
    /// lse − (1 − s)·z_t − s·Σz/V + z_loss·lse². The smoothing and z-loss terms are absent (not
    /// multiplied by 0) when off, so an infinite lse or logit sum does not turn into 0·inf = NaN.
    /// </summary>
    public static double TokenLoss(double lse, double targetLogit, double logitSum, int vocab, CceOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        double loss = lse - (1 - (double)o.LabelSmoothing) * targetLogit;
        if (o.LabelSmoothing > 0) loss -= o.LabelSmoothing * logitSum / vocab;
        if (o.ZLoss > 0) loss += o.ZLoss * lse * lse;
        return loss;
    }

    /// <summary>
    /// dloss/dz_j of one token before the upstream gradient and the softcap chain rule:
    /// exp(z_j − lse)·(1 + 2·z_loss·lse) − s/V − [j = t](1 − s), the z-loss factor absent when z_loss is 0.
    /// </summary>
    public static double LogitGrad(double z, double lse, bool isTarget, int vocab, CceOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        double scale = o.ZLoss > 0 ? 1 + 2 * o.ZLoss * lse : 1;
        double g = Math.Exp(z - lse) * scale - o.LabelSmoothing / (double)vocab;
        if (isTarget) g -= 1 - (double)o.LabelSmoothing;
        return g;
    }

    /// <summary>Per-token loss and lse, and the reduced loss.</summary>
    public static CceReferenceForward Forward(CceReferenceProblem p, CceOptions o)
    {
        var tokenLoss = new double[p.N];
        var lse = new double[p.N];
        int valid = 0;
        for (int i = 0; i < p.N; i++)
        {
            if (p.Targets[i] == o.IgnoreIndex) continue;
            valid++;
            double[] z = Logits(p, o, i);
            double l = LogSumExp(z);
            long t = p.Targets[i];
            double zt = t >= 0 && t < p.V ? z[t] : 0;
            lse[i] = l;
            tokenLoss[i] = TokenLoss(l, zt, z.Sum(), p.V, o);
        }
        double[] loss = o.Reduction switch
        {
            CceReduction.None => (double[])tokenLoss.Clone(),
            CceReduction.Sum => [tokenLoss.Sum()],
            _ => [valid > 0 ? tokenLoss.Sum() / valid : 0],
        };
        return new CceReferenceForward(tokenLoss, lse, loss, valid);
    }

    /// <summary>The upstream gradient of each token's loss, given the caller's gradLoss (null = 1).</summary>
    public static double[] Upstream(CceReferenceProblem p, CceOptions o, ReadOnlySpan<float> gradLoss)
    {
        int valid = p.Targets.Count(t => t != o.IgnoreIndex);
        var up = new double[p.N];
        double g0 = gradLoss.IsEmpty ? 1 : gradLoss[0];
        for (int i = 0; i < p.N; i++)
        {
            if (p.Targets[i] == o.IgnoreIndex) continue;
            up[i] = o.Reduction switch
            {
                CceReduction.None => gradLoss.IsEmpty ? 1 : gradLoss[i],
                CceReduction.Sum => g0,
                _ => valid > 0 ? g0 / valid : 0,
            };
        }
        return up;
    }

    /// <summary>Exact gradients (the filter is not applied: callers widen tolerances by its bound).</summary>
    public static CceReferenceGrads Backward(CceReferenceProblem p, CceOptions o, ReadOnlySpan<float> gradLoss)
    {
        var de = new double[(long)p.N * p.D];
        var dc = new double[(long)p.V * p.D];
        var db = new double[p.V];
        double[] up = Upstream(p, o, gradLoss);
        for (int i = 0; i < p.N; i++)
        {
            if (p.Targets[i] == o.IgnoreIndex) continue;
            double[] z = Logits(p, o, i);
            double l = LogSumExp(z);
            for (int j = 0; j < p.V; j++)
            {
                // d/dz_j of (1-s)(lse - z_t) + s(lse - mean z) + zl·lse², times the upstream gradient
                // and the softcap's chain factor, in plain IEEE arithmetic (NaN where 0·inf or inf − inf).
                double g = LogitGrad(z[j], l, j == p.Targets[i], p.V, o);
                double chain = up[i];
                if (o.Softcap > 0) chain *= 1 - (z[j] / o.Softcap) * (z[j] / o.Softcap);
                g *= chain;
                for (int k = 0; k < p.D; k++)
                {
                    de[(long)i * p.D + k] += g * p.C[(long)j * p.D + k];
                    dc[(long)j * p.D + k] += g * p.E[(long)i * p.D + k];
                }
                db[j] += g;
            }
        }
        return new CceReferenceGrads(de, dc, db, up);
    }

    /// <summary>What a shard [start, start + count) reports from ShardForward.</summary>
    public static CceReferenceShard Shard(CceReferenceProblem p, CceOptions o, int start, int count)
    {
        var lse = new double[p.N];
        var target = new double[p.N];
        var sum = new double[p.N];
        for (int i = 0; i < p.N; i++)
        {
            if (p.Targets[i] == o.IgnoreIndex) continue;
            double[] z = Logits(p, o, i, start, count);
            lse[i] = LogSumExp(z);
            sum[i] = z.Sum();
            long t = p.Targets[i] - start;
            target[i] = t >= 0 && t < count ? z[t] : 0;
        }
        return new CceReferenceShard(lse, target, sum);
    }
}
