using Engram.Native;

namespace Engram.Backends;

/// <summary>
/// Maps host buffers to the pointers a native op takes. On a CPU context that is the (pinned) host
/// pointer itself. On a CUDA context each buffer is copied to temporary device memory (inputs
/// uploaded, outputs downloaded by <see cref="Finish"/>), so the host-span API works on every backend;
/// callers that keep data on the GPU use DeviceBuffer&lt;T&gt; and skip this.
/// </summary>
internal sealed unsafe class NativeStaging : IDisposable
{
    private readonly EngramContextHandle _ctx;
    private readonly bool _cuda;
    private readonly List<DeviceMemoryHandle> _owned = [];
    private readonly List<(nint Host, DeviceMemoryHandle Device, ulong Bytes)> _outputs = [];

    public NativeStaging(EngramContextHandle ctx, bool cuda)
    {
        _ctx = ctx;
        _cuda = cuda;
    }

    /// <summary>An input: null stays null.</summary>
    public void* In(void* host, long bytes)
    {
        if (!_cuda || host == null) return host;
        var dev = Allocate(bytes);
        NativeMethods.Check(NativeMethods.engram_copy_to_device(_ctx, dev.DangerousGetHandle(), host, (ulong)bytes));
        return (void*)dev.DangerousGetHandle();
    }

    /// <summary>An output, copied back to <paramref name="host"/> by <see cref="Finish"/>.</summary>
    public void* Out(void* host, long bytes)
    {
        if (!_cuda || host == null) return host;
        var dev = Allocate(bytes);
        _outputs.Add(((nint)host, dev, (ulong)bytes));
        return (void*)dev.DangerousGetHandle();
    }

    public float* In(float* host, long count) => (float*)In((void*)host, count * sizeof(float));

    public float* Out(float* host, long count) => (float*)Out((void*)host, count * sizeof(float));

    /// <summary>Downloads the outputs (after a successful op).</summary>
    public void Finish()
    {
        foreach (var (host, dev, bytes) in _outputs)
            NativeMethods.Check(NativeMethods.engram_copy_to_host(_ctx, (void*)host, dev.DangerousGetHandle(), bytes));
    }

    public void Dispose()
    {
        foreach (var h in _owned) h.Dispose();
        _owned.Clear();
        _outputs.Clear();
    }

    private DeviceMemoryHandle Allocate(long bytes)
    {
        var h = DeviceMemoryHandle.Allocate(_ctx, (ulong)bytes);
        _owned.Add(h);
        return h;
    }
}
