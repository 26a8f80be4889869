namespace Engram.Onnx.Memory;

/// <summary>
/// LongMem's cached memory: the frozen backbone's attention keys and values for past tokens, kept
/// up to <see cref="CapacityTokens"/> tokens (default 65,536), oldest evicted first, grouped in
/// chunks of <see cref="ChunkSize"/> consecutive tokens for chunk-level retrieval.
/// </summary>
/// <remarks>
/// Tokens get global positions 0, 1, 2, ... in append order; chunk <c>c</c> holds positions
/// <c>[c·ChunkSize, (c+1)·ChunkSize)</c> and only the newest chunk can be partial. Storage is a
/// ring of <see cref="CapacityTokens"/> slots (a multiple of the chunk size), so a chunk's tokens are
/// contiguous and eviction frees whole chunks. Arrays grow by doubling until the capacity is
/// reached, then stay fixed; <see cref="AllocatedBytes"/> is their exact size. Each chunk's key is
/// the mean of its token keys, kept up to date on append. Not thread-safe.
/// </remarks>
public sealed class MemoryBank
{
    /// <summary>Default capacity in tokens (LongMem's 65k memory).</summary>
    public const int DefaultCapacityTokens = 65_536;

    /// <summary>Default chunk size (LongMem retrieves chunks of 4 tokens).</summary>
    public const int DefaultChunkSize = 4;

    private float[] keys = [];
    private float[] values = [];
    private float[] chunkMeans = [];
    private long start;   // global position of the oldest token held
    private long count;   // tokens held

    /// <summary>Width of each key and value vector (the backbone's hidden size for the layer).</summary>
    public int HiddenSize { get; }

    /// <summary>Most tokens held; appending more evicts the oldest chunks.</summary>
    public int CapacityTokens { get; }

    /// <summary>Tokens per chunk.</summary>
    public int ChunkSize { get; }

    /// <summary>Identifies the backbone and layer the features come from (e.g.
    /// <c>all-MiniLM-L6-v2/layer0</c>); a saved bank only reloads into a bank with the same id.</summary>
    public string BackboneId { get; }

    /// <summary>Selection used by <see cref="Retrieve"/>; the managed one unless given.</summary>
    public IChunkSelector Selector { get; }

    /// <summary>Tokens held.</summary>
    public long Count => count;

    /// <summary>Global position of the oldest token held.</summary>
    public long OldestPosition => start;

    /// <summary>Global index of the oldest chunk held.</summary>
    public long FirstChunk => start / ChunkSize;

    /// <summary>Chunks held (the newest may be partial).</summary>
    public int ChunkCount => count == 0 ? 0 : (int)((start + count - 1) / ChunkSize - FirstChunk + 1);

    /// <summary>Bytes of keys, values and chunk keys for the tokens held.</summary>
    public long UsedBytes => (2 * count + (long)ChunkCount) * HiddenSize * sizeof(float);

    /// <summary>Bytes of the arrays allocated (exact; at most the capacity's worth).</summary>
    public long AllocatedBytes => ((long)keys.Length + values.Length + chunkMeans.Length) * sizeof(float);

    /// <summary>Creates an empty bank.</summary>
    public MemoryBank(int hiddenSize, string backboneId, int capacityTokens = DefaultCapacityTokens,
        int chunkSize = DefaultChunkSize, IChunkSelector? selector = null)
    {
        if (hiddenSize < 1) throw new ArgumentOutOfRangeException(nameof(hiddenSize), hiddenSize, "hidden size must be at least 1");
        if (chunkSize < 1) throw new ArgumentOutOfRangeException(nameof(chunkSize), chunkSize, "chunk size must be at least 1");
        if (capacityTokens < chunkSize || capacityTokens % chunkSize != 0)
            throw new ArgumentOutOfRangeException(nameof(capacityTokens), capacityTokens, $"capacity must be a positive multiple of the chunk size {chunkSize}");
        if ((long)capacityTokens * hiddenSize > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(capacityTokens), capacityTokens, $"capacity x hidden size exceeds {Array.MaxLength} floats");
        ArgumentNullException.ThrowIfNull(backboneId);
        HiddenSize = hiddenSize;
        CapacityTokens = capacityTokens;
        ChunkSize = chunkSize;
        BackboneId = backboneId;
        Selector = selector ?? ManagedChunkSelector.Instance;
    }

    /// <summary>Appends tokens' keys and values ([tokens, HiddenSize] each, row-major), evicting the
    /// oldest chunks when the bank is full. Non-finite values are rejected before anything changes.</summary>
    public void Append(ReadOnlySpan<float> tokenKeys, ReadOnlySpan<float> tokenValues)
    {
        if (tokenKeys.Length != tokenValues.Length)
            throw new ArgumentException($"keys ({tokenKeys.Length} floats) and values ({tokenValues.Length} floats) differ in length", nameof(tokenValues));
        if (tokenKeys.Length % HiddenSize != 0)
            throw new ArgumentException($"keys length {tokenKeys.Length} is not a multiple of the hidden size {HiddenSize}", nameof(tokenKeys));
        CheckFinite(tokenKeys, nameof(tokenKeys));
        CheckFinite(tokenValues, nameof(tokenValues));
        int n = tokenKeys.Length / HiddenSize;
        // When more than the capacity arrives at once, only the newest tokens can stay; skipping
        // whole chunks keeps every chunk aligned to its global position.
        long end = start + count + n;
        int skip = 0;
        if (n > CapacityTokens)
        {
            long firstKept = (end - CapacityTokens + ChunkSize - 1) / ChunkSize * ChunkSize;
            skip = (int)(firstKept - (start + count));
            start = firstKept;
            count = 0;
        }
        for (int i = skip; i < n; i++)
        {
            if (count == CapacityTokens) EvictOldestChunk();
            long pos = start + count;
            int slot = Slot(pos);
            EnsureAllocated(slot + 1);
            tokenKeys.Slice(i * HiddenSize, HiddenSize).CopyTo(keys.AsSpan(slot * HiddenSize, HiddenSize));
            tokenValues.Slice(i * HiddenSize, HiddenSize).CopyTo(values.AsSpan(slot * HiddenSize, HiddenSize));
            count++;
            if ((pos + 1) % ChunkSize == 0 || i == n - 1) UpdateChunkMean(pos / ChunkSize);
        }
    }

    /// <summary>
    /// For each query ([queries, HiddenSize]), the <paramref name="k"/> chunks with the highest
    /// attention score (query · chunk key), best first: global chunk indices and scores, each
    /// [queries, k]. Read a chunk with <see cref="ChunkKeys"/> and <see cref="ChunkValues"/>.
    /// </summary>
    public void Retrieve(ReadOnlySpan<float> queries, int k, Span<long> chunkIds, Span<float> scores)
    {
        if (queries.Length % HiddenSize != 0)
            throw new ArgumentException($"queries length {queries.Length} is not a multiple of the hidden size {HiddenSize}", nameof(queries));
        CheckFinite(queries, nameof(queries));
        int chunks = ChunkCount;
        if (k < 1 || k > chunks) throw new ArgumentOutOfRangeException(nameof(k), k, $"k must be in [1, {chunks}]: the bank holds {chunks} chunks");
        int q = queries.Length / HiddenSize;
        if (chunkIds.Length != q * k) throw new ArgumentException($"chunkIds length {chunkIds.Length}, expected {q * k}", nameof(chunkIds));
        // The selector sees chunk keys oldest first; rows map back to global chunk indices.
        var ordered = new float[chunks * HiddenSize];
        int ringChunks = CapacityTokens / ChunkSize;
        for (int c = 0; c < chunks; c++)
        {
            int ringIndex = (int)((FirstChunk + c) % ringChunks);
            chunkMeans.AsSpan(ringIndex * HiddenSize, HiddenSize).CopyTo(ordered.AsSpan(c * HiddenSize));
        }
        var rows = new int[q * k];
        Selector.Select(queries, ordered, HiddenSize, k, rows, scores);
        for (int i = 0; i < rows.Length; i++) chunkIds[i] = FirstChunk + rows[i];
    }

    /// <summary>Keys of chunk <paramref name="chunkId"/>: [tokens in chunk, HiddenSize].</summary>
    public ReadOnlySpan<float> ChunkKeys(long chunkId) => ChunkSpan(keys, chunkId);

    /// <summary>Values of chunk <paramref name="chunkId"/>: [tokens in chunk, HiddenSize].</summary>
    public ReadOnlySpan<float> ChunkValues(long chunkId) => ChunkSpan(values, chunkId);

    /// <summary>Key of the token at global <paramref name="position"/>.</summary>
    public ReadOnlySpan<float> TokenKey(long position) => keys.AsSpan(Slot(CheckPosition(position)) * HiddenSize, HiddenSize);

    /// <summary>Value of the token at global <paramref name="position"/>.</summary>
    public ReadOnlySpan<float> TokenValue(long position) => values.AsSpan(Slot(CheckPosition(position)) * HiddenSize, HiddenSize);

    /// <summary>Removes every token (positions keep counting from where they were).</summary>
    public void Clear()
    {
        start += count;
        start = (start + ChunkSize - 1) / ChunkSize * ChunkSize;
        count = 0;
    }

    /// <summary>Replaces the contents with a validated snapshot (used by <see cref="MemoryBankFile"/>).</summary>
    internal void Restore(long oldest, long tokens, ReadOnlySpan<float> orderedKeys, ReadOnlySpan<float> orderedValues)
    {
        start = oldest;
        count = 0;
        for (long i = 0; i < tokens; i++)
        {
            long pos = start + count;
            int slot = Slot(pos);
            EnsureAllocated(slot + 1);
            int src = checked((int)(i * HiddenSize));
            orderedKeys.Slice(src, HiddenSize).CopyTo(keys.AsSpan(slot * HiddenSize, HiddenSize));
            orderedValues.Slice(src, HiddenSize).CopyTo(values.AsSpan(slot * HiddenSize, HiddenSize));
            count++;
            if ((pos + 1) % ChunkSize == 0 || i == tokens - 1) UpdateChunkMean(pos / ChunkSize);
        }
    }

    private ReadOnlySpan<float> ChunkSpan(float[] data, long chunkId)
    {
        long first = Math.Max(chunkId * ChunkSize, start);
        long last = Math.Min((chunkId + 1) * ChunkSize, start + count);
        if (chunkId < FirstChunk || first >= last)
            throw new ArgumentOutOfRangeException(nameof(chunkId), chunkId, $"chunk not held (held: {FirstChunk} to {FirstChunk + ChunkCount - 1})");
        return data.AsSpan(Slot(first) * HiddenSize, (int)(last - first) * HiddenSize);
    }

    private long CheckPosition(long position)
    {
        if (position < start || position >= start + count)
            throw new ArgumentOutOfRangeException(nameof(position), position, $"token not held (held: {start} to {start + count - 1})");
        return position;
    }

    private int Slot(long position) => (int)(position % CapacityTokens);

    private void EvictOldestChunk()
    {
        long chunkEnd = (start / ChunkSize + 1) * ChunkSize;
        count -= chunkEnd - start;
        start = chunkEnd;
    }

    private void EnsureAllocated(int tokens)
    {
        if (keys.Length >= tokens * HiddenSize) return;
        int grown = Math.Max(tokens, Math.Max(ChunkSize, keys.Length / HiddenSize * 2));
        grown = (int)Math.Min(CapacityTokens, ((long)grown + ChunkSize - 1) / ChunkSize * ChunkSize);
        Array.Resize(ref keys, grown * HiddenSize);
        Array.Resize(ref values, grown * HiddenSize);
        Array.Resize(ref chunkMeans, grown / ChunkSize * HiddenSize);
    }

    // Mean of the chunk's tokens held, summed in float64 in token order (deterministic).
    private void UpdateChunkMean(long chunkId)
    {
        long first = Math.Max(chunkId * ChunkSize, start);
        long last = Math.Min((chunkId + 1) * ChunkSize, start + count);
        int ringIndex = (int)(chunkId % (CapacityTokens / ChunkSize));
        var mean = chunkMeans.AsSpan(ringIndex * HiddenSize, HiddenSize);
        int n = (int)(last - first);
        int baseSlot = Slot(first);
        for (int d = 0; d < HiddenSize; d++)
        {
            double sum = 0;
            for (int t = 0; t < n; t++) sum += keys[(baseSlot + t) * HiddenSize + d];
            mean[d] = (float)(sum / n);
        }
    }

    private static void CheckFinite(ReadOnlySpan<float> data, string name)
    {
        for (int i = 0; i < data.Length; i++)
            if (!float.IsFinite(data[i])) throw new ArgumentException($"{name}[{i}] = {data[i]} is not finite", name);
    }
}
