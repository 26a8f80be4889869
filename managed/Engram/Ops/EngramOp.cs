using System.Runtime.InteropServices;
using Engram.Native;

namespace Engram.Ops;

/// <summary>
/// The ops of libengram (<c>engram_op</c>), with the ids of the native registry. Ids are grouped by family
/// in blocks of 100: 100-199 CCE (engram_cce.h), 200-299 scans (engram_scan.h), 300-399 attention
/// (engram_attention.h), 400-499 2-bit weights (engram_qmatmul.h). Values are fixed forever. Each family has a
/// typed .NET API (Cce, Scan, Attention with KvCache, QMatmul); ops are also listed here so that routing,
/// capability queries and op stats name them.
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

    /// <summary>scan_linear_forward (ENGRAM_OP_SCAN_LINEAR_FORWARD).</summary>
    ScanLinearForward = 200,
    /// <summary>scan_linear_decode (ENGRAM_OP_SCAN_LINEAR_DECODE).</summary>
    ScanLinearDecode = 201,
    /// <summary>scan_linear_backward (ENGRAM_OP_SCAN_LINEAR_BACKWARD).</summary>
    ScanLinearBackward = 202,
    /// <summary>scan_delta_forward (ENGRAM_OP_SCAN_DELTA_FORWARD).</summary>
    ScanDeltaForward = 203,
    /// <summary>scan_delta_decode (ENGRAM_OP_SCAN_DELTA_DECODE).</summary>
    ScanDeltaDecode = 204,
    /// <summary>scan_delta_backward (ENGRAM_OP_SCAN_DELTA_BACKWARD).</summary>
    ScanDeltaBackward = 205,
    /// <summary>scan_mom_route (ENGRAM_OP_SCAN_MOM_ROUTE).</summary>
    ScanMomRoute = 206,
    /// <summary>scan_mom_gather (ENGRAM_OP_SCAN_MOM_GATHER).</summary>
    ScanMomGather = 207,
    /// <summary>scan_mom_combine (ENGRAM_OP_SCAN_MOM_COMBINE).</summary>
    ScanMomCombine = 208,
    /// <summary>scan_mom_route_backward (ENGRAM_OP_SCAN_MOM_ROUTE_BACKWARD).</summary>
    ScanMomRouteBackward = 209,
    /// <summary>scan_mom_gather_backward (ENGRAM_OP_SCAN_MOM_GATHER_BACKWARD).</summary>
    ScanMomGatherBackward = 210,
    /// <summary>scan_mom_combine_backward (ENGRAM_OP_SCAN_MOM_COMBINE_BACKWARD).</summary>
    ScanMomCombineBackward = 211,
    /// <summary>scan_mom_decode (ENGRAM_OP_SCAN_MOM_DECODE).</summary>
    ScanMomDecode = 212,
    /// <summary>scan_based_feature_map (ENGRAM_OP_SCAN_BASED_FEATURE_MAP).</summary>
    ScanBasedFeatureMap = 213,
    /// <summary>scan_based_feature_map_backward (ENGRAM_OP_SCAN_BASED_FEATURE_MAP_BACKWARD).</summary>
    ScanBasedFeatureMapBackward = 214,
    /// <summary>scan_based_forward (ENGRAM_OP_SCAN_BASED_FORWARD).</summary>
    ScanBasedForward = 215,
    /// <summary>scan_sliding_window_forward (ENGRAM_OP_SCAN_SLIDING_WINDOW_FORWARD).</summary>
    ScanSlidingWindowForward = 216,
    /// <summary>scan_titans_forward (ENGRAM_OP_SCAN_TITANS_FORWARD).</summary>
    ScanTitansForward = 217,
    /// <summary>scan_titans_decode (ENGRAM_OP_SCAN_TITANS_DECODE).</summary>
    ScanTitansDecode = 218,

    /// <summary>attention_cache_append (ENGRAM_OP_ATTENTION_CACHE_APPEND).</summary>
    AttentionCacheAppend = 300,
    /// <summary>attention_decode (ENGRAM_OP_ATTENTION_DECODE).</summary>
    AttentionDecode = 301,
    /// <summary>attention_prefill (ENGRAM_OP_ATTENTION_PREFILL).</summary>
    AttentionPrefill = 302,
    /// <summary>attention_dsparse_calibrate (ENGRAM_OP_ATTENTION_DSPARSE_CALIBRATE).</summary>
    AttentionDsparseCalibrate = 303,
    /// <summary>attention_dsparse_decode (ENGRAM_OP_ATTENTION_DSPARSE_DECODE).</summary>
    AttentionDsparseDecode = 304,

    /// <summary>qmatmul (ENGRAM_OP_QMATMUL).</summary>
    Qmatmul = 400,
    /// <summary>qmatmul_quantize_rtn (ENGRAM_OP_QMATMUL_QUANTIZE_RTN).</summary>
    QmatmulQuantizeRtn = 401,
    /// <summary>qmatmul_pack (ENGRAM_OP_QMATMUL_PACK); its dtype is U2.</summary>
    QmatmulPack = 402,
    /// <summary>qmatmul_unpack (ENGRAM_OP_QMATMUL_UNPACK); its dtype is U2.</summary>
    QmatmulUnpack = 403,
    /// <summary>qmatmul_prepare (ENGRAM_OP_QMATMUL_PREPARE); its dtype is U2.</summary>
    QmatmulPrepare = 404,
    /// <summary>qmatmul_unprepare (ENGRAM_OP_QMATMUL_UNPREPARE); its dtype is U2.</summary>
    QmatmulUnprepare = 405,
    /// <summary>qmatmul_quantize_refine (ENGRAM_OP_QMATMUL_QUANTIZE_REFINE).</summary>
    QmatmulQuantizeRefine = 406,
    /// <summary>qmatmul_save (ENGRAM_OP_QMATMUL_SAVE); its dtype is U2.</summary>
    QmatmulSave = 407,
    /// <summary>qmatmul_file_info (ENGRAM_OP_QMATMUL_FILE_INFO); its dtype is U2.</summary>
    QmatmulFileInfo = 408,
    /// <summary>qmatmul_load (ENGRAM_OP_QMATMUL_LOAD); its dtype is U2.</summary>
    QmatmulLoad = 409,
    /// <summary>qmatmul_import_onnx (ENGRAM_OP_QMATMUL_IMPORT_ONNX); its dtype is U2.</summary>
    QmatmulImportOnnx = 410,
    /// <summary>qmatmul_export_onnx (ENGRAM_OP_QMATMUL_EXPORT_ONNX); its dtype is U2.</summary>
    QmatmulExportOnnx = 411,
    /// <summary>qmatmul_bitstack_decompose (ENGRAM_OP_QMATMUL_BITSTACK_DECOMPOSE): the float weights' dtype.</summary>
    QmatmulBitstackDecompose = 412,
    /// <summary>qmatmul_bitstack (ENGRAM_OP_QMATMUL_BITSTACK): the activations' dtype.</summary>
    QmatmulBitstack = 413,
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
