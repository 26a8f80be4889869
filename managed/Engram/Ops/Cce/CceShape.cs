namespace Engram.Ops;

/// <summary>
/// The shape of a CCE problem: <see cref="N"/> tokens of hidden size <see cref="D"/> against
/// <see cref="V"/> classifier rows. For a vocabulary shard, the rows are global ids
/// [<see cref="VocabStart"/>, VocabStart + V) of a vocabulary of <see cref="VocabTotal"/> ids;
/// unsharded: VocabStart = 0 and VocabTotal = 0 (meaning V). Sizes are checked by libengram (each in
/// [1, <see cref="MaxDim"/>], the shard inside the vocabulary) when an op runs.
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

    /// <inheritdoc/>
    public override string ToString() =>
        IsSharded ? $"n={N} d={D} v={V} shard [{VocabStart}, {VocabStart + V}) of {Vocabulary}" : $"n={N} d={D} v={V}";
}
