namespace Engram.Ops;

/// <summary>
/// The KV cache of the ILGPU port, kept in host memory (the fallback reads a layer's kept tokens once
/// per decode): the semantics of engram_attention.h, each token rounded to the storage dtype on append
/// and held widened to fp32. Retrieval heads keep every token; streaming heads keep the first
/// SinkTokens tokens and a ring of the last Window. Byte counts in <see cref="Info"/> are the bytes the
/// kept tokens take in the storage dtype, counted as libengram allocates them (keys and values of a head
/// each one 64-byte aligned buffer), without the slack of libengram's doubling growth: equal to
/// libengram's counts for full streaming heads and for retrieval heads at capacity.
/// </summary>
internal sealed class IlgpuKvCacheStore : IKvCacheStore
{
    private readonly KvCacheConfig _c;
    private readonly long[] _length;
    private int[] _policy;
    // Per (layer, head): keys and values, [kept slot, D] in fp32. Streaming heads: slots 0..sink-1 are
    // the sinks, then the ring (slot sink + (pos - sink) % window).
    private readonly List<float>[] _keys, _values;

    public IlgpuKvCacheStore(KvCacheConfig config, int[] policy)
    {
        _c = config;
        _policy = policy;
        _length = new long[config.Layers];
        int n = config.Layers * config.KvHeads;
        _keys = new List<float>[n];
        _values = new List<float>[n];
        for (int i = 0; i < n; i++)
        {
            _keys[i] = [];
            _values[i] = [];
        }
    }

    public KvCacheConfig Config => _c;

    public void Reset()
    {
        Array.Clear(_length);
        foreach (var l in _keys) l.Clear();
        foreach (var l in _values) l.Clear();
    }

    public void SetPolicy(ReadOnlySpan<int> policy)
    {
        const string op = "ilgpu attention_cache_set_policy";
        if (policy.Length != _policy.Length)
            throw new EngramArgumentException($"{op}: count = {policy.Length}, expected layers * kv_heads = {_policy.Length}");
        for (int i = 0; i < policy.Length; i++)
            if (policy[i] is not (0 or 1))
                throw new EngramArgumentException($"{op}: policy[{i}] = {policy[i]} is not an engram_attention_head_policy");
        if (_length.Any(l => l != 0))
            throw new EngramArgumentException($"{op}: the cache is not empty (reset it first)");
        _policy = policy.ToArray();
    }

    public KvCacheInfo Info(int layer)
    {
        CheckLayer("ilgpu attention_cache_get_info", layer);
        long length = _length[layer];
        long streamingTokens = StreamingKept(length);
        int retrieval = 0, streaming = 0;
        ulong layerBytes = 0, streamingBytes = 0, total = 0;
        for (int l = 0; l < _c.Layers; l++)
        {
            for (int h = 0; h < _c.KvHeads; h++)
            {
                bool isStreaming = _policy[l * _c.KvHeads + h] == 1;
                ulong bytes = 2 * Round64((ulong)Kept(l, h) * RowBytes);
                total += bytes;
                if (l != layer) continue;
                layerBytes += bytes;
                if (isStreaming)
                {
                    streaming++;
                    streamingBytes += bytes;
                }
                else retrieval++;
            }
        }
        return new KvCacheInfo(layer, length, length, streamingTokens, retrieval, streaming, layerBytes, streamingBytes, total);
    }

    public void Append(int layer, long tokens, EngramDType dtype, ReadOnlySpan<byte> k, ReadOnlySpan<byte> v)
    {
        const string op = "ilgpu attention_cache_append";
        CheckLayer(op, layer);
        CheckTokens(op, layer, tokens, dtype);
        AppendUnchecked(layer, (int)tokens, Widen(k, dtype), Widen(v, dtype));
    }

    public void Decode(int layer, long qHeads, EngramDType dtype, ReadOnlySpan<byte> q, Span<byte> output,
        AttentionOptions o) => throw new InvalidOperationException("the ILGPU port runs decode (IlgpuAttentionBackend)");

    public void Prefill(int layer, long qHeads, long tokens, EngramDType dtype, ReadOnlySpan<byte> q,
        ReadOnlySpan<byte> k, ReadOnlySpan<byte> v, Span<byte> output, AttentionOptions o) =>
        throw new EngramException(EngramStatus.Unsupported, "attention_prefill has no ILGPU port");

    public void Dispose() { }

    /// <summary>Kept tokens of (layer, head).</summary>
    public int Kept(int layer, int head) => _keys[layer * _c.KvHeads + head].Count / _c.HeadDim;

    public long Length(int layer) => _length[layer];

    /// <summary>The kept keys and values of (layer, head), [Kept, D] fp32 (sinks first, then the ring in slot order).</summary>
    public (List<float> Keys, List<float> Values) Head(int layer, int head) =>
        (_keys[layer * _c.KvHeads + head], _values[layer * _c.KvHeads + head]);

    public void CheckLayer(string op, int layer)
    {
        if (layer < 0 || layer >= _c.Layers)
            throw new EngramArgumentException($"{op}: layer = {layer} is outside [0, {_c.Layers})");
    }

    private ulong RowBytes => (ulong)_c.HeadDim * (ulong)DTypes.Size(_c.DType);

    private static ulong Round64(ulong bytes) => (bytes + 63) & ~63UL;

    private long StreamingKept(long length) =>
        Math.Min(length, _c.SinkTokens) + Math.Min(Math.Max(length - _c.SinkTokens, 0), _c.Window);

    private bool HasRetrieval(int layer)
    {
        for (int h = 0; h < _c.KvHeads; h++)
            if (_policy[layer * _c.KvHeads + h] == 0) return true;
        return false;
    }

    private void CheckTokens(string op, int layer, long tokens, EngramDType dtype)
    {
        if (tokens <= 0) throw new EngramArgumentException($"{op}: tokens must be positive, got {tokens}");
        if (dtype != EngramDType.F32 && dtype != _c.DType)
            throw new EngramArgumentException(
                $"{op}: dtype = {DTypes.Name(dtype)}: k and v are f32 or the cache's storage dtype ({DTypes.Name(_c.DType)})");
        if (HasRetrieval(layer) && _length[layer] + tokens > _c.Capacity)
            throw new EngramArgumentException(
                $"{op}: appending {tokens} tokens to layer {layer} (length {_length[layer]}) exceeds the capacity {_c.Capacity}");
    }

    // k, v [H_kv, tokens, D] widened and rounded to the storage dtype.
    private void AppendUnchecked(int layer, int tokens, float[] k, float[] v)
    {
        int d = _c.HeadDim;
        ulong evicted = 0;
        for (int h = 0; h < _c.KvHeads; h++)
        {
            var (keys, values) = Head(layer, h);
            bool streaming = _policy[layer * _c.KvHeads + h] == 1;
            for (int i = 0; i < tokens; i++)
            {
                long pos = _length[layer] + i;
                var kRow = k.AsSpan((h * tokens + i) * d, d);
                var vRow = v.AsSpan((h * tokens + i) * d, d);
                if (!streaming || pos < _c.SinkTokens + (long)_c.Window)
                {
                    keys.AddRange(kRow);
                    values.AddRange(vRow);
                    continue;
                }
                int slot = _c.SinkTokens + (int)((pos - _c.SinkTokens) % _c.Window);
                kRow.CopyTo(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(keys).Slice(slot * d, d));
                vRow.CopyTo(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(values).Slice(slot * d, d));
                evicted++;
            }
        }
        _length[layer] += tokens;
        LastAppend = (tokens, evicted);
    }

    /// <summary>Tokens and evicted window tokens of the last append (its op stats).</summary>
    public (long Tokens, ulong Evicted) LastAppend { get; private set; }

    private float[] Widen(ReadOnlySpan<byte> raw, EngramDType dtype)
    {
        var f = new float[raw.Length / DTypes.Size(dtype)];
        DTypes.ToSingle(raw, dtype, f);
        if (dtype != _c.DType)
        {
            // f32 input to 16-bit storage: round to nearest even, as libengram stores it.
            var stored = new byte[f.Length * DTypes.Size(_c.DType)];
            DTypes.FromSingle(f, _c.DType, stored);
            DTypes.ToSingle(stored, _c.DType, f);
        }
        return f;
    }
}
