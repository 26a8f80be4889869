using BenchmarkDotNet.Attributes;
using Engram.Native;
using Engram.Ops;

namespace Engram.Overhead;

/// <summary>
/// The managed layer's cost per call. The CCE call is the smallest valid problem (n = 1, d = 8,
/// v = 8: a few hundred flops), so its time is almost all fixed cost; "raw" is the same call through
/// the P/Invoke declaration with a struct prepared once, so typed − raw is what the .NET layer adds.
/// </summary>
[MemoryDiagnoser]
public unsafe class OverheadBenchmarks
{
    private const int N = 1, D = 8, V = 8;
    private readonly float[] _e = new float[N * D], _c = new float[V * D], _loss = new float[N], _lse = new float[N];
    private readonly long[] _targets = new long[N];
    private EngramContext _context = null!;
    private EngramContextHandle _rawContext = null!;
    private static readonly CceOptions s_options = new() { Reduction = CceReduction.None };

    [GlobalSetup]
    public void Setup()
    {
        for (int i = 0; i < _e.Length; i++) _e[i] = 0.1f * i;
        for (int i = 0; i < _c.Length; i++) _c[i] = 0.05f * (i % 7);
        _targets[0] = 3;
        _context = EngramContext.Create(EngramBackend.NativeCpu);
        _context.Threads = 1; // the fixed cost, not a thread pool wake-up
        if (NativeMethods.engram_context_create(NativeBackendKind.Cpu, 0, out _rawContext) != EngramStatus.Ok)
            throw new InvalidOperationException("engram_context_create failed");
        NativeMethods.engram_context_set_threads(_rawContext, 1);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _context.Dispose();
        _rawContext.Dispose();
    }

    /// <summary>A P/Invoke with no arguments: the floor of any call.</summary>
    [Benchmark]
    public int AbiVersionCall() => EngramLibrary.AbiVersion;

    /// <summary>engram_cce_forward through the raw declaration (struct filled per call, arrays pinned).</summary>
    [Benchmark(Baseline = true)]
    public EngramStatus CceForwardRaw()
    {
        fixed (float* e = _e, c = _c, loss = _loss, lse = _lse)
        fixed (long* t = _targets)
        {
            EngramCceInputs inputs;
            NativeMethods.engram_cce_inputs_init(&inputs);
            inputs.n = N; inputs.d = D; inputs.v = V; inputs.e = e; inputs.c = c; inputs.targets = t;
            inputs.target_dtype = (int)EngramDType.I64;
            EngramCceOptions options;
            NativeMethods.engram_cce_options_init(&options);
            options.reduction = 0; // NONE
            return NativeMethods.engram_cce_forward(_rawContext, &inputs, &options, loss, lse);
        }
    }

    /// <summary>The same call through the typed API: span checks, option marshalling, status mapping.</summary>
    [Benchmark]
    public float CceForwardTyped()
    {
        Cce.Forward(_context, new CceInputs<float, long>(new CceShape(N, D, V), _e, _c, _targets), _loss, _lse, s_options);
        return _loss[0];
    }

    /// <summary>A context (native handle + SafeHandle) created and destroyed.</summary>
    [Benchmark]
    public void ContextCreateDispose()
    {
        using var context = EngramContext.Create(EngramBackend.NativeCpu);
    }
}
