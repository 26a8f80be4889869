namespace Engram.Ops;

/// <summary>The attention family's port on one backend: it makes the caches its ops run on.</summary>
internal interface IAttentionBackend
{
    /// <summary>An empty cache (the port checks the config as libengram does).</summary>
    IKvCacheStore CreateCache(KvCacheConfig config);
}

/// <summary>A cache of one backend and the ops over it (host spans, raw bytes of the given dtypes).</summary>
internal interface IKvCacheStore : IDisposable
{
    void Reset();

    void SetPolicy(ReadOnlySpan<int> policy);

    KvCacheInfo Info(int layer);

    void Append(int layer, long tokens, EngramDType dtype, ReadOnlySpan<byte> k, ReadOnlySpan<byte> v);

    void Decode(int layer, long qHeads, EngramDType dtype, ReadOnlySpan<byte> q, Span<byte> output, AttentionOptions o);

    void Prefill(int layer, long qHeads, long tokens, EngramDType dtype, ReadOnlySpan<byte> q, ReadOnlySpan<byte> k,
        ReadOnlySpan<byte> v, Span<byte> output, AttentionOptions o);
}
