using Engram.Backends;
using ILGPU;
using ILGPU.Runtime;

namespace Engram.Ops;

/// <summary>
/// Attention on an ILGPU accelerator (the fallback): caches held on the host
/// (<see cref="IlgpuKvCacheStore"/>), decode through <see cref="IlgpuAttentionKernels"/> (dense and
/// streaming heads alike: each reads the tokens it keeps). Prefill has no ILGPU port.
/// </summary>
internal sealed class IlgpuAttentionBackend : IAttentionBackend
{
    private static readonly EngramDType[] s_float = [EngramDType.F32, EngramDType.F16, EngramDType.BF16];

    /// <summary>The attention ops this port runs, by storage dtype.</summary>
    public static IReadOnlyDictionary<EngramOp, EngramDType[]> Ports { get; } = new Dictionary<EngramOp, EngramDType[]>
    {
        [EngramOp.AttentionCacheAppend] = s_float,
        [EngramOp.AttentionDecode] = s_float,
    };

    private readonly IlgpuEngine _engine;
    private readonly Action<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<int>,
        ArrayView<float>, AttentionKernelParams> _scores;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<int>,
        ArrayView<float>, AttentionKernelParams> _output;

    public IlgpuAttentionBackend(IlgpuEngine engine)
    {
        _engine = engine;
        var acc = engine.Accelerator;
        _scores = acc.LoadAutoGroupedStreamKernel<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<int>,
            ArrayView<int>, ArrayView<float>, AttentionKernelParams>(IlgpuAttentionKernels.Scores);
        _output = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>,
            ArrayView<int>, ArrayView<float>, AttentionKernelParams>(IlgpuAttentionKernels.Output);
    }

    public IKvCacheStore CreateCache(KvCacheConfig c)
    {
        const string op = "ilgpu attention_cache_create";
        if (c.DType is not (EngramDType.F32 or EngramDType.F16 or EngramDType.BF16))
            Fail(op, $"config->dtype = {DTypes.Name(c.DType)}: storage is f32, f16 or bf16");
        if (c.Layers < 1) Fail(op, $"config->layers must be >= 1, got {c.Layers}");
        if (c.KvHeads < 1) Fail(op, $"config->kv_heads must be >= 1, got {c.KvHeads}");
        if (c.HeadDim < 1 || c.HeadDim > 256) Fail(op, $"config->head_dim = {c.HeadDim} must be in [1, 256]");
        if (c.SinkTokens < 0) Fail(op, $"config->sink_tokens must be >= 0, got {c.SinkTokens}");
        if (c.Window < 1) Fail(op, $"config->window must be >= 1, got {c.Window}");
        if (c.Capacity < 1) Fail(op, $"config->capacity must be >= 1, got {c.Capacity}");
        int n = c.Layers * c.KvHeads;
        int[] policy = c.Policy is null ? new int[n] : c.Policy.Select(p => (int)p).ToArray();
        if (policy.Length != n) Fail(op, $"config->policy has {policy.Length} entries, expected layers * kv_heads = {n}");
        for (int i = 0; i < n; i++)
            if (policy[i] is not (0 or 1)) Fail(op, $"config->policy[{i}] = {policy[i]} is not an engram_attention_head_policy");
        return new Store(this, c, policy);
    }

    private void Decode(IlgpuKvCacheStore cache, int layer, long qHeads, EngramDType dtype, ReadOnlySpan<byte> q,
        Span<byte> output, AttentionOptions o)
    {
        const string op = "ilgpu attention_decode";
        var c = cache.Config;
        cache.CheckLayer(op, layer);
        if (qHeads < 1 || qHeads % c.KvHeads != 0 || qHeads > 65536)
            Fail(op, $"q_heads = {qHeads} must be a positive multiple of kv_heads = {c.KvHeads}");
        if (dtype is not (EngramDType.F32 or EngramDType.F16 or EngramDType.BF16))
            Fail(op, $"dtype = {DTypes.Name(dtype)}: q and out are f32, f16 or bf16");
        if (!float.IsFinite(o.Scale) || o.Scale < 0) Fail(op, $"opts->scale = {o.Scale} must be 0 (default) or finite and > 0");
        if (cache.Length(layer) == 0) Fail(op, $"layer {layer} is empty: append the token's keys and values first");
        CceChecks.NoOverlap(op, q, "q", output, "out");

        int d = c.HeadDim;
        var offsets = new int[c.KvHeads];
        var counts = new int[c.KvHeads];
        int total = 0, longest = 0;
        for (int h = 0; h < c.KvHeads; h++)
        {
            offsets[h] = total;
            counts[h] = cache.Kept(layer, h);
            total += counts[h];
            longest = Math.Max(longest, counts[h]);
        }
        var keys = new float[(long)total * d];
        var values = new float[(long)total * d];
        for (int h = 0; h < c.KvHeads; h++)
        {
            var (k, v) = cache.Head(layer, h);
            k.CopyTo(keys, offsets[h] * d);
            v.CopyTo(values, offsets[h] * d);
        }
        var prm = new AttentionKernelParams
        {
            QHeads = (int)qHeads,
            Group = (int)qHeads / c.KvHeads,
            D = d,
            MaxTokens = longest,
            Scale = o.ResolvedScale(d),
        };
        using var gate = _engine.Gate.EnterScope();
        using var scope = _engine.Scratch.Scope();
        var dq = scope.UploadWidened(q, dtype, qHeads * d);
        var dk = scope.Upload<float>(keys);
        var dv = scope.Upload<float>(values);
        var doff = scope.Upload<int>(offsets);
        var dcnt = scope.Upload<int>(counts);
        var scores = scope.Zeros<float>(qHeads * longest);
        var dout = scope.Zeros<float>(qHeads * d);
        _scores(new Index2D((int)qHeads, longest), dq.View, dk.View, doff.View, dcnt.View, scores.View, prm);
        _output((int)qHeads * d, scores.View, dv.View, doff.View, dcnt.View, dout.View, prm);
        _engine.Accelerator.Synchronize();
        DTypes.FromSingle(dout.GetAsArray1D(), dtype, output);
        _engine.RecordOp(EngramOp.AttentionDecode, new Dictionary<string, ulong>
        {
            ["tokens_attended"] = (ulong)total,
            ["kv_bytes_read"] = (ulong)total * 2UL * (ulong)d * (ulong)DTypes.Size(c.DType),
        });
    }

    private static void Fail(string op, string message) => throw new EngramArgumentException($"{op}: {message}");

    // The host cache plus the decode of this port.
    private sealed class Store(IlgpuAttentionBackend port, KvCacheConfig c, int[] policy) : IKvCacheStore
    {
        private readonly IlgpuKvCacheStore _cache = new(c, policy);

        public void Reset() => _cache.Reset();

        public void SetPolicy(ReadOnlySpan<int> p) => _cache.SetPolicy(p);

        public KvCacheInfo Info(int layer) => _cache.Info(layer);

        public void Append(int layer, long tokens, EngramDType dtype, ReadOnlySpan<byte> k, ReadOnlySpan<byte> v)
        {
            _cache.Append(layer, tokens, dtype, k, v);
            port._engine.RecordOp(EngramOp.AttentionCacheAppend, new Dictionary<string, ulong>
            {
                ["tokens_appended"] = (ulong)_cache.LastAppend.Tokens,
                ["tokens_evicted"] = _cache.LastAppend.Evicted,
            });
        }

        public void Decode(int layer, long qHeads, EngramDType dtype, ReadOnlySpan<byte> q, Span<byte> output,
            AttentionOptions o) => port.Decode(_cache, layer, qHeads, dtype, q, output, o);

        public void Prefill(int layer, long qHeads, long tokens, EngramDType dtype, ReadOnlySpan<byte> q,
            ReadOnlySpan<byte> k, ReadOnlySpan<byte> v, Span<byte> output, AttentionOptions o) =>
            _cache.Prefill(layer, qHeads, tokens, dtype, q, k, v, output, o);

        public void Dispose() => _cache.Dispose();
    }
}
