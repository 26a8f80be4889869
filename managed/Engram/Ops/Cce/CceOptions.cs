using Engram.Native;

namespace Engram.Ops;

/// <summary>
/// Options of a CCE call (<c>engram_cce_options</c>). Defaults: mean reduction, ignore index -100,
/// no softcap, no label smoothing, no z-loss, gradient filter chosen by dtype, targets checked, default
/// scratch budget. Values are checked by libengram when an op runs (a bad one is an
/// <see cref="EngramArgumentException"/> naming the <c>opts-&gt;</c> field).
/// </summary>
public sealed record CceOptions
{
    /// <summary>FilterEps value meaning "choose by dtype": 0 (exact) for f32, 2^-12 for bf16, 2^-11 for f16.</summary>
    public const float AutoFilterEps = NativeMethods.FilterEpsAuto;

    /// <summary>The defaults.</summary>
    public static CceOptions Default { get; } = new();

    /// <summary>How per-token losses are reduced.</summary>
    public CceReduction Reduction { get; init; } = CceReduction.Mean;

    /// <summary>Tokens with this target cost nothing and get zero loss, lse and gradient.</summary>
    public long IgnoreIndex { get; init; } = -100;

    /// <summary>&gt; 0 enables tanh softcapping of the logits (cap · tanh(z / cap)); 0 = off.</summary>
    public float Softcap { get; init; }

    /// <summary>Label smoothing in [0, 1); 0 = off.</summary>
    public float LabelSmoothing { get; init; }

    /// <summary>Coefficient of lse²; 0 = off.</summary>
    public float ZLoss { get; init; }

    /// <summary>
    /// Gradient filter: a logit block whose every |dloss/dlogit| is below it is skipped in the backward.
    /// 0 = exact, <see cref="AutoFilterEps"/> (negative) = by dtype.
    /// </summary>
    public float FilterEps { get; init; } = AutoFilterEps;

    /// <summary>Validate target ids (out of range → <see cref="EngramStatus.OutOfRange"/>); false trusts them.</summary>
    public bool CheckTargets { get; init; } = true;

    /// <summary>
    /// Scratch budget in bytes, 0 = the default (4 MiB or 1/128 of the n×v logits, whichever is smaller).
    /// libengram's CPU forward-backward sizes its token chunk to fit it: more memory, fewer passes, faster.
    /// The ILGPU port ignores it.
    /// </summary>
    public ulong ScratchBytes { get; init; }

    /// <summary>The filter threshold actually used for inputs of <paramref name="dtype"/>.</summary>
    public float ResolvedFilterEps(EngramDType dtype) => FilterEps >= 0 ? FilterEps : DefaultFilterEps(dtype);

    /// <summary>The automatic filter threshold of a dtype (as in cce_math.h).</summary>
    public static float DefaultFilterEps(EngramDType dtype) => dtype switch
    {
        EngramDType.F16 => 4.8828125e-4f,  // 2^-11
        EngramDType.BF16 => 2.44140625e-4f, // 2^-12
        _ => 0f,
    };

    /// <summary>Number of loss values a call writes: n for <see cref="CceReduction.None"/>, else 1.</summary>
    public long LossLength(long n) => Reduction == CceReduction.None ? n : 1;

    internal EngramCceOptions ToNative() => new()
    {
        struct_size = (uint)System.Runtime.CompilerServices.Unsafe.SizeOf<EngramCceOptions>(),
        reduction = (int)Reduction,
        ignore_index = IgnoreIndex,
        softcap = Softcap,
        label_smoothing = LabelSmoothing,
        z_loss = ZLoss,
        filter_eps = FilterEps,
        check_targets = CheckTargets ? 1 : 0,
        scratch_bytes = ScratchBytes,
    };
}
