using Engram.Ops;

namespace Engram.Tests;

/// <summary>
/// The float64 token-by-token recurrence of engram_scan.h, the reference of the scan tests: per (b, h),
/// S_t = decay_t ⊙ S_{t-1} + k_t v_tᵀ, o_t = scale · S_tᵀ q_t (q/k head h / (H / Hk)).
/// </summary>
internal sealed class ScanCase
{
    public ScanCase(ScanShape shape, ScanGate gate, int seed, bool initialState, double gateScale = 0.5)
    {
        Shape = shape;
        Gate = gate;
        var rng = new Random(seed);
        long qk = shape.Batch * shape.T * shape.QkHeadCount * shape.KDim;
        long vv = shape.Batch * shape.T * shape.Heads * shape.VDim;
        Q = TestSupport.Uniform(rng, (int)qk);
        K = TestSupport.Uniform(rng, (int)qk);
        V = TestSupport.Uniform(rng, (int)vv);
        long gn = gate switch
        {
            ScanGate.Scalar => shape.Batch * shape.T * shape.Heads,
            ScanGate.Vector => shape.Batch * shape.T * shape.Heads * shape.KDim,
            _ => 0,
        };
        // Log-decays in [-gateScale, 0): decays in (e^-gateScale, 1].
        G = Enumerable.Range(0, (int)gn).Select(_ => (float)(-rng.NextDouble() * gateScale)).ToArray();
        S0 = initialState ? TestSupport.Uniform(rng, (int)StateLength) : [];
    }

    public ScanShape Shape { get; }
    public ScanGate Gate { get; }
    public float[] Q { get; set; }
    public float[] K { get; set; }
    public float[] V { get; set; }
    public float[] G { get; }
    public float[] S0 { get; }
    public long StateLength => Shape.Batch * Shape.Heads * Shape.KDim * Shape.VDim;
    public long OutLength => Shape.Batch * Shape.T * Shape.Heads * Shape.VDim;

    /// <summary>Q, K, V rounded through <typeparamref name="T"/> (the values a 16-bit run reads).</summary>
    public (T[] Q, T[] K, T[] V) As<T>() where T : unmanaged
    {
        var dtype = DTypes.OfFloat<T>("T");
        T[] Convert(float[] src)
        {
            var dst = new T[src.Length];
            DTypes.FromSingle(src, dtype, System.Runtime.InteropServices.MemoryMarshal.AsBytes(dst.AsSpan()));
            var back = new float[src.Length];
            DTypes.ToSingle(System.Runtime.InteropServices.MemoryMarshal.AsBytes(dst.AsSpan()), dtype, back);
            back.CopyTo(src, 0); // the reference reads the rounded values
            return dst;
        }
        return (Convert(Q), Convert(K), Convert(V));
    }

    /// <summary>o [B, T, H, V] and S_T [B, H, K, V] in float64.</summary>
    public (double[] O, double[] State) Reference(double scale)
    {
        var s = Shape;
        int B = (int)s.Batch, T = (int)s.T, H = (int)s.Heads, Hk = (int)s.QkHeadCount, Kd = (int)s.KDim, Vd = (int)s.VDim;
        var o = new double[OutLength];
        var state = new double[StateLength];
        for (int i = 0; i < state.Length; i++) state[i] = S0.Length == 0 ? 0 : S0[i];
        for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
        {
            int hk = h / (H / Hk);
            long sb = ((long)b * H + h) * Kd * Vd;
            for (int t = 0; t < T; t++)
            {
                long tok = (long)b * T + t;
                long qk = (tok * Hk + hk) * Kd, vo = (tok * H + h) * Vd, go = tok * H + h;
                for (int c = 0; c < Kd; c++)
                {
                    double decay = Gate switch
                    {
                        ScanGate.Scalar => Math.Exp(G[go]),
                        ScanGate.Vector => Math.Exp(G[go * Kd + c]),
                        _ => 1,
                    };
                    for (int j = 0; j < Vd; j++)
                        state[sb + c * Vd + j] = decay * state[sb + c * Vd + j] + (double)K[qk + c] * V[vo + j];
                }
                for (int j = 0; j < Vd; j++)
                {
                    double acc = 0;
                    for (int c = 0; c < Kd; c++) acc += state[sb + c * Vd + j] * Q[qk + c];
                    o[vo + j] = scale * acc;
                }
            }
        }
        return (o, state);
    }

    public ScanInputs<float> Inputs() => new(Shape, Q, K, V, Gate, G, S0);
}
