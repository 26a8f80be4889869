using System.Buffers.Binary;
using Engram.Onnx.Memory;

namespace Engram.Onnx.Tests;

public class MemoryBankFileTests
{
    private string dir = null!;

    [SetUp]
    public void MakeDir() => dir = Directory.CreateTempSubdirectory("engram-membank-").FullName;

    [TearDown]
    public void RemoveDir() => Directory.Delete(dir, recursive: true);

    private static MemoryBank Bank(int dim, long tokens, int capacity = 32, int chunk = 4, string id = "test/backbone", float offset = 0)
    {
        var bank = new MemoryBank(dim, id, capacity, chunk);
        var rng = new Random(7 + (int)tokens);
        for (long t = 0; t < tokens; t += 3)
        {
            int n = (int)Math.Min(3, tokens - t);
            var k = Enumerable.Range(0, n * dim).Select(_ => (float)rng.NextDouble() + offset).ToArray();
            var v = Enumerable.Range(0, n * dim).Select(_ => (float)rng.NextDouble() - offset).ToArray();
            bank.Append(k, v);
        }
        return bank;
    }

    private static float[] Dump(MemoryBank bank)
    {
        var all = new List<float> { bank.OldestPosition, bank.Count };
        for (long p = bank.OldestPosition; p < bank.OldestPosition + bank.Count; p++)
        {
            all.AddRange(bank.TokenKey(p).ToArray());
            all.AddRange(bank.TokenValue(p).ToArray());
        }
        return all.ToArray();
    }

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(30)]
    [TestCase(77)]
    public void SaveThenLoadRestoresEveryTokenAndRetrievesTheSame(int tokens)
    {
        var bank = Bank(5, tokens);
        var path = Path.Combine(dir, "bank.emb");
        MemoryBankFile.Save(bank, path);
        var loaded = MemoryBankFile.Load(path);
        Assert.That(Dump(loaded), Is.EqualTo(Dump(bank)));
        Assert.That((loaded.HiddenSize, loaded.ChunkSize, loaded.CapacityTokens, loaded.BackboneId),
            Is.EqualTo((bank.HiddenSize, bank.ChunkSize, bank.CapacityTokens, bank.BackboneId)));
        Assert.That(new FileInfo(path).Length, Is.EqualTo(44 + "test/backbone".Length + 2L * bank.Count * 5 * 4 + 4));
        if (bank.ChunkCount >= 2)
        {
            var q = new float[] { 0.3f, -1, 0.5f, 2, 0.1f };
            long[] a = new long[2], b = new long[2];
            float[] sa = new float[2], sb = new float[2];
            bank.Retrieve(q, 2, a, sa);
            loaded.Retrieve(q, 2, b, sb);
            Assert.That(b, Is.EqualTo(a));
            Assert.That(sb, Is.EqualTo(sa));
        }
        Assert.That(Directory.GetFiles(dir), Is.EqualTo(new[] { path }), "no temporary file left behind");
    }

    [Test]
    public void SaveReplacesAnExistingFileAtomically()
    {
        var path = Path.Combine(dir, "bank.emb");
        MemoryBankFile.Save(Bank(5, 10), path);
        var newer = Bank(5, 20);
        MemoryBankFile.Save(newer, path);
        Assert.That(Dump(MemoryBankFile.Load(path)), Is.EqualTo(Dump(newer)));
        Assert.That(Directory.GetFiles(dir), Has.Length.EqualTo(1));
    }

    [Test]
    public void SaveIntoAMissingDirectoryFailsCleanly()
    {
        var path = Path.Combine(dir, "no-such-dir", "bank.emb");
        Assert.Throws<DirectoryNotFoundException>(() => MemoryBankFile.Save(Bank(5, 10), path));
        Assert.That(Directory.GetFileSystemEntries(dir), Is.Empty);
    }

    [Test]
    public void EveryTruncationIsRejectedAndTheBankIsIntact()
    {
        var path = Path.Combine(dir, "bank.emb");
        MemoryBankFile.Save(Bank(3, 9), path);
        var full = File.ReadAllBytes(path);
        var target = Bank(3, 14, offset: 5);
        var before = Dump(target);
        var cut = Path.Combine(dir, "cut.emb");
        for (int n = 0; n < full.Length; n++)
        {
            File.WriteAllBytes(cut, full.AsSpan(0, n).ToArray());
            var e = Assert.Throws<InvalidDataException>(() => MemoryBankFile.Load(target, cut), $"{n} of {full.Length} bytes");
            Assert.That(e!.Message, Does.Contain(cut));
        }
        Assert.That(Dump(target), Is.EqualTo(before));
    }

    [Test]
    public void EveryFlippedByteIsRejectedAndTheBankIsIntact()
    {
        var path = Path.Combine(dir, "bank.emb");
        MemoryBankFile.Save(Bank(3, 9), path);
        var full = File.ReadAllBytes(path);
        var target = Bank(3, 14, offset: 5);
        var before = Dump(target);
        var bad = Path.Combine(dir, "bad.emb");
        for (int i = 0; i < full.Length; i++)
        {
            var copy = (byte[])full.Clone();
            copy[i] ^= 0x5A;
            File.WriteAllBytes(bad, copy);
            Assert.Throws<InvalidDataException>(() => MemoryBankFile.Load(target, bad), $"byte {i} flipped");
        }
        Assert.That(Dump(target), Is.EqualTo(before));
    }

    [Test]
    public void CorruptedPayloadSaysChecksum()
    {
        var path = Path.Combine(dir, "bank.emb");
        MemoryBankFile.Save(Bank(3, 9), path);
        var bytes = File.ReadAllBytes(path);
        bytes[^10] ^= 1;
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => MemoryBankFile.Load(path));
        Assert.That(e!.Message, Does.Contain("checksum"));
    }

    [Test]
    public void AFileFromAnotherBackboneIsRejectedWithBothHiddenSizes()
    {
        var path = Path.Combine(dir, "other.emb");
        MemoryBankFile.Save(Bank(8, 12, id: "other-model/layer2"), path);
        var target = Bank(5, 6);
        var before = Dump(target);
        var e = Assert.Throws<InvalidDataException>(() => MemoryBankFile.Load(target, path));
        Assert.That(e!.Message, Does.Contain("hidden size 8").And.Contain("hidden size 5"));
        Assert.That(Dump(target), Is.EqualTo(before));

        MemoryBankFile.Save(Bank(5, 12, id: "other-model/layer2"), path);
        e = Assert.Throws<InvalidDataException>(() => MemoryBankFile.Load(target, path));
        Assert.That(e!.Message, Does.Contain("other-model/layer2"));
        Assert.That(Dump(target), Is.EqualTo(before));
    }

    [Test]
    public void MoreTokensThanTheCapacityIsRejected()
    {
        var path = Path.Combine(dir, "big.emb");
        MemoryBankFile.Save(Bank(5, 30, capacity: 32), path);
        var small = Bank(5, 3, capacity: 8);
        Assert.Throws<InvalidDataException>(() => MemoryBankFile.Load(small, path));
        Assert.That(small.Count, Is.EqualTo(3));
    }

    [Test]
    public void LoadIntoABankWithTheSameShapeReplacesItsContents()
    {
        var path = Path.Combine(dir, "bank.emb");
        var source = Bank(5, 25);
        MemoryBankFile.Save(source, path);
        var target = Bank(5, 7, offset: 3);
        MemoryBankFile.Load(target, path);
        Assert.That(Dump(target), Is.EqualTo(Dump(source)));
    }

    [Test]
    public void WrongMagicOrVersionIsNamed()
    {
        var path = Path.Combine(dir, "bank.emb");
        MemoryBankFile.Save(Bank(3, 4), path);
        var bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), 2);
        File.WriteAllBytes(path, bytes);
        Assert.That(Assert.Throws<InvalidDataException>(() => MemoryBankFile.Load(path))!.Message, Does.Contain("version 2"));
        File.WriteAllBytes(path, "hello, not a bank at all, just some text here!!"u8.ToArray());
        Assert.That(Assert.Throws<InvalidDataException>(() => MemoryBankFile.Load(path))!.Message, Does.Contain("magic"));
        Assert.Throws<FileNotFoundException>(() => MemoryBankFile.Load(Path.Combine(dir, "missing.emb")));
    }
}
