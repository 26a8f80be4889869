namespace Engram.Onnx.Memory;

/// <summary>
/// Chunk-level top-k selection for the LongMem memory bank: for each query vector, the k chunks
/// whose key (the mean of the chunk's token keys) has the largest dot product with it.
/// </summary>
/// <remarks>
/// This is the seam where Engram's native sparse-attention family will plug in its top-k path
/// (block scoring and selection in libengram, CPU and CUDA). That family has not landed yet, so
/// the only implementation today is <see cref="ManagedChunkSelector"/>, plain C#. Implementations
/// must order each query's chunks by descending score, ties to the lower chunk index (the older
/// chunk), so every implementation returns the same chunks.
/// </remarks>
public interface IChunkSelector
{
    /// <summary>Selects the top <paramref name="k"/> chunks for each query.</summary>
    /// <param name="queries">[queryCount, dim] row-major.</param>
    /// <param name="chunkKeys">[chunkCount, dim] row-major.</param>
    /// <param name="dim">Vector width.</param>
    /// <param name="k">Chunks per query, 1 to chunkCount.</param>
    /// <param name="chunkIndices">[queryCount, k]: row indices into <paramref name="chunkKeys"/>.</param>
    /// <param name="scores">[queryCount, k]: the dot products, descending per query.</param>
    void Select(ReadOnlySpan<float> queries, ReadOnlySpan<float> chunkKeys, int dim, int k,
        Span<int> chunkIndices, Span<float> scores);
}

/// <summary>Managed top-k chunk selection: exact dot products (float32 products summed in float64,
/// in index order, so results do not depend on vector width), then a partial insertion sort of k.
/// O(queries x chunks x dim); the native sparse-attention family will replace it for large banks.</summary>
public sealed class ManagedChunkSelector : IChunkSelector
{
    /// <summary>The shared instance (stateless).</summary>
    public static ManagedChunkSelector Instance { get; } = new();

    /// <inheritdoc/>
    public void Select(ReadOnlySpan<float> queries, ReadOnlySpan<float> chunkKeys, int dim, int k,
        Span<int> chunkIndices, Span<float> scores)
    {
        if (dim < 1) throw new ArgumentOutOfRangeException(nameof(dim), dim, "dim must be at least 1");
        if (queries.Length % dim != 0) throw new ArgumentException($"queries length {queries.Length} is not a multiple of dim {dim}", nameof(queries));
        if (chunkKeys.Length % dim != 0) throw new ArgumentException($"chunkKeys length {chunkKeys.Length} is not a multiple of dim {dim}", nameof(chunkKeys));
        int q = queries.Length / dim, c = chunkKeys.Length / dim;
        if (k < 1 || k > c) throw new ArgumentOutOfRangeException(nameof(k), k, $"k must be in [1, {c}] (chunks available)");
        if (chunkIndices.Length != q * k) throw new ArgumentException($"chunkIndices length {chunkIndices.Length}, expected {q * k}", nameof(chunkIndices));
        if (scores.Length != q * k) throw new ArgumentException($"scores length {scores.Length}, expected {q * k}", nameof(scores));

        for (int i = 0; i < q; i++)
        {
            var query = queries.Slice(i * dim, dim);
            var idx = chunkIndices.Slice(i * k, k);
            var best = scores.Slice(i * k, k);
            int filled = 0;
            for (int j = 0; j < c; j++)
            {
                var key = chunkKeys.Slice(j * dim, dim);
                double acc = 0;
                for (int t = 0; t < dim; t++) acc += (double)query[t] * key[t];
                float s = (float)acc;
                // Strictly greater: an equal score keeps the earlier (lower-index) chunk ahead.
                if (filled == k && !(s > best[k - 1])) continue;
                int p = filled < k ? filled++ : k - 1;
                while (p > 0 && s > best[p - 1])
                {
                    best[p] = best[p - 1];
                    idx[p] = idx[p - 1];
                    p--;
                }
                best[p] = s;
                idx[p] = j;
            }
        }
    }
}
