using Engram.Backends;
using Engram.Native;

namespace Engram.Ops;

/// <summary>2-bit weights on libengram's CPU or CUDA backend (host spans; CUDA via <see cref="NativeStaging"/>).</summary>
internal sealed unsafe class NativeQMatmulBackend(EngramContextHandle ctx, bool cuda) : IQMatmulBackend
{
    public void Multiply(in QWeightHost w, long m, EngramDType xDType, ReadOnlySpan<byte> x, EngramDType yDType,
        Span<byte> y)
    {
        fixed (uint* pc = w.Codes)
        fixed (byte* ps = w.Scales, pz = w.Zeros, px = x, py = y)
        {
            using var s = new NativeStaging(ctx, cuda);
            EngramQWeight qw;
            NativeMethods.Check(NativeMethods.engram_qweight_init(&qw));
            qw.scale_dtype = (int)w.ScaleDType;
            qw.group_size = w.GroupSize;
            qw.layout = (int)w.Layout;
            qw.n_out = w.NOut;
            qw.k = w.K;
            qw.codes = (uint*)s.In(pc, 4L * w.Codes.Length);
            qw.code_words = (ulong)w.Codes.Length;
            qw.scales = s.In(ps, w.Scales.Length);
            qw.zeros = s.In(pz, w.Zeros.Length);
            NativeMethods.Check(NativeMethods.engram_qmatmul(ctx, &qw, m, xDType, s.In(px, x.Length), yDType,
                s.Out(py, y.Length)));
            s.Finish();
        }
    }

    public void QuantizeRtn(long nOut, long k, EngramDType wDType, ReadOnlySpan<byte> w, int groupSize,
        EngramDType scaleDType, Span<uint> codes, Span<byte> scales, Span<byte> zeros)
    {
        fixed (byte* pw = w, ps = scales, pz = zeros)
        fixed (uint* pc = codes)
        {
            using var s = new NativeStaging(ctx, cuda);
            NativeMethods.Check(NativeMethods.engram_qmatmul_quantize_rtn(ctx, nOut, k, wDType, s.In(pw, w.Length),
                groupSize, scaleDType, (uint*)s.Out(pc, 4L * codes.Length), (ulong)codes.Length,
                s.Out(ps, scales.Length), s.Out(pz, zeros.Length)));
            s.Finish();
        }
    }

    public void QuantizeRefine(long nOut, long k, EngramDType wDType, ReadOnlySpan<byte> w, int groupSize,
        EngramDType scaleDType, ReadOnlySpan<float> h, int iterations, Span<uint> codes, Span<byte> scales,
        Span<byte> zeros)
    {
        fixed (byte* pw = w, ps = scales, pz = zeros)
        fixed (float* ph = h)
        fixed (uint* pc = codes)
        {
            using var s = new NativeStaging(ctx, cuda);
            NativeMethods.Check(NativeMethods.engram_qmatmul_quantize_refine(ctx, nOut, k, wDType, s.In(pw, w.Length),
                groupSize, scaleDType, s.In(ph, h.Length), iterations, (uint*)s.Out(pc, 4L * codes.Length),
                (ulong)codes.Length, s.Out(ps, scales.Length), s.Out(pz, zeros.Length)));
            s.Finish();
        }
    }

    public void Pack(long nOut, long k, ReadOnlySpan<byte> codes, Span<uint> words)
    {
        fixed (byte* pc = codes)
        fixed (uint* pw = words)
        {
            using var s = new NativeStaging(ctx, cuda);
            NativeMethods.Check(NativeMethods.engram_qmatmul_pack(ctx, nOut, k, (byte*)s.In(pc, codes.Length),
                (uint*)s.Out(pw, 4L * words.Length), (ulong)words.Length));
            s.Finish();
        }
    }

    public void Unpack(long nOut, long k, ReadOnlySpan<uint> words, Span<byte> codes)
    {
        fixed (byte* pc = codes)
        fixed (uint* pw = words)
        {
            using var s = new NativeStaging(ctx, cuda);
            NativeMethods.Check(NativeMethods.engram_qmatmul_unpack(ctx, nOut, k, (uint*)s.In(pw, 4L * words.Length),
                (ulong)words.Length, (byte*)s.Out(pc, codes.Length)));
            s.Finish();
        }
    }

    public void Prepare(long nOut, long k, ReadOnlySpan<uint> plain, Span<uint> prepared)
    {
        fixed (uint* pp = plain, pq = prepared)
        {
            using var s = new NativeStaging(ctx, cuda);
            NativeMethods.Check(NativeMethods.engram_qmatmul_prepare(ctx, nOut, k, (uint*)s.In(pp, 4L * plain.Length),
                (ulong)plain.Length, (uint*)s.Out(pq, 4L * prepared.Length), (ulong)prepared.Length));
            s.Finish();
        }
    }

    public void Unprepare(long nOut, long k, ReadOnlySpan<uint> prepared, Span<uint> plain)
    {
        fixed (uint* pp = plain, pq = prepared)
        {
            using var s = new NativeStaging(ctx, cuda);
            NativeMethods.Check(NativeMethods.engram_qmatmul_unprepare(ctx, nOut, k,
                (uint*)s.In(pq, 4L * prepared.Length), (ulong)prepared.Length, (uint*)s.Out(pp, 4L * plain.Length),
                (ulong)plain.Length));
            s.Finish();
        }
    }
}
