using Engram.Native;

namespace Engram.Ops;

/// <summary>Attention on libengram (CPU contexts; a CUDA context rejects the cache at create).</summary>
internal sealed class NativeAttentionBackend(EngramContextHandle ctx) : IAttentionBackend
{
    public unsafe IKvCacheStore CreateCache(KvCacheConfig config)
    {
        int[]? policy = config.Policy?.Select(p => (int)p).ToArray();
        fixed (int* pp = policy)
            return new NativeKvCacheStore(ctx, KvCacheHandle.Create(ctx, config.ToNative(pp)));
    }
}

/// <summary>A libengram KV cache (<c>engram_attention_cache*</c>) and the ops over it.</summary>
internal sealed unsafe class NativeKvCacheStore(EngramContextHandle ctx, KvCacheHandle cache) : IKvCacheStore
{
    public void Reset() => NativeMethods.Check(NativeMethods.engram_attention_cache_reset(ctx, cache));

    public void SetPolicy(ReadOnlySpan<int> policy)
    {
        fixed (int* p = policy)
            NativeMethods.Check(NativeMethods.engram_attention_cache_set_policy(ctx, cache, p, policy.Length));
    }

    public KvCacheInfo Info(int layer)
    {
        EngramAttentionCacheInfo i;
        NativeMethods.Check(NativeMethods.engram_attention_cache_info_init(&i));
        NativeMethods.Check(NativeMethods.engram_attention_cache_get_info(ctx, cache, layer, &i));
        return new KvCacheInfo(i.layer, i.length, i.retrieval_tokens, i.streaming_tokens, i.retrieval_heads,
            i.streaming_heads, i.layer_bytes, i.layer_streaming_bytes, i.total_bytes);
    }

    public void Append(int layer, long tokens, EngramDType dtype, ReadOnlySpan<byte> k, ReadOnlySpan<byte> v)
    {
        fixed (byte* pk = k, pv = v)
            NativeMethods.Check(NativeMethods.engram_attention_cache_append(ctx, cache, layer, tokens, dtype, pk, pv));
    }

    public void Decode(int layer, long qHeads, EngramDType dtype, ReadOnlySpan<byte> q, Span<byte> output,
        AttentionOptions o)
    {
        var opts = o.ToNative();
        fixed (byte* pq = q, po = output)
            NativeMethods.Check(NativeMethods.engram_attention_decode(ctx, cache, layer, qHeads, dtype, pq, po, &opts));
    }

    public void Prefill(int layer, long qHeads, long tokens, EngramDType dtype, ReadOnlySpan<byte> q,
        ReadOnlySpan<byte> k, ReadOnlySpan<byte> v, Span<byte> output, AttentionOptions o)
    {
        var opts = o.ToNative();
        fixed (byte* pq = q, pk = k, pv = v, po = output)
            NativeMethods.Check(NativeMethods.engram_attention_prefill(ctx, cache, layer, qHeads, tokens, dtype, pq, pk,
                pv, po, &opts));
    }

    public void Dispose() => cache.Dispose();
}
