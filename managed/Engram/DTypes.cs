namespace Engram;

/// <summary>Maps .NET element types to <see cref="EngramDType"/> and converts 16-bit values.</summary>
public static class DTypes
{
    /// <summary>The dtype of a floating-point element type: float, Half or BFloat16.</summary>
    /// <exception cref="ArgumentException">Any other type.</exception>
    public static EngramDType OfFloat<T>(string paramName) where T : unmanaged =>
        typeof(T) == typeof(float) ? EngramDType.F32
        : typeof(T) == typeof(Half) ? EngramDType.F16
        : typeof(T) == typeof(BFloat16) ? EngramDType.BF16
        : throw new ArgumentException(
            $"element type {typeof(T).Name} is not supported: use float, System.Half or Engram.BFloat16", paramName);

    /// <summary>The dtype of a target-id element type: int or long.</summary>
    /// <exception cref="ArgumentException">Any other type.</exception>
    public static EngramDType OfTarget<T>(string paramName) where T : unmanaged =>
        typeof(T) == typeof(int) ? EngramDType.I32
        : typeof(T) == typeof(long) ? EngramDType.I64
        : throw new ArgumentException($"target type {typeof(T).Name} is not supported: use int or long", paramName);

    /// <summary>Bytes per element.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An unknown dtype, or a packed one smaller than a byte (see <see cref="Bits"/>).</exception>
    public static int Size(EngramDType dtype) => dtype switch
    {
        EngramDType.F32 or EngramDType.I32 => 4,
        EngramDType.F16 or EngramDType.BF16 => 2,
        EngramDType.I64 => 8,
        EngramDType.U2 => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "u2 packs 16 elements in 32 bits: use Bits"),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };

    /// <summary>Bits per element (2 for <see cref="EngramDType.U2"/>), as libengram's engram_dtype_bits.</summary>
    public static int Bits(EngramDType dtype) => dtype == EngramDType.U2 ? 2 : 8 * Size(dtype);

    /// <summary>Short lower-case name as in the benchmark JSON: f32, f16, bf16, i32, i64, u2.</summary>
    public static string Name(EngramDType dtype) => dtype switch
    {
        EngramDType.F32 => "f32",
        EngramDType.F16 => "f16",
        EngramDType.BF16 => "bf16",
        EngramDType.I32 => "i32",
        EngramDType.I64 => "i64",
        EngramDType.U2 => "u2",
        _ => dtype.ToString(),
    };

    /// <summary>Parses f32, f16 or bf16.</summary>
    public static EngramDType ParseFloat(string name) => name.ToLowerInvariant() switch
    {
        "f32" or "float" or "float32" => EngramDType.F32,
        "f16" or "half" or "float16" => EngramDType.F16,
        "bf16" or "bfloat16" => EngramDType.BF16,
        _ => throw new ArgumentException($"unknown dtype '{name}': use f32, f16 or bf16", nameof(name)),
    };

    /// <summary>Widens raw elements of a float dtype to float.</summary>
    public static void ToSingle(ReadOnlySpan<byte> raw, EngramDType dtype, Span<float> dst)
    {
        switch (dtype)
        {
            case EngramDType.F32:
                System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(raw).CopyTo(dst);
                break;
            case EngramDType.F16:
                var h = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(raw);
                for (int i = 0; i < h.Length; i++) dst[i] = (float)h[i];
                break;
            case EngramDType.BF16:
                var b = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, BFloat16>(raw);
                for (int i = 0; i < b.Length; i++) dst[i] = b[i].ToSingle();
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "not a float dtype");
        }
    }

    /// <summary>Rounds floats into raw elements of a float dtype (round to nearest even).</summary>
    public static void FromSingle(ReadOnlySpan<float> src, EngramDType dtype, Span<byte> raw)
    {
        switch (dtype)
        {
            case EngramDType.F32:
                src.CopyTo(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(raw));
                break;
            case EngramDType.F16:
                var h = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(raw);
                for (int i = 0; i < src.Length; i++) h[i] = (Half)src[i];
                break;
            case EngramDType.BF16:
                var b = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, BFloat16>(raw);
                for (int i = 0; i < src.Length; i++) b[i] = BFloat16.FromSingle(src[i]);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "not a float dtype");
        }
    }

    /// <summary>Reads target i of an i32 or i64 array as a long.</summary>
    public static long Target(ReadOnlySpan<byte> raw, EngramDType dtype, int i) =>
        dtype == EngramDType.I32
            ? System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(raw)[i]
            : System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(raw)[i];
}
