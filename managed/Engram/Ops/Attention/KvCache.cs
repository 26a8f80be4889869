using System.Runtime.InteropServices;

namespace Engram.Ops;

/// <summary>
/// A KV cache owned by a backend of an <see cref="EngramContext"/> (engram_attention.h): per layer, keys
/// and values [H_kv, S, D] appended token by token or in chunks, each KV head retrieval (every token) or
/// streaming (sinks + a window of recent tokens, constant memory). Created on the backend the context
/// routes <see cref="EngramOp.AttentionCacheAppend"/> to for the storage dtype; its ops run there
/// (<see cref="Attention"/>). Byte counts in <see cref="Info"/> are exactly what is allocated. Dispose it
/// when done (it keeps its native context alive until then).
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly EngramContext _context;
    private readonly IKvCacheStore _store;
    private bool _disposed;

    private KvCache(EngramContext context, EngramBackend backend, KvCacheConfig config, IKvCacheStore store)
    {
        _context = context;
        Backend = backend;
        Config = config;
        _store = store;
    }

    /// <summary>Creates an empty cache (no storage allocated yet).</summary>
    /// <exception cref="EngramArgumentException">A config field out of range (named as libengram names it).</exception>
    public static KvCache Create(EngramContext context, KvCacheConfig config)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(config);
        var backend = context.BackendFor(EngramOp.AttentionCacheAppend, config.DType);
        var store = context.AttentionOn(backend, EngramOp.AttentionCacheAppend, config.DType).CreateCache(config);
        return new KvCache(context, backend, config with { Policy = config.Policy?.ToArray() }, store);
    }

    /// <summary>The backend that holds the cache and runs its ops.</summary>
    public EngramBackend Backend { get; }

    /// <summary>The configuration it was created with (<see cref="SetPolicy"/> changes the policy).</summary>
    public KvCacheConfig Config { get; private set; }

    /// <summary>Tokens appended to <paramref name="layer"/> since create or reset.</summary>
    public long Length(int layer) => Info(layer).Length;

    /// <summary>What the cache holds for <paramref name="layer"/> and in all.</summary>
    public KvCacheInfo Info(int layer)
    {
        ThrowIfDisposed();
        return _store.Info(layer);
    }

    /// <summary>Every layer back to length 0; storage is released.</summary>
    public void Reset()
    {
        ThrowIfDisposed();
        _store.Reset();
    }

    /// <summary>Replaces the policy (Layers·KvHeads entries, layer-major); only on an empty cache.</summary>
    public void SetPolicy(ReadOnlySpan<KvHeadPolicy> policy)
    {
        ThrowIfDisposed();
        _store.SetPolicy(MemoryMarshal.Cast<KvHeadPolicy, int>(policy));
        Config = Config with { Policy = policy.ToArray() };
    }

    /// <summary>
    /// Appends <paramref name="tokens"/> tokens to <paramref name="layer"/>: <paramref name="k"/> and
    /// <paramref name="v"/> [H_kv, tokens, D] of float (rounded to the storage dtype) or the storage type.
    /// </summary>
    public void Append<T>(int layer, long tokens, ReadOnlySpan<T> k, ReadOnlySpan<T> v) where T : unmanaged
    {
        ThrowIfDisposed();
        var dtype = DTypes.OfFloat<T>(nameof(k));
        long? kv = AttentionChecks.Kv(Config, tokens);
        AttentionChecks.Length(k.Length, kv, nameof(k), "KvHeads·tokens·HeadDim");
        AttentionChecks.Length(v.Length, kv, nameof(v), "KvHeads·tokens·HeadDim");
        Port(EngramOp.AttentionCacheAppend).Append(layer, tokens, dtype, MemoryMarshal.AsBytes(k), MemoryMarshal.AsBytes(v));
    }

    /// <summary>Frees the cache.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _store.Dispose();
    }

    /// <summary>The store, after routing <paramref name="op"/> to this cache's backend (it must support it).</summary>
    internal IKvCacheStore Port(EngramOp op)
    {
        ThrowIfDisposed();
        _context.AttentionOn(Backend, op, Config.DType);
        return _store;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);
}
