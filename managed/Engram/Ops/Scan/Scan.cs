using System.Runtime.InteropServices;

namespace Engram.Ops;

/// <summary>
/// Causal linear attention with an optional decay gate (engram_scan.h): per sequence and value head, the
/// fp32 state S_t = decay_t · S_{t-1} + k_t v_tᵀ and the output o_t = scale · S_tᵀ q_t. The forward is
/// chunk-parallel in libengram; the decode step advances the state by one token; the backward gives every
/// input's gradient. Span lengths are checked here (<see cref="ArgumentException"/> naming the span); every
/// other rule is libengram's (<see cref="EngramArgumentException"/>). The output element type
/// <c>TOut</c> is float or the inputs' type.
/// </summary>
public static class Scan
{
    /// <summary>
    /// Chunked forward: <paramref name="output"/> [B, T, H, V]; <paramref name="finalState"/> [B, H, K, V]
    /// receives S_T (or empty to skip), to pass as the next piece's initial state.
    /// </summary>
    public static void LinearForward<T, TOut>(EngramContext context, ScanInputs<T> inputs, Span<TOut> output,
        Span<float> finalState = default, ScanOptions? options = null)
        where T : unmanaged where TOut : unmanaged
    {
        ArgumentNullException.ThrowIfNull(context);
        var p = inputs.Check();
        var outType = DTypes.OfFloat<TOut>(nameof(output));
        ScanChecks.Length(output.Length, ScanChecks.Values(p.Shape), nameof(output), "B·T·H·V");
        ScanChecks.Optional(finalState.Length, ScanChecks.State(p.Shape), nameof(finalState), "B·H·K·V (or empty)");
        context.Scan(EngramOp.ScanLinearForward, p.DType).LinearForward(p, options ?? ScanOptions.Default, outType,
            MemoryMarshal.AsBytes(output), finalState);
    }

    /// <summary>
    /// One recurrent step (inputs.Shape.T = 1): inputs.InitialState is the state before the token (empty =
    /// zeros); writes <paramref name="output"/> [B, 1, H, V] and <paramref name="stateOut"/> [B, H, K, V]
    /// (required; it may be the same memory as inputs.InitialState, updated in place).
    /// </summary>
    public static void LinearDecode<T, TOut>(EngramContext context, ScanInputs<T> inputs, Span<TOut> output,
        Span<float> stateOut, ScanOptions? options = null)
        where T : unmanaged where TOut : unmanaged
    {
        ArgumentNullException.ThrowIfNull(context);
        var p = inputs.Check();
        var outType = DTypes.OfFloat<TOut>(nameof(output));
        ScanChecks.Length(output.Length, ScanChecks.Values(p.Shape), nameof(output), "B·T·H·V");
        ScanChecks.Length(stateOut.Length, ScanChecks.State(p.Shape), nameof(stateOut), "B·H·K·V");
        context.Scan(EngramOp.ScanLinearDecode, p.DType).LinearDecode(p, options ?? ScanOptions.Default, outType,
            MemoryMarshal.AsBytes(output), stateOut);
    }

    /// <summary>
    /// Gradients of <see cref="LinearForward"/> for the same inputs and options. <paramref name="gradO"/>
    /// [B, T, H, V] in the forward's output type; <paramref name="gradFinalState"/> [B, H, K, V] or empty
    /// (zero).
    /// </summary>
    public static void LinearBackward<T, TOut, TGrad>(EngramContext context, ScanInputs<T> inputs,
        ReadOnlySpan<TOut> gradO, ScanGrads<TGrad> grads, ReadOnlySpan<float> gradFinalState = default,
        ScanOptions? options = null)
        where T : unmanaged where TOut : unmanaged where TGrad : unmanaged
    {
        ArgumentNullException.ThrowIfNull(context);
        var p = inputs.Check();
        var g = grads.Check(p);
        var outType = DTypes.OfFloat<TOut>(nameof(gradO));
        ScanChecks.Length(gradO.Length, ScanChecks.Values(p.Shape), nameof(gradO), "B·T·H·V");
        ScanChecks.Optional(gradFinalState.Length, ScanChecks.State(p.Shape), nameof(gradFinalState), "B·H·K·V (or empty)");
        context.Scan(EngramOp.ScanLinearBackward, p.DType).LinearBackward(p, options ?? ScanOptions.Default, outType,
            MemoryMarshal.AsBytes(gradO), gradFinalState, g);
    }
}
