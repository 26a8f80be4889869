using Engram.Backends;
using Engram.Native;

namespace Engram.Ops;

/// <summary>CCE on libengram's CPU or CUDA backend (host spans; CUDA via <see cref="NativeStaging"/>).</summary>
internal sealed unsafe class NativeCceBackend : ICceBackend
{
    private readonly EngramContextHandle _ctx;
    private readonly bool _cuda;

    public NativeCceBackend(EngramContextHandle ctx, bool cuda)
    {
        _ctx = ctx;
        _cuda = cuda;
    }

    public void Forward(in CceHostProblem p, CceOptions o, Span<float> loss, Span<float> lse)
    {
        var opts = o.ToNative();
        fixed (byte* e = p.E, c = p.C, b = p.Bias, t = p.Targets)
        fixed (float* pl = loss, pz = lse)
        {
            using var s = new NativeStaging(_ctx, _cuda);
            var inputs = Inputs(p, s, e, c, b, t);
            NativeMethods.Check(NativeMethods.engram_cce_forward(_ctx, &inputs, &opts,
                s.Out(pl, loss.Length), s.Out(pz, lse.Length)));
            s.Finish();
        }
    }

    public void Backward(in CceHostProblem p, CceOptions o, ReadOnlySpan<float> lse, ReadOnlySpan<float> gradLoss,
        in CceHostGrads g)
    {
        if (_cuda) CceChecks.Disjoint("engram_cce_backward (staged host spans)", p, g);
        var opts = o.ToNative();
        fixed (byte* e = p.E, c = p.C, b = p.Bias, t = p.Targets)
        fixed (float* pz = lse, pg = gradLoss)
        fixed (byte* ge = g.E, gc = g.C, gb = g.Bias)
        {
            using var s = new NativeStaging(_ctx, _cuda);
            var inputs = Inputs(p, s, e, c, b, t);
            var grads = Grads(g, s, ge, gc, gb);
            NativeMethods.Check(NativeMethods.engram_cce_backward(_ctx, &inputs, &opts,
                s.In(pz, lse.Length), s.In(pg, gradLoss.Length), &grads));
            s.Finish();
        }
    }

    public void ForwardBackward(in CceHostProblem p, CceOptions o, ReadOnlySpan<float> gradLoss, Span<float> loss,
        Span<float> lse, in CceHostGrads g)
    {
        if (_cuda) CceChecks.Disjoint("engram_cce_forward_backward (staged host spans)", p, g);
        var opts = o.ToNative();
        fixed (byte* e = p.E, c = p.C, b = p.Bias, t = p.Targets)
        fixed (float* pg = gradLoss, pl = loss, pz = lse)
        fixed (byte* ge = g.E, gc = g.C, gb = g.Bias)
        {
            using var s = new NativeStaging(_ctx, _cuda);
            var inputs = Inputs(p, s, e, c, b, t);
            var grads = Grads(g, s, ge, gc, gb);
            NativeMethods.Check(NativeMethods.engram_cce_forward_backward(_ctx, &inputs, &opts,
                s.In(pg, gradLoss.Length), s.Out(pl, loss.Length), s.Out(pz, lse.Length), &grads));
            s.Finish();
        }
    }

    public void ShardForward(in CceHostProblem p, CceOptions o, Span<float> shardLse, Span<float> targetLogit,
        Span<float> logitSum)
    {
        var opts = o.ToNative();
        fixed (byte* e = p.E, c = p.C, b = p.Bias, t = p.Targets)
        fixed (float* pz = shardLse, pt = targetLogit, ps = logitSum)
        {
            using var s = new NativeStaging(_ctx, _cuda);
            var inputs = Inputs(p, s, e, c, b, t);
            NativeMethods.Check(NativeMethods.engram_cce_shard_forward(_ctx, &inputs, &opts,
                s.Out(pz, shardLse.Length), s.Out(pt, targetLogit.Length), s.Out(ps, logitSum.Length)));
            s.Finish();
        }
    }

    public void ShardCombine(long n, long numShards, long vocabTotal, ReadOnlySpan<float> shardLse,
        ReadOnlySpan<float> targetLogit, ReadOnlySpan<float> logitSum, ReadOnlySpan<byte> targets,
        EngramDType targetDType, CceOptions o, Span<float> loss, Span<float> lse)
    {
        var opts = o.ToNative();
        fixed (float* pz = shardLse, pt = targetLogit, ps = logitSum, pl = loss, po = lse)
        fixed (byte* t = targets)
        {
            using var s = new NativeStaging(_ctx, _cuda);
            NativeMethods.Check(NativeMethods.engram_cce_shard_combine(_ctx, n, numShards, vocabTotal,
                s.In(pz, shardLse.Length), s.In(pt, targetLogit.Length), s.In(ps, logitSum.Length),
                s.In(t, targets.Length), targetDType, &opts, s.Out(pl, loss.Length), s.Out(po, lse.Length)));
            s.Finish();
        }
    }

    internal static EngramCceInputs Inputs(CceShape shape, EngramDType dtype, EngramDType targetDType, void* e,
        void* c, void* bias, void* targets)
    {
        EngramCceInputs inputs;
        NativeMethods.Check(NativeMethods.engram_cce_inputs_init(&inputs));
        inputs.dtype = (int)dtype;
        inputs.target_dtype = (int)targetDType;
        inputs.n = shape.N;
        inputs.d = shape.D;
        inputs.v = shape.V;
        inputs.vocab_start = shape.VocabStart;
        inputs.vocab_total = shape.VocabTotal;
        inputs.e = e;
        inputs.c = c;
        inputs.bias = bias;
        inputs.targets = targets;
        return inputs;
    }

    internal static EngramCceGrads Grads(EngramDType dtype, void* e, void* c, void* bias)
    {
        EngramCceGrads grads;
        NativeMethods.Check(NativeMethods.engram_cce_grads_init(&grads));
        grads.dtype = (int)dtype;
        grads.grad_e = e;
        grads.grad_c = c;
        grads.grad_bias = bias;
        return grads;
    }

    private static EngramCceInputs Inputs(in CceHostProblem p, NativeStaging s, byte* e, byte* c, byte* b, byte* t) =>
        Inputs(p.Shape, p.DType, p.TargetDType, s.In(e, p.E.Length), s.In(c, p.C.Length), s.In(b, p.Bias.Length),
            s.In(t, p.Targets.Length));

    private static EngramCceGrads Grads(in CceHostGrads g, NativeStaging s, byte* e, byte* c, byte* b) =>
        Grads(g.DType, s.Out(e, g.E.Length), s.Out(c, g.C.Length), s.Out(b, g.Bias.Length));
}
