using ILGPU;
using ILGPU.Algorithms;

namespace Engram.Ops;

/// <summary>Scalars of one scan launch (a value-type kernel parameter).</summary>
internal struct ScanKernelParams
{
    public int B;
    public int T;
    public int H;
    public int Hk;
    public int K;
    public int V;
    public int Gate;
    public float Scale;
}

/// <summary>
/// The linear scan as ILGPU kernels: the token-by-token recurrence (the reference form of
/// engram_scan.h), one thread per (sequence, value head, value column j). Thread (b, h, j) owns column j
/// of its state S [K, V], kept in the state buffer itself, so no shared memory, atomics or local arrays
/// are needed and every output is computed by one thread in a fixed order (deterministic). The chunked
/// form is libengram's fast path; this one does T·K multiply-adds per thread.
/// </summary>
internal static class IlgpuScanKernels
{
    public static void Recurrent(Index1D index, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> g, ArrayView<float> state, ArrayView<float> o, ScanKernelParams p)
    {
        int j = index % p.V;
        int bh = index / p.V;
        int h = bh % p.H;
        int b = bh / p.H;
        int hk = h / (p.H / p.Hk);
        long sBase = (long)bh * p.K * p.V + j;
        for (int t = 0; t < p.T; t++)
        {
            long token = (long)b * p.T + t;
            long qk = (token * p.Hk + hk) * p.K;
            long vo = (token * p.H + h) * p.V;
            long go = token * p.H + h;
            float vj = v[vo + j];
            float scalarDecay = p.Gate == 1 ? XMath.Exp(g[go]) : 1f;
            float acc = 0f;
            for (int c = 0; c < p.K; c++)
            {
                float decay = p.Gate == 2 ? XMath.Exp(g[go * p.K + c]) : scalarDecay;
                long si = sBase + (long)c * p.V;
                float s = decay * state[si] + k[qk + c] * vj;
                state[si] = s;
                acc += s * q[qk + c];
            }
            o[vo + j] = p.Scale * acc;
        }
    }
}
