using Engram.Onnx.Memory;

namespace Engram.Onnx.Tests;

public class MemoryBankTests
{
    // Token t's key and value are distinct functions of (t, d) so every read can be checked.
    private static float KeyOf(long t, int d) => (float)Math.Sin(0.37 * t + 1.3 * d);
    private static float ValueOf(long t, int d) => (float)(t * 0.5 + d);

    private static (float[] Keys, float[] Values) Tokens(long first, int n, int dim)
    {
        var k = new float[n * dim];
        var v = new float[n * dim];
        for (int i = 0; i < n; i++)
            for (int d = 0; d < dim; d++)
            {
                k[i * dim + d] = KeyOf(first + i, d);
                v[i * dim + d] = ValueOf(first + i, d);
            }
        return (k, v);
    }

    private static MemoryBank Filled(int dim, int capacity, int chunk, long tokens, int appendSize = 5)
    {
        var bank = new MemoryBank(dim, "test/backbone", capacity, chunk);
        for (long t = 0; t < tokens; t += appendSize)
        {
            int n = (int)Math.Min(appendSize, tokens - t);
            var (k, v) = Tokens(t, n, dim);
            bank.Append(k, v);
        }
        return bank;
    }

    [Test]
    public void DefaultsAreLongMemsCapacityAndChunkSize()
    {
        var bank = new MemoryBank(384, "all-MiniLM-L6-v2/layer0");
        Assert.That(bank.CapacityTokens, Is.EqualTo(65_536));
        Assert.That(bank.ChunkSize, Is.EqualTo(4));
        Assert.That(bank.AllocatedBytes, Is.Zero);
    }

    [TestCase(3, 16, 4, 7)]
    [TestCase(3, 16, 4, 16)]
    [TestCase(5, 12, 3, 40)]
    [TestCase(1, 8, 1, 23)]
    [TestCase(7, 20, 4, 1000)]
    public void OldestChunksAreEvictedFirst(int dim, int capacity, int chunk, long total)
    {
        var bank = Filled(dim, capacity, chunk, total);
        long oldest = bank.OldestPosition;
        Assert.That(bank.Count, Is.LessThanOrEqualTo(capacity));
        Assert.That(oldest + bank.Count, Is.EqualTo(total), "the newest token is always kept");
        Assert.That(oldest % chunk, Is.Zero, "eviction frees whole chunks");
        if (total >= capacity) Assert.That(bank.Count, Is.GreaterThan(capacity - chunk), "at most one chunk's worth short of full");
        else Assert.That(bank.Count, Is.EqualTo(total), "nothing evicted below the capacity");
        for (long p = oldest; p < total; p++)
            for (int d = 0; d < dim; d++)
            {
                Assert.That(bank.TokenKey(p)[d], Is.EqualTo(KeyOf(p, d)));
                Assert.That(bank.TokenValue(p)[d], Is.EqualTo(ValueOf(p, d)));
            }
        if (oldest > 0) Assert.Throws<ArgumentOutOfRangeException>(() => bank.TokenKey(oldest - 1));
        Assert.That(bank.UsedBytes, Is.EqualTo((2 * bank.Count + bank.ChunkCount) * dim * 4));
        Assert.That(bank.AllocatedBytes, Is.LessThanOrEqualTo((2L * capacity + capacity / chunk) * dim * 4));
    }

    [Test]
    public void OneAppendLargerThanTheCapacityKeepsTheNewestTokens()
    {
        var bank = new MemoryBank(2, "x", capacityTokens: 8, chunkSize: 4);
        var (k, v) = Tokens(0, 21, 2);
        bank.Append(k, v);
        Assert.That(bank.OldestPosition, Is.EqualTo(16));
        Assert.That(bank.Count, Is.EqualTo(5));
        Assert.That(bank.TokenValue(20)[1], Is.EqualTo(ValueOf(20, 1)));
    }

    [TestCase(1, 4, 1)]
    [TestCase(3, 6, 4)]
    [TestCase(17, 9, 3)]
    public void RetrievalMatchesABruteForceFloat64Reference(int queries, int chunk, int k)
    {
        const int dim = 11;
        var bank = Filled(dim, capacity: 30 * chunk, chunk, tokens: 37 * chunk + 2, appendSize: 7);
        var rng = new Random(1234);
        var q = Enumerable.Range(0, queries * dim).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var ids = new long[queries * k];
        var scores = new float[queries * k];
        bank.Retrieve(q, k, ids, scores);
        for (int i = 0; i < queries; i++)
        {
            var reference = new List<(long Id, double Score)>();
            for (long c = bank.FirstChunk; c < bank.FirstChunk + bank.ChunkCount; c++)
            {
                var keys = bank.ChunkKeys(c);
                int n = keys.Length / dim;
                double s = 0;
                for (int d = 0; d < dim; d++)
                {
                    double mean = 0;
                    for (int t = 0; t < n; t++) mean += keys[t * dim + d];
                    s += q[i * dim + d] * (mean / n);
                }
                reference.Add((c, s));
            }
            var expected = reference.OrderByDescending(r => r.Score).ThenBy(r => r.Id).Take(k).ToList();
            for (int j = 0; j < k; j++)
            {
                Assert.That(ids[i * k + j], Is.EqualTo(expected[j].Id), $"query {i} rank {j}");
                Assert.That(scores[i * k + j], Is.EqualTo(expected[j].Score).Within(1e-5));
            }
        }
    }

    [Test]
    public void AQueryAlongOneChunksKeysRetrievesThatChunk()
    {
        // Chunk c's tokens all have key e_c (one-hot): a query e_6 scores 1 on chunk 6 and 0 on the rest.
        const int dim = 16, chunk = 4, chunks = 10;
        var bank = new MemoryBank(dim, "x", capacityTokens: 64, chunkSize: chunk);
        var keys = new float[chunks * chunk * dim];
        for (int t = 0; t < chunks * chunk; t++) keys[t * dim + t / chunk] = 1;
        bank.Append(keys, new float[keys.Length]);
        var query = new float[dim];
        query[6] = 1;
        var ids = new long[2];
        var scores = new float[2];
        bank.Retrieve(query, 2, ids, scores);
        Assert.That(ids[0], Is.EqualTo(6));
        Assert.That(scores, Is.EqualTo(new float[] { 1, 0 }));
        Assert.That(ids[1], Is.EqualTo(0), "ties go to the oldest chunk");
    }

    [Test]
    public void BadArgumentsAreRejectedBeforeAnythingChanges()
    {
        var bank = Filled(3, 16, 4, 6);
        long count = bank.Count;
        Assert.Throws<ArgumentException>(() => bank.Append(new float[6], new float[3]));
        Assert.Throws<ArgumentException>(() => bank.Append(new float[4], new float[4]));
        var nan = new float[6];
        nan[5] = float.NaN;
        var e = Assert.Throws<ArgumentException>(() => bank.Append(nan, new float[6]));
        Assert.That(e!.Message, Does.Contain("tokenKeys[5]"));
        Assert.That(bank.Count, Is.EqualTo(count));
        Assert.Throws<ArgumentOutOfRangeException>(() => bank.Retrieve(new float[3], 3, new long[3], new float[3]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MemoryBank(3, "x", capacityTokens: 10, chunkSize: 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MemoryBank(0, "x"));
    }
}
