using System.Runtime.InteropServices;

namespace Engram.Native;

/// <summary>Owns an <c>engram_context*</c>; released with engram_context_destroy.</summary>
internal sealed class EngramContextHandle : SafeHandle
{
    private int _released;

    /// <summary>Used by the LibraryImport marshaller for <c>out</c> parameters.</summary>
    public EngramContextHandle() : base(0, ownsHandle: true) { }

    public override bool IsInvalid => handle == 0;

    /// <summary>
    /// True once engram_context_destroy has run: after Dispose, and after the last
    /// <see cref="ContextOwnedHandle"/> holding the context has been released.
    /// </summary>
    public bool IsReleased => Volatile.Read(ref _released) != 0;

    protected override bool ReleaseHandle()
    {
        Volatile.Write(ref _released, 1);
        return NativeMethods.engram_context_destroy(handle) == EngramStatus.Ok;
    }
}

/// <summary>
/// Base of every handle to a native object that belongs to a context (device memory, events; KV caches and
/// ORT sessions next). The handle holds a reference on its <see cref="EngramContextHandle"/>
/// (DangerousAddRef) from creation until its own release, so:
/// <list type="bullet">
/// <item>the native context is destroyed only after every object it owns, whatever the order in which the
/// caller disposes them or the finalizers run;</item>
/// <item>creating one on a disposed context throws <see cref="ObjectDisposedException"/>;</item>
/// <item>a failed native create leaks neither the reference nor the object.</item>
/// </list>
/// A subclass frees its object in <see cref="ReleaseNative"/> (the context is still alive there) and is made
/// with <see cref="Create{THandle}"/>.
/// </summary>
internal abstract class ContextOwnedHandle : SafeHandle
{
    private EngramContextHandle? _context;

    /// <summary>An invalid handle (0); the LibraryImport marshaller needs a public parameterless constructor in subclasses.</summary>
    protected ContextOwnedHandle() : base(0, ownsHandle: true) { }

    public override bool IsInvalid => handle == 0;

    /// <summary>The context this object belongs to (kept alive until <see cref="ReleaseNative"/> has run).</summary>
    protected EngramContextHandle Context =>
        _context ?? throw new InvalidOperationException("a context-owned handle must be made with ContextOwnedHandle.Create");

    /// <summary>
    /// Creates a handle with <paramref name="create"/> (which calls the native constructor and throws on
    /// failure) while holding a reference on <paramref name="context"/>; the handle then owns that reference.
    /// </summary>
    public static THandle Create<THandle>(EngramContextHandle context, Func<EngramContextHandle, THandle> create)
        where THandle : ContextOwnedHandle
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(create);
        bool added = false;
        context.DangerousAddRef(ref added); // ObjectDisposedException on a disposed context
        try
        {
            THandle owned = create(context);
            if (owned.IsInvalid)
            {
                owned.Dispose();
                throw new InvalidOperationException($"{typeof(THandle).Name}: the native create returned success but no object");
            }
            owned._context = context;
            added = false; // the handle releases it in ReleaseHandle
            return owned;
        }
        finally
        {
            if (added) context.DangerousRelease();
        }
    }

    /// <summary>
    /// The raw <c>engram_context*</c>, valid while this handle lives (it holds a reference): for native
    /// calls in <see cref="ReleaseNative"/>, which should not take references of their own.
    /// </summary>
    protected nint ContextPointer => Context.DangerousGetHandle();

    /// <summary>
    /// Frees the native object. The context is still alive here, even if its owner has disposed it (a
    /// disposed SafeHandle is destroyed only when its last reference is released).
    /// </summary>
    protected abstract bool ReleaseNative();

    protected sealed override bool ReleaseHandle()
    {
        bool ok = ReleaseNative();
        _context?.DangerousRelease();
        return ok;
    }
}

/// <summary>Owns device memory from engram_device_alloc; released with engram_device_free on the same context.</summary>
internal sealed class DeviceMemoryHandle : ContextOwnedHandle
{
    private DeviceMemoryHandle(nint pointer) => SetHandle(pointer);

    /// <summary>Allocates <paramref name="bytes"/> of device memory on <paramref name="context"/>.</summary>
    public static DeviceMemoryHandle Allocate(EngramContextHandle context, ulong bytes) =>
        Create(context, ctx =>
        {
            NativeMethods.Check(NativeMethods.engram_device_alloc(ctx, bytes, out nint pointer));
            return new DeviceMemoryHandle(pointer);
        });

    protected override bool ReleaseNative() => NativeMethods.engram_device_free(ContextPointer, handle) == EngramStatus.Ok;
}

/// <summary>Owns an <c>engram_event*</c> (CUDA timing) of a context.</summary>
internal sealed class EngramEventHandle : ContextOwnedHandle
{
    /// <summary>Used by the LibraryImport marshaller for <c>out</c> parameters.</summary>
    public EngramEventHandle() { }

    /// <summary>Creates an event on <paramref name="context"/>'s stream.</summary>
    public static EngramEventHandle Create(EngramContextHandle context) =>
        Create(context, ctx =>
        {
            var status = NativeMethods.engram_event_create(ctx, out EngramEventHandle ev);
            if (status != EngramStatus.Ok)
            {
                ev.Dispose();
                NativeMethods.Check(status);
            }
            return ev;
        });

    protected override bool ReleaseNative() => NativeMethods.engram_event_destroy(handle) == EngramStatus.Ok;
}

/// <summary>
/// Owns an <c>engram_attention_cache*</c> of a context. engram_attention_cache_destroy touches only the
/// cache's memory, but the handle still holds its context (a cache is used only with it).
/// </summary>
internal sealed class KvCacheHandle : ContextOwnedHandle
{
    private KvCacheHandle(nint pointer) => SetHandle(pointer);

    /// <summary>Creates an empty cache on <paramref name="context"/>.</summary>
    public static unsafe KvCacheHandle Create(EngramContextHandle context, EngramAttentionCacheConfig config) =>
        Create(context, ctx =>
        {
            var c = config;
            NativeMethods.Check(NativeMethods.engram_attention_cache_create(ctx, &c, out nint cache));
            return new KvCacheHandle(cache);
        });

    protected override bool ReleaseNative() => NativeMethods.engram_attention_cache_destroy(handle) == EngramStatus.Ok;
}
