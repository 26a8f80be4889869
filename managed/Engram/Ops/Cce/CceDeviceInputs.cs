namespace Engram.Ops;

/// <summary>
/// Device-resident CCE inputs on a native CUDA context: E [n, d], C [v, d], optional Bias [v],
/// Targets [n]. The buffers stay owned by the caller.
/// </summary>
public sealed record CceDeviceInputs<T, TTarget>(
    CceShape Shape,
    DeviceBuffer<T> E,
    DeviceBuffer<T> C,
    DeviceBuffer<TTarget> Targets,
    DeviceBuffer<T>? Bias = null)
    where T : unmanaged
    where TTarget : unmanaged;

/// <summary>Device-resident gradient outputs; null skips one, at least one must be given.</summary>
public sealed record CceDeviceGrads<TGrad>(
    DeviceBuffer<TGrad>? E = null,
    DeviceBuffer<TGrad>? C = null,
    DeviceBuffer<TGrad>? Bias = null)
    where TGrad : unmanaged;
