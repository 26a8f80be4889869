namespace Engram;

// Mirrors of the enums in native/include/engram.h. Values are fixed forever there
// (new values appended, never reordered); keep them identical here.

/// <summary>Status of a libengram call (<c>engram_status</c>); 0 is success.</summary>
public enum EngramStatus
{
    /// <summary>ENGRAM_OK.</summary>
    Ok = 0,
    /// <summary>Null pointer, bad size, bad option value.</summary>
    InvalidArgument = 1,
    /// <summary>An id (target, device) outside its range.</summary>
    OutOfRange = 2,
    /// <summary>A dtype, feature or backend this build does not have.</summary>
    Unsupported = 3,
    /// <summary>CUDA asked for, but no driver or device.</summary>
    NoDevice = 4,
    /// <summary>Host or device allocation failed.</summary>
    OutOfMemory = 5,
    /// <summary>A CUDA runtime call failed.</summary>
    Device = 6,
    /// <summary>A device call on a CPU context, or a host pointer passed to a CUDA op.</summary>
    WrongBackend = 7,
    /// <summary>A bug in engram.</summary>
    Internal = 8,
}

/// <summary>Element type of a tensor (<c>engram_dtype</c>).</summary>
public enum EngramDType
{
    /// <summary>32-bit float.</summary>
    F32 = 0,
    /// <summary>IEEE half (System.Half).</summary>
    F16 = 1,
    /// <summary>bfloat16 (<see cref="BFloat16"/>).</summary>
    BF16 = 2,
    /// <summary>32-bit signed integer ids.</summary>
    I32 = 3,
    /// <summary>64-bit signed integer ids.</summary>
    I64 = 4,
    /// <summary>Packed unsigned 2-bit codes, 16 per 32-bit word (the 2-bit weight family).</summary>
    U2 = 5,
}

/// <summary>The native backend of a context (<c>engram_backend</c>).</summary>
public enum NativeBackendKind
{
    /// <summary>ENGRAM_BACKEND_CPU.</summary>
    Cpu = 0,
    /// <summary>ENGRAM_BACKEND_CUDA.</summary>
    Cuda = 1,
}

/// <summary>Instruction set the native CPU backend chose at run time (<c>engram_cpu_isa</c>).</summary>
public enum EngramCpuIsa
{
    /// <summary>Portable scalar code.</summary>
    Scalar = 0,
    /// <summary>AVX2 + FMA + F16C.</summary>
    Avx2 = 1,
    /// <summary>AVX-512 F/BW/DQ/VL.</summary>
    Avx512 = 2,
    /// <summary>AVX-512 plus AVX512_BF16 (VDPBF16PS), used for bf16 inputs.</summary>
    Avx512Bf16 = 3,
}

/// <summary>How per-token CCE losses are reduced (<c>engram_reduction</c>).</summary>
public enum CceReduction
{
    /// <summary>Loss has n entries, one per token (0 for ignored tokens).</summary>
    None = 0,
    /// <summary>Loss has 1 entry: the sum over tokens.</summary>
    Sum = 1,
    /// <summary>Loss has 1 entry: the sum over the number of non-ignored tokens (0 if all are ignored).</summary>
    Mean = 2,
}
