using System.Runtime.InteropServices;

namespace Engram.Ops;

/// <summary>
/// Attention over a <see cref="KvCache"/> (engram_attention.h): softmax(scale · q·kᵀ) v over the tokens
/// each KV head keeps, query head h reading KV head h / (qHeads / H_kv). Runs on the cache's backend. Span
/// lengths are checked here (<see cref="ArgumentException"/> naming the span); every other rule is the
/// backend's (<see cref="EngramArgumentException"/>).
/// </summary>
public static class Attention
{
    /// <summary>
    /// Decode attention of one new token at <paramref name="layer"/> (append its keys and values first):
    /// <paramref name="q"/> and <paramref name="output"/> [qHeads, D] of float, Half or BFloat16.
    /// </summary>
    public static void Decode<T>(KvCache cache, int layer, long qHeads, ReadOnlySpan<T> q, Span<T> output,
        AttentionOptions? options = null) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(cache);
        var dtype = DTypes.OfFloat<T>(nameof(q));
        long? n = AttentionChecks.Queries(cache.Config, qHeads);
        AttentionChecks.Length(q.Length, n, nameof(q), "qHeads·HeadDim");
        AttentionChecks.Length(output.Length, n, nameof(output), "qHeads·HeadDim");
        cache.Port(EngramOp.AttentionDecode).Decode(layer, qHeads, dtype, MemoryMarshal.AsBytes(q),
            MemoryMarshal.AsBytes(output), options ?? AttentionOptions.Default);
    }

    /// <summary>
    /// Dense causal prefill of <paramref name="tokens"/> new tokens at <paramref name="layer"/>: attends
    /// the chunk's queries (each sees what a decode would after appending the chunk up to itself), then
    /// appends its keys and values. <paramref name="q"/>, <paramref name="output"/> [qHeads, tokens, D];
    /// <paramref name="k"/>, <paramref name="v"/> [H_kv, tokens, D]; float or the storage type.
    /// </summary>
    public static void Prefill<T>(KvCache cache, int layer, long qHeads, long tokens, ReadOnlySpan<T> q,
        ReadOnlySpan<T> k, ReadOnlySpan<T> v, Span<T> output, AttentionOptions? options = null) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(cache);
        var dtype = DTypes.OfFloat<T>(nameof(q));
        long? nq = AttentionChecks.Queries(cache.Config, qHeads, tokens);
        long? nkv = AttentionChecks.Kv(cache.Config, tokens);
        AttentionChecks.Length(q.Length, nq, nameof(q), "qHeads·tokens·HeadDim");
        AttentionChecks.Length(k.Length, nkv, nameof(k), "KvHeads·tokens·HeadDim");
        AttentionChecks.Length(v.Length, nkv, nameof(v), "KvHeads·tokens·HeadDim");
        AttentionChecks.Length(output.Length, nq, nameof(output), "qHeads·tokens·HeadDim");
        cache.Port(EngramOp.AttentionPrefill).Prefill(layer, qHeads, tokens, dtype, MemoryMarshal.AsBytes(q),
            MemoryMarshal.AsBytes(k), MemoryMarshal.AsBytes(v), MemoryMarshal.AsBytes(output),
            options ?? AttentionOptions.Default);
    }
}
