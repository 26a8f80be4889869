using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;

namespace Engram.Onnx.Memory;

/// <summary>
/// Saves and reloads a <see cref="MemoryBank"/>. Format version 1, little-endian:
/// <code>
/// offset  size  field
///      0     8  magic "ENGRAMMB"
///      8     4  u32 format version (1)
///     12     4  u32 hidden size
///     16     4  u32 chunk size
///     20     4  u32 capacity in tokens
///     24     8  u64 global position of the oldest token
///     32     8  u64 token count n
///     40     4  u32 backbone id length b (bytes of UTF-8)
///     44     b  backbone id
///   44+b   4nd  keys, oldest token first, float32 [n, hidden]
///          4nd  values, same order
///            4  u32 CRC-32 (IEEE, System.IO.Hashing.Crc32) of every byte before it
/// </code>
/// Writes are atomic: the file is written to a temporary file in the same directory, flushed to
/// disk, then renamed over the target, so a crash leaves the old file or the new one, never half
/// of one. Reads check the length, the checksum and that the file belongs to this bank (hidden
/// size, chunk size, backbone id) before anything in memory changes.
/// </summary>
public static class MemoryBankFile
{
    /// <summary>Current format version.</summary>
    public const uint Version = 1;

    private static ReadOnlySpan<byte> Magic => "ENGRAMMB"u8;
    private const int FixedHeader = 44;

    /// <summary>Atomically writes <paramref name="bank"/> to <paramref name="path"/>.</summary>
    public static void Save(MemoryBank bank, string path)
    {
        ArgumentNullException.ThrowIfNull(bank);
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("memory bank files are written on little-endian hosts only");
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"cannot save the memory bank to '{path}': directory '{dir}' does not exist");
        var temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                var crc = new Crc32();
                void Write(ReadOnlySpan<byte> bytes)
                {
                    crc.Append(bytes);
                    stream.Write(bytes);
                }

                var id = Encoding.UTF8.GetBytes(bank.BackboneId);
                var header = new byte[FixedHeader];
                Magic.CopyTo(header);
                BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), Version);
                BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(12), (uint)bank.HiddenSize);
                BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(16), (uint)bank.ChunkSize);
                BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(20), (uint)bank.CapacityTokens);
                BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(24), (ulong)bank.OldestPosition);
                BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(32), (ulong)bank.Count);
                BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(40), (uint)id.Length);
                Write(header);
                Write(id);
                for (long p = bank.OldestPosition; p < bank.OldestPosition + bank.Count; p++)
                    Write(MemoryMarshal.AsBytes(bank.TokenKey(p)));
                for (long p = bank.OldestPosition; p < bank.OldestPosition + bank.Count; p++)
                    Write(MemoryMarshal.AsBytes(bank.TokenValue(p)));
                Span<byte> tail = stackalloc byte[4];
                BinaryPrimitives.WriteUInt32LittleEndian(tail, crc.GetCurrentHashAsUInt32());
                stream.Write(tail);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>
    /// Replaces <paramref name="bank"/>'s contents with the file's. The file must match the bank's
    /// hidden size, chunk size and backbone id, and hold no more tokens than its capacity; on any
    /// error (<see cref="InvalidDataException"/>, <see cref="FileNotFoundException"/>) the bank
    /// is left exactly as it was.
    /// </summary>
    public static void Load(MemoryBank bank, string path)
    {
        ArgumentNullException.ThrowIfNull(bank);
        var snapshot = Read(path);
        if (snapshot.HiddenSize != bank.HiddenSize)
            throw new InvalidDataException(
                $"memory file '{path}' holds features of hidden size {snapshot.HiddenSize} (backbone '{snapshot.BackboneId}'); " +
                $"this bank's backbone '{bank.BackboneId}' has hidden size {bank.HiddenSize}");
        if (snapshot.BackboneId != bank.BackboneId)
            throw new InvalidDataException($"memory file '{path}' is from backbone '{snapshot.BackboneId}', this bank is for '{bank.BackboneId}'");
        if (snapshot.ChunkSize != bank.ChunkSize)
            throw new InvalidDataException($"memory file '{path}' has chunk size {snapshot.ChunkSize}, this bank {bank.ChunkSize}");
        if (snapshot.Count > bank.CapacityTokens)
            throw new InvalidDataException($"memory file '{path}' holds {snapshot.Count} tokens, more than this bank's capacity {bank.CapacityTokens}");
        bank.Restore(snapshot.Oldest, snapshot.Count, snapshot.Keys, snapshot.Values);
    }

    /// <summary>Creates a bank from a file, with the file's own capacity and chunk size.</summary>
    public static MemoryBank Load(string path, IChunkSelector? selector = null)
    {
        var s = Read(path);
        var bank = new MemoryBank(s.HiddenSize, s.BackboneId, s.Capacity, s.ChunkSize, selector);
        bank.Restore(s.Oldest, s.Count, s.Keys, s.Values);
        return bank;
    }

    private sealed record Snapshot(int HiddenSize, int ChunkSize, int Capacity, long Oldest, long Count, string BackboneId,
        float[] Keys, float[] Values);

    private static Snapshot Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"memory file '{path}' does not exist", path);
        var bytes = File.ReadAllBytes(path);
        string Bad(string why) => $"memory file '{path}' is not a valid Engram memory bank: {why}";
        if (bytes.Length >= 8 && !bytes.AsSpan(0, 8).SequenceEqual(Magic)) throw new InvalidDataException(Bad("wrong magic (not a memory bank file)"));
        if (bytes.Length < FixedHeader + 4) throw new InvalidDataException(Bad($"{bytes.Length} bytes, shorter than the header (truncated?)"));
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8));
        if (version != Version) throw new InvalidDataException(Bad($"format version {version}; this build reads version {Version}"));
        uint hidden = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(12));
        uint chunk = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(16));
        uint capacity = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(20));
        ulong oldest = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(24));
        ulong count = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(32));
        uint idLength = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(40));
        if (hidden == 0 || hidden > int.MaxValue || chunk == 0 || capacity == 0 || capacity > int.MaxValue
            || capacity % chunk != 0 || oldest % chunk != 0 || count > capacity || oldest > long.MaxValue / 2 || idLength > 4096)
            throw new InvalidDataException(Bad($"inconsistent header (hidden {hidden}, chunk {chunk}, capacity {capacity}, tokens {count}, id {idLength} bytes)"));
        long floats = (long)count * hidden;
        long expected = FixedHeader + idLength + 2 * floats * sizeof(float) + 4;
        if (bytes.LongLength != expected)
            throw new InvalidDataException(Bad($"{bytes.LongLength} bytes where its header implies {expected} (truncated or corrupted)"));
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(bytes.Length - 4));
        uint actual = Crc32.HashToUInt32(bytes.AsSpan(0, bytes.Length - 4));
        if (stored != actual) throw new InvalidDataException(Bad($"checksum mismatch (stored {stored:X8}, computed {actual:X8}): the file is corrupted"));
        string id = Encoding.UTF8.GetString(bytes, FixedHeader, (int)idLength);
        int offset = FixedHeader + (int)idLength;
        var keys = MemoryMarshal.Cast<byte, float>(bytes.AsSpan(offset, (int)(floats * sizeof(float)))).ToArray();
        var values = MemoryMarshal.Cast<byte, float>(bytes.AsSpan(offset + (int)(floats * sizeof(float)), (int)(floats * sizeof(float)))).ToArray();
        if (!keys.All(float.IsFinite) || !values.All(float.IsFinite)) throw new InvalidDataException(Bad("non-finite key or value"));
        return new Snapshot((int)hidden, (int)chunk, (int)capacity, (long)oldest, (long)count, id, keys, values);
    }
}
