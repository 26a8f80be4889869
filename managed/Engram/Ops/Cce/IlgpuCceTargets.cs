
namespace Engram.Ops;

/// <summary>Host-side target scan of the ILGPU backend (the same rules and message as libengram).</summary>
internal static class IlgpuCceTargets
{
    /// <summary>
    /// Per token: -2 if ignored, -1 if the target lies outside this shard, else its column in the shard.
    /// Throws <see cref="EngramException"/> (OutOfRange) for a bad id when options.CheckTargets is set.
    /// </summary>
    public static int[] Columns(ReadOnlySpan<byte> targets, EngramDType dtype, CceShape shape, CceOptions o, out int valid)
    {
        var col = new int[shape.N];
        valid = 0;
        for (int i = 0; i < col.Length; i++)
        {
            long t = DTypes.Target(targets, dtype, i);
            if (t == o.IgnoreIndex)
            {
                col[i] = IlgpuCceKernels.Ignored;
                continue;
            }
            if ((t < 0 || t >= shape.Vocabulary) && o.CheckTargets)
                throw new EngramException(EngramStatus.OutOfRange,
                    $"ilgpu cce: targets[{i}] = {t} is outside [0, {shape.Vocabulary}) and is not ignore_index ({o.IgnoreIndex})");
            long c = t - shape.VocabStart;
            col[i] = c >= 0 && c < shape.V ? (int)c : -1;
            valid++;
        }
        return col;
    }
}
