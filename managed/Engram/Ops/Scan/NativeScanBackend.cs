using Engram.Backends;
using Engram.Native;

namespace Engram.Ops;

/// <summary>Scans on libengram's CPU or CUDA backend (host spans; CUDA via <see cref="NativeStaging"/>).</summary>
internal sealed unsafe class NativeScanBackend : IScanBackend
{
    private readonly EngramContextHandle _ctx;
    private readonly bool _cuda;

    public NativeScanBackend(EngramContextHandle ctx, bool cuda)
    {
        _ctx = ctx;
        _cuda = cuda;
    }

    public void LinearForward(in ScanHostProblem p, ScanOptions o, EngramDType outputDType, Span<byte> output,
        Span<float> finalState)
    {
        var opts = o.ToNative(outputDType);
        fixed (byte* q = p.Q, k = p.K, v = p.V, po = output)
        fixed (float* g = p.G, s0 = p.InitialState, sf = finalState)
        {
            using var s = new NativeStaging(_ctx, _cuda);
            var inputs = Inputs(p, s, q, k, v, g, s0);
            NativeMethods.Check(NativeMethods.engram_scan_linear_forward(_ctx, &inputs, &opts,
                s.Out(po, output.Length), s.Out(sf, finalState.Length)));
            s.Finish();
        }
    }

    public void LinearDecode(in ScanHostProblem p, ScanOptions o, EngramDType outputDType, Span<byte> output,
        Span<float> stateOut)
    {
        var opts = o.ToNative(outputDType);
        fixed (byte* q = p.Q, k = p.K, v = p.V, po = output)
        fixed (float* g = p.G, s0 = p.InitialState, s1 = stateOut)
        {
            using var s = new NativeStaging(_ctx, _cuda);
            var inputs = Inputs(p, s, q, k, v, g, s0);
            NativeMethods.Check(NativeMethods.engram_scan_linear_decode(_ctx, &inputs, &opts,
                s.Out(po, output.Length), s.Out(s1, stateOut.Length)));
            s.Finish();
        }
    }

    public void LinearBackward(in ScanHostProblem p, ScanOptions o, EngramDType outputDType, ReadOnlySpan<byte> gradO,
        ReadOnlySpan<float> gradFinalState, in ScanHostGrads g)
    {
        var opts = o.ToNative(outputDType);
        fixed (byte* q = p.Q, k = p.K, v = p.V, go = gradO)
        fixed (float* pg = p.G, s0 = p.InitialState, gs = gradFinalState)
        fixed (byte* dq = g.Dq, dk = g.Dk, dv = g.Dv)
        fixed (float* dg = g.Dg, ds = g.DInitialState)
        {
            using var s = new NativeStaging(_ctx, _cuda);
            var inputs = Inputs(p, s, q, k, v, pg, s0);
            EngramScanGrads grads;
            NativeMethods.Check(NativeMethods.engram_scan_grads_init(&grads));
            grads.dtype = (int)g.DType;
            grads.dq = s.Out(dq, g.Dq.Length);
            grads.dk = s.Out(dk, g.Dk.Length);
            grads.dv = s.Out(dv, g.Dv.Length);
            grads.dg = s.Out(dg, g.Dg.Length);
            grads.d_initial_state = s.Out(ds, g.DInitialState.Length);
            NativeMethods.Check(NativeMethods.engram_scan_linear_backward(_ctx, &inputs, &opts,
                s.In(go, gradO.Length), s.In(gs, gradFinalState.Length), &grads));
            s.Finish();
        }
    }

    private static EngramScanInputs Inputs(in ScanHostProblem p, NativeStaging s, byte* q, byte* k, byte* v, float* g,
        float* initialState)
    {
        EngramScanInputs inputs;
        NativeMethods.Check(NativeMethods.engram_scan_inputs_init(&inputs));
        inputs.dtype = (int)p.DType;
        inputs.gate = (int)p.Gate;
        inputs.batch = p.Shape.Batch;
        inputs.t = p.Shape.T;
        inputs.heads = p.Shape.Heads;
        inputs.qk_heads = p.Shape.QkHeads;
        inputs.k_dim = p.Shape.KDim;
        inputs.v_dim = p.Shape.VDim;
        inputs.q = s.In(q, p.Q.Length);
        inputs.k = s.In(k, p.K.Length);
        inputs.v = s.In(v, p.V.Length);
        inputs.g = s.In(g, p.G.Length);
        inputs.initial_state = s.In(initialState, p.InitialState.Length);
        return inputs;
    }
}
