namespace Engram.Ops;

/// <summary>
/// The shape of a linear scan: <see cref="Batch"/> sequences of <see cref="T"/> tokens, <see cref="Heads"/>
/// value heads (H) reading <see cref="QkHeads"/> q/k heads (Hk, dividing H; 0 = H), key dim
/// <see cref="KDim"/> (K) and value dim <see cref="VDim"/> (V). Layouts (row-major): q, k [B, T, Hk, K];
/// v, o [B, T, H, V]; states [B, H, K, V]. Sizes are checked by libengram when an op runs.
/// </summary>
public readonly record struct ScanShape(long Batch, long T, long Heads, long KDim, long VDim, long QkHeads = 0)
{
    /// <summary>Largest K and V (ENGRAM_SCAN_MAX_HEAD_DIM).</summary>
    public const int MaxHeadDim = 256;

    /// <summary>Hk: <see cref="QkHeads"/>, or H when 0.</summary>
    public long QkHeadCount => QkHeads == 0 ? Heads : QkHeads;

    /// <inheritdoc/>
    public override string ToString() =>
        $"B={Batch} T={T} H={Heads}{(QkHeads != 0 ? $" Hk={QkHeads}" : "")} K={KDim} V={VDim}";
}
