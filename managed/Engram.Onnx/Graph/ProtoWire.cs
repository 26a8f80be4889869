using System.Buffers;
using System.Text;

namespace Engram.Onnx.Graph;

/// <summary>Protocol-buffer wire types (the low three bits of a field tag).</summary>
internal enum WireType
{
    Varint = 0,
    Fixed64 = 1,
    LengthDelimited = 2,
    StartGroup = 3,
    EndGroup = 4,
    Fixed32 = 5,
}

/// <summary>One field of a protobuf message: its number, wire type, the value (varint) or
/// payload (length-delimited), and the span of the whole field (tag included) so an editor can
/// copy fields it does not understand verbatim.</summary>
internal readonly record struct ProtoField(int Number, WireType Type, ulong Varint, int PayloadStart, int PayloadLength,
    int FieldStart, int FieldEnd);

/// <summary>A forward-only reader of the protobuf wire format over a byte buffer. Hand-written
/// for the few ONNX fields Engram needs (no generated onnx.proto classes): it walks the fields of
/// one message and reports each one with its byte span; nested messages are read by a reader over
/// the payload span. Malformed input throws <see cref="InvalidDataException"/>, never reads out of
/// bounds.</summary>
internal struct ProtoReader
{
    private readonly ReadOnlyMemory<byte> buffer;
    private readonly int end;
    private int pos;

    public ProtoReader(ReadOnlyMemory<byte> buffer, int start, int length)
    {
        if (start < 0 || length < 0 || start > buffer.Length - length)
            throw new InvalidDataException("protobuf span outside the buffer");
        this.buffer = buffer;
        pos = start;
        end = start + length;
    }

    public ProtoReader(ReadOnlyMemory<byte> buffer) : this(buffer, 0, buffer.Length) { }

    /// <summary>Reads the next field; false at the end of the message.</summary>
    public bool Next(out ProtoField field)
    {
        field = default;
        if (pos >= end) return false;
        int fieldStart = pos;
        ulong tag = ReadVarint();
        int number = checked((int)(tag >> 3));
        var type = (WireType)(tag & 7);
        if (number == 0) throw new InvalidDataException($"protobuf field number 0 at byte {fieldStart}");
        ulong value = 0;
        int payloadStart = pos, payloadLength = 0;
        switch (type)
        {
            case WireType.Varint:
                value = ReadVarint();
                break;
            case WireType.Fixed64:
                Skip(8);
                break;
            case WireType.Fixed32:
                Skip(4);
                break;
            case WireType.LengthDelimited:
                ulong len = ReadVarint();
                if (len > (ulong)(end - pos))
                    throw new InvalidDataException($"protobuf field {number} at byte {fieldStart} claims {len} bytes, {end - pos} remain (truncated or not a protobuf)");
                payloadStart = pos;
                payloadLength = (int)len;
                pos += payloadLength;
                break;
            default:
                // Groups are deprecated and never used by onnx.proto.
                throw new InvalidDataException($"protobuf wire type {(int)type} (field {number}) at byte {fieldStart} is not used by ONNX");
        }
        field = new ProtoField(number, type, value, payloadStart, payloadLength, fieldStart, pos);
        return true;
    }

    public readonly ProtoReader Nested(in ProtoField f)
    {
        if (f.Type != WireType.LengthDelimited)
            throw new InvalidDataException($"protobuf field {f.Number} should be a message, has wire type {f.Type}");
        return new ProtoReader(buffer, f.PayloadStart, f.PayloadLength);
    }

    public readonly string String(in ProtoField f)
    {
        if (f.Type != WireType.LengthDelimited)
            throw new InvalidDataException($"protobuf field {f.Number} should be a string, has wire type {f.Type}");
        return Encoding.UTF8.GetString(buffer.Span.Slice(f.PayloadStart, f.PayloadLength));
    }

    private ulong ReadVarint()
    {
        ulong result = 0;
        var span = buffer.Span;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (pos >= end) throw new InvalidDataException($"protobuf varint runs past the end at byte {pos} (truncated)");
            byte b = span[pos++];
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw new InvalidDataException($"protobuf varint longer than 10 bytes at byte {pos}");
    }

    private void Skip(int n)
    {
        if (n > end - pos) throw new InvalidDataException($"protobuf fixed field runs past the end at byte {pos} (truncated)");
        pos += n;
    }
}

/// <summary>Writes protobuf wire format into a growable buffer: tags, varints, strings, nested
/// messages and raw copied bytes. The counterpart of <see cref="ProtoReader"/>.</summary>
internal sealed class ProtoWriter
{
    private readonly ArrayBufferWriter<byte> output;

    public ProtoWriter(int initialCapacity = 256) => output = new ArrayBufferWriter<byte>(Math.Max(16, initialCapacity));

    public ReadOnlySpan<byte> WrittenSpan => output.WrittenSpan;

    public byte[] ToArray() => output.WrittenSpan.ToArray();

    public void Raw(ReadOnlySpan<byte> bytes) => output.Write(bytes);

    public void Varint(ulong v)
    {
        Span<byte> tmp = stackalloc byte[10];
        int n = 0;
        while (v >= 0x80)
        {
            tmp[n++] = (byte)(v | 0x80);
            v >>= 7;
        }
        tmp[n++] = (byte)v;
        output.Write(tmp[..n]);
    }

    public void Tag(int number, WireType type) => Varint(((ulong)(uint)number << 3) | (uint)type);

    public void VarintField(int number, long value)
    {
        Tag(number, WireType.Varint);
        Varint(unchecked((ulong)value));
    }

    public void BytesField(int number, ReadOnlySpan<byte> payload)
    {
        Tag(number, WireType.LengthDelimited);
        Varint((ulong)payload.Length);
        Raw(payload);
    }

    public void StringField(int number, string value) => BytesField(number, Encoding.UTF8.GetBytes(value));

    public void MessageField(int number, ProtoWriter message) => BytesField(number, message.WrittenSpan);
}
