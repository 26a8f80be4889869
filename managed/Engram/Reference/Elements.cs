namespace Engram.Reference;

/// <summary>Element conversions for the verification code (clarity over speed: it boxes).</summary>
public static class Elements
{
    /// <summary>Rounds a float to float, Half or BFloat16; ids: int or long.</summary>
    public static T From<T>(double x) where T : unmanaged =>
        typeof(T) == typeof(float) ? (T)(object)(float)x
        : typeof(T) == typeof(Half) ? (T)(object)(Half)(float)x
        : typeof(T) == typeof(BFloat16) ? (T)(object)BFloat16.FromSingle((float)x)
        : typeof(T) == typeof(int) ? (T)(object)checked((int)x)
        : typeof(T) == typeof(long) ? (T)(object)(long)x
        : throw new NotSupportedException(typeof(T).Name);

    /// <summary>Widens float, Half, BFloat16, int or long to double (exact).</summary>
    public static double ToDouble<T>(T x) where T : unmanaged => x switch
    {
        float f => f,
        Half h => (double)h,
        BFloat16 b => b.ToSingle(),
        int i => i,
        long l => l,
        _ => throw new NotSupportedException(typeof(T).Name),
    };

    /// <summary>Converts an array element-wise.</summary>
    public static T[] Array<T>(IReadOnlyList<double> values) where T : unmanaged
    {
        var a = new T[values.Count];
        for (int i = 0; i < a.Length; i++) a[i] = From<T>(values[i]);
        return a;
    }

    /// <summary>Widens an array element-wise.</summary>
    public static double[] Widen<T>(ReadOnlySpan<T> values) where T : unmanaged
    {
        var a = new double[values.Length];
        for (int i = 0; i < a.Length; i++) a[i] = ToDouble(values[i]);
        return a;
    }
}
