using System.Globalization;

namespace Engram;

/// <summary>
/// bfloat16: the upper 16 bits of an IEEE float (8-bit exponent, 7-bit mantissa). .NET 10 has no
/// public System.Numerics.BFloat16, so Engram defines this minimal storage type. Conversion from
/// float rounds to nearest, ties to even; NaN stays NaN (quiet).
/// </summary>
public readonly struct BFloat16 : IEquatable<BFloat16>, IComparable<BFloat16>
{
    /// <summary>The raw bits.</summary>
    public ushort Bits { get; }

    private BFloat16(ushort bits) => Bits = bits;

    /// <summary>Reinterprets raw bits as a bfloat16.</summary>
    public static BFloat16 FromBits(ushort bits) => new(bits);

    /// <summary>Rounds a float to the nearest bfloat16 (ties to even).</summary>
    public static BFloat16 FromSingle(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return new((ushort)((bits >> 16) | 0x0040)); // keep sign, force quiet
        uint lsb = (bits >> 16) & 1;
        uint rounded = bits + 0x7FFF + lsb; // overflow to infinity is the correct rounding
        return new((ushort)(rounded >> 16));
    }

    /// <summary>The exact float value.</summary>
    public float ToSingle() => BitConverter.UInt32BitsToSingle((uint)Bits << 16);

    /// <summary>Rounds a float to bfloat16.</summary>
    public static explicit operator BFloat16(float value) => FromSingle(value);

    /// <summary>Widens to float (exact).</summary>
    public static implicit operator float(BFloat16 value) => value.ToSingle();

    /// <summary>Widens to double (exact).</summary>
    public static explicit operator double(BFloat16 value) => value.ToSingle();

    /// <inheritdoc/>
    public bool Equals(BFloat16 other) => ToSingle().Equals(other.ToSingle());

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is BFloat16 b && Equals(b);

    /// <inheritdoc/>
    public override int GetHashCode() => ToSingle().GetHashCode();

    /// <inheritdoc/>
    public int CompareTo(BFloat16 other) => ToSingle().CompareTo(other.ToSingle());

    /// <summary>Equality by value (NaN unequal, +0 == -0).</summary>
    public static bool operator ==(BFloat16 a, BFloat16 b) => a.ToSingle() == b.ToSingle();

    /// <summary>Inequality by value.</summary>
    public static bool operator !=(BFloat16 a, BFloat16 b) => a.ToSingle() != b.ToSingle();

    /// <summary>Ordering by value.</summary>
    public static bool operator <(BFloat16 a, BFloat16 b) => a.ToSingle() < b.ToSingle();

    /// <summary>Ordering by value.</summary>
    public static bool operator >(BFloat16 a, BFloat16 b) => a.ToSingle() > b.ToSingle();

    /// <summary>Ordering by value.</summary>
    public static bool operator <=(BFloat16 a, BFloat16 b) => a.ToSingle() <= b.ToSingle();

    /// <summary>Ordering by value.</summary>
    public static bool operator >=(BFloat16 a, BFloat16 b) => a.ToSingle() >= b.ToSingle();

    /// <inheritdoc/>
    public override string ToString() => ToSingle().ToString(CultureInfo.InvariantCulture);
}
