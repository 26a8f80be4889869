using ILGPU;
using ILGPU.Runtime;

namespace Engram.Ilgpu;

/// <summary>
/// Device allocations of the ILGPU backend, counted for <see cref="EngramContext.MemoryStats"/>. Unlike
/// libengram's scratch counter this includes the uploaded copies of the inputs: for the fallback every
/// device byte is memory the op allocated.
/// </summary>
internal sealed class IlgpuScratch(Accelerator accelerator) : IDisposable
{
    private long _current, _peak, _allocations;

    public MemoryStats Stats => new((ulong)Interlocked.Read(ref _current), (ulong)Interlocked.Read(ref _peak),
        (ulong)Interlocked.Read(ref _allocations));

    public void ResetPeak() => Interlocked.Exchange(ref _peak, Interlocked.Read(ref _current));

    public ScratchScope Scope() => new(this);

    public void Dispose() { }

    private void Track(long bytes)
    {
        long now = Interlocked.Add(ref _current, bytes);
        if (bytes > 0) Interlocked.Increment(ref _allocations);
        long peak;
        while (now > (peak = Interlocked.Read(ref _peak)) && Interlocked.CompareExchange(ref _peak, now, peak) != peak) { }
    }

    /// <summary>Buffers of one op, freed together.</summary>
    internal sealed class ScratchScope(IlgpuScratch owner) : IDisposable
    {
        private readonly List<(MemoryBuffer Buffer, long Bytes)> _buffers = [];

        public MemoryBuffer1D<T, Stride1D.Dense> Zeros<T>(long length) where T : unmanaged
        {
            var b = owner.Allocate<T>(Math.Max(length, 1));
            b.MemSetToZero();
            Add(b);
            return b;
        }

        public MemoryBuffer1D<T, Stride1D.Dense> Upload<T>(ReadOnlySpan<T> data) where T : unmanaged
        {
            var b = owner.Allocate<T>(Math.Max(data.Length, 1));
            if (!data.IsEmpty) b.View.AsContiguous().SubView(0, data.Length).CopyFromCPU(data);
            Add(b);
            return b;
        }

        public MemoryBuffer1D<float, Stride1D.Dense> UploadWidened(ReadOnlySpan<byte> raw, EngramDType dtype, long count)
        {
            var host = new float[count];
            DTypes.ToSingle(raw, dtype, host);
            return Upload<float>(host);
        }

        public void Dispose()
        {
            foreach (var (buffer, bytes) in _buffers)
            {
                buffer.Dispose();
                owner.Track(-bytes);
            }
            _buffers.Clear();
        }

        private void Add<T>(MemoryBuffer1D<T, Stride1D.Dense> b) where T : unmanaged
        {
            long bytes = b.LengthInBytes;
            _buffers.Add((b, bytes));
            owner.Track(bytes);
        }
    }

    private MemoryBuffer1D<T, Stride1D.Dense> Allocate<T>(long length) where T : unmanaged =>
        accelerator.Allocate1D<T>(length);
}
