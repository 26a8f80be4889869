namespace Engram.Ops;

/// <summary>
/// The managed 2-bit weight checks: span lengths against the shape (null expected length when the
/// shape is itself invalid: libengram rejects it) and the scale element type.
/// </summary>
internal static class QMatmulChecks
{
    /// <summary>Words of code storage (as engram_qmatmul_code_words), or null for an invalid shape.</summary>
    public static long? CodeWords(long nOut, long k, QLayout layout)
    {
        if (nOut <= 0 || k <= 0 || k % 16 != 0) return null;
        long rows = layout == QLayout.CpuPrepared ? (nOut + 3) / 4 * 4 : nOut;
        if (layout is not (QLayout.Plain or QLayout.CpuPrepared) || rows < nOut) return null;
        return ScanChecks.Elements(rows, k / 16);
    }

    /// <summary>Scale or zero entries: NOut·K/G, or null when G does not divide K (or a size is invalid).</summary>
    public static long? Groups(long nOut, long k, int groupSize) =>
        groupSize <= 0 || k <= 0 || k % groupSize != 0 ? null : ScanChecks.Elements(nOut, k / groupSize);

    public static EngramDType ScaleDType<TScale>(string name) where TScale : unmanaged =>
        typeof(TScale) == typeof(float) ? EngramDType.F32
        : typeof(TScale) == typeof(Half) ? EngramDType.F16
        : throw new ArgumentException($"scale type {typeof(TScale).Name} is not supported: use float or System.Half", name);

    public static void Length(long actual, long? expected, string name, string what) =>
        CceChecks.Length(actual, expected, name, what);
}
