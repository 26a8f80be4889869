using Engram.Native;

namespace Engram;

/// <summary>
/// Device memory of <see cref="Length"/> elements of <typeparamref name="T"/> on a native CUDA context
/// (engram_device_alloc / engram_device_free). Copies are ordered on the context's stream and complete
/// before returning. Pass it to the DeviceBuffer overloads of <see cref="Ops.Cce"/> to keep data on the GPU.
/// </summary>
public sealed unsafe class DeviceBuffer<T> : IDisposable where T : unmanaged
{
    private readonly DeviceMemoryHandle _memory;

    private DeviceBuffer(EngramContext context, DeviceMemoryHandle memory, long length)
    {
        Context = context;
        _memory = memory;
        Length = length;
    }

    /// <summary>The context that owns the memory.</summary>
    public EngramContext Context { get; }

    /// <summary>Number of elements.</summary>
    public long Length { get; }

    /// <summary>Size in bytes.</summary>
    public long Bytes => Length * sizeof(T);

    /// <summary>The raw device pointer (valid until disposed).</summary>
    public nint Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_memory.IsClosed, this);
            return _memory.DangerousGetHandle();
        }
    }

    /// <summary>Allocates <paramref name="length"/> elements on <paramref name="context"/>, which must be a native CUDA context.</summary>
    /// <exception cref="InvalidOperationException">The context does not run on libengram's CUDA backend.</exception>
    public static DeviceBuffer<T> Allocate(EngramContext context, long length)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        var handle = context.RequireNativeCuda("DeviceBuffer");
        return new DeviceBuffer<T>(context, DeviceMemoryHandle.Allocate(handle, checked((ulong)length * (ulong)sizeof(T))), length);
    }

    /// <summary>Allocates a buffer holding a copy of <paramref name="source"/>.</summary>
    public static DeviceBuffer<T> From(EngramContext context, ReadOnlySpan<T> source)
    {
        var buffer = Allocate(context, source.Length);
        buffer.CopyFrom(source);
        return buffer;
    }

    /// <summary>Copies <paramref name="source"/> (exactly <see cref="Length"/> elements) to the device.</summary>
    public void CopyFrom(ReadOnlySpan<T> source)
    {
        RequireLength(source.Length, nameof(source));
        fixed (T* p = source)
            NativeMethods.Check(NativeMethods.engram_copy_to_device(Context.RequireNativeCuda("DeviceBuffer"), Pointer, p, (ulong)Bytes));
    }

    /// <summary>Copies the buffer to <paramref name="destination"/> (exactly <see cref="Length"/> elements).</summary>
    public void CopyTo(Span<T> destination)
    {
        RequireLength(destination.Length, nameof(destination));
        fixed (T* p = destination)
            NativeMethods.Check(NativeMethods.engram_copy_to_host(Context.RequireNativeCuda("DeviceBuffer"), p, Pointer, (ulong)Bytes));
    }

    /// <summary>The buffer's contents as a new array.</summary>
    public T[] ToArray()
    {
        var a = new T[Length];
        CopyTo(a);
        return a;
    }

    /// <summary>Sets every byte to zero.</summary>
    public void Clear() =>
        NativeMethods.Check(NativeMethods.engram_device_memset(Context.RequireNativeCuda("DeviceBuffer"), Pointer, 0, (ulong)Bytes));

    /// <summary>Frees the device memory.</summary>
    public void Dispose() => _memory.Dispose();

    private void RequireLength(int length, string name)
    {
        if (length != Length)
            throw new ArgumentException($"{name} has {length} elements, the device buffer {Length}", name);
    }
}
