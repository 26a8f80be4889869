using System.Runtime.InteropServices;

namespace Engram.Native;

/// <summary>Owns an <c>engram_context*</c>; released with engram_context_destroy.</summary>
internal sealed class EngramContextHandle : SafeHandle
{
    /// <summary>Used by the LibraryImport marshaller for <c>out</c> parameters.</summary>
    public EngramContextHandle() : base(0, ownsHandle: true) { }

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle() => NativeMethods.engram_context_destroy(handle) == EngramStatus.Ok;
}

/// <summary>
/// Owns device memory from engram_device_alloc; released with engram_device_free on the
/// same context. Holds a reference on the context handle so the context outlives it.
/// </summary>
internal sealed class DeviceMemoryHandle : SafeHandle
{
    private readonly EngramContextHandle _context;

    private DeviceMemoryHandle(EngramContextHandle context, nint pointer) : base(0, ownsHandle: true)
    {
        _context = context;
        SetHandle(pointer);
    }

    public override bool IsInvalid => handle == 0;

    /// <summary>Allocates <paramref name="bytes"/> of device memory on <paramref name="context"/>.</summary>
    public static DeviceMemoryHandle Allocate(EngramContextHandle context, ulong bytes)
    {
        bool added = false;
        context.DangerousAddRef(ref added);
        try
        {
            NativeMethods.Check(NativeMethods.engram_device_alloc(context, bytes, out nint pointer));
            added = false; // the new handle now owns the reference
            return new DeviceMemoryHandle(context, pointer);
        }
        finally
        {
            if (added) context.DangerousRelease();
        }
    }

    protected override bool ReleaseHandle()
    {
        bool ok = NativeMethods.engram_device_free(_context, handle) == EngramStatus.Ok;
        _context.DangerousRelease();
        return ok;
    }
}

/// <summary>Owns an <c>engram_event*</c> (CUDA timing); keeps its context alive.</summary>
internal sealed class EngramEventHandle : SafeHandle
{
    private EngramContextHandle? _context;

    /// <summary>Used by the LibraryImport marshaller for <c>out</c> parameters.</summary>
    public EngramEventHandle() : base(0, ownsHandle: true) { }

    public override bool IsInvalid => handle == 0;

    /// <summary>Creates an event on <paramref name="context"/>'s stream.</summary>
    public static EngramEventHandle Create(EngramContextHandle context)
    {
        bool added = false;
        context.DangerousAddRef(ref added);
        try
        {
            NativeMethods.Check(NativeMethods.engram_event_create(context, out EngramEventHandle ev));
            ev._context = context;
            added = false;
            return ev;
        }
        finally
        {
            if (added) context.DangerousRelease();
        }
    }

    protected override bool ReleaseHandle()
    {
        bool ok = NativeMethods.engram_event_destroy(handle) == EngramStatus.Ok;
        _context?.DangerousRelease();
        return ok;
    }
}
