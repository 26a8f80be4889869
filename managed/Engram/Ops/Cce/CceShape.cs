namespace Engram.Ops;

/// <summary>
/// The shape of a CCE problem: <see cref="N"/> tokens of hidden size <see cref="D"/> against
/// <see cref="V"/> classifier rows. For a vocabulary shard, the rows are global ids
/// [<see cref="VocabStart"/>, VocabStart + V) of a vocabulary of <see cref="VocabTotal"/> ids;
/// unsharded: VocabStart = 0 and VocabTotal = 0 (meaning V).
/// </summary>
public readonly record struct CceShape(long N, long D, long V, long VocabStart = 0, long VocabTotal = 0)
{
    /// <summary>Largest row count or hidden size libengram accepts (kernels count rows in 32 bits).</summary>
    public const long MaxDim = int.MaxValue;

    /// <summary>The global vocabulary size: VocabTotal, or V when unsharded.</summary>
    public long Vocabulary => VocabTotal == 0 ? V : VocabTotal;

    /// <summary>True when this describes a shard of a larger vocabulary.</summary>
    public bool IsSharded => VocabStart != 0 || Vocabulary != V;

    /// <summary>A shard [start, start + v) of a vocabulary of <paramref name="vocabTotal"/> ids.</summary>
    public static CceShape Shard(long n, long d, long start, long v, long vocabTotal) => new(n, d, v, start, vocabTotal);

    /// <summary>Throws <see cref="ArgumentException"/> unless every size is valid.</summary>
    public void Validate(string paramName = "shape")
    {
        RequireDim(N, "n", paramName);
        RequireDim(D, "d", paramName);
        RequireDim(V, "v", paramName);
        if (VocabTotal != 0) RequireDim(VocabTotal, "vocab_total", paramName);
        if (Vocabulary < V)
            throw new ArgumentException($"{paramName}: vocab_total ({VocabTotal}) is smaller than v ({V})", paramName);
        if (VocabStart < 0 || VocabStart > Vocabulary - V)
            throw new ArgumentException(
                $"{paramName}: vocab_start = {VocabStart}: the shard [vocab_start, vocab_start + v) must lie in [0, {Vocabulary})",
                paramName);
    }

    private static void RequireDim(long value, string name, string paramName)
    {
        if (value <= 0 || value > MaxDim)
            throw new ArgumentException($"{paramName}: {name} must be in [1, {MaxDim}], got {value}", paramName);
    }

    /// <inheritdoc/>
    public override string ToString() =>
        IsSharded ? $"n={N} d={D} v={V} shard [{VocabStart}, {VocabStart + V}) of {Vocabulary}" : $"n={N} d={D} v={V}";
}
