using System.Runtime.InteropServices;
using Engram.Native;

namespace Engram.Ops;

/// <summary>
/// The ops of libengram (<c>engram_op</c>), with the ids of the native registry. Ids are grouped by family
/// in blocks of 100: 100-199 CCE (engram_cce.h); 200-299 recurrent scans, 300-399 sparse attention and
/// 400-499 2-bit weights are reserved for the families that come next. Values are fixed forever.
/// </summary>
public enum EngramOp
{
    /// <summary>ENGRAM_OP_NONE: no op (op stats before a context's first op).</summary>
    None = 0,
    /// <summary>cce_forward (ENGRAM_OP_CCE_FORWARD).</summary>
    CceForward = 100,
    /// <summary>cce_backward (ENGRAM_OP_CCE_BACKWARD).</summary>
    CceBackward = 101,
    /// <summary>cce_forward_backward (ENGRAM_OP_CCE_FORWARD_BACKWARD).</summary>
    CceForwardBackward = 102,
    /// <summary>cce_shard_forward (ENGRAM_OP_CCE_SHARD_FORWARD).</summary>
    CceShardForward = 103,
    /// <summary>cce_shard_combine (ENGRAM_OP_CCE_SHARD_COMBINE); its dtype is F32 (it reads fp32 statistics).</summary>
    CceShardCombine = 104,
}

/// <summary>The op registry of the loaded libengram: names, families and the list of ops it has.</summary>
public static unsafe class EngramOps
{
    /// <summary>The native name of an op, e.g. "cce_forward"; null for an id the loaded library does not know.</summary>
    public static string? Name(EngramOp op) => Marshal.PtrToStringUTF8((nint)NativeMethods.engram_op_name((int)op));

    /// <summary>The family of an op, e.g. "cce"; null for an id the loaded library does not know.</summary>
    public static string? Family(EngramOp op) => Marshal.PtrToStringUTF8((nint)NativeMethods.engram_op_family((int)op));

    /// <summary>
    /// Every op of the loaded library in id order, as raw ids: a newer library may list ops this binding
    /// has no <see cref="EngramOp"/> member for.
    /// </summary>
    public static IReadOnlyList<int> List()
    {
        NativeMethods.Check(NativeMethods.engram_op_list(null, 0, out int count));
        var ops = new int[count];
        fixed (int* p = ops)
            NativeMethods.Check(NativeMethods.engram_op_list(p, count, out count));
        return ops[..count];
    }

    /// <summary>Name of an op for messages: the native name, or the enum name when the library lacks it (or is not loaded).</summary>
    internal static string Display(EngramOp op) =>
        (EngramLibrary.TryLoad(out _) ? Name(op) : null) ?? $"{op} (op {(int)op}, unknown to the loaded libengram)";
}
