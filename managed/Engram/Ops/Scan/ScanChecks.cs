namespace Engram.Ops;

/// <summary>
/// The only checks the managed scan API makes: span lengths against the shape (libengram receives bare
/// pointers). A shape that is itself invalid (a size ≤ 0, an overflow, an unknown gate) has no expected
/// length: the spans go to libengram, which rejects the shape before reading them.
/// </summary>
internal static class ScanChecks
{
    /// <summary>The product of the sizes, or null when one is ≤ 0 or it overflows.</summary>
    public static long? Elements(params long[] sizes)
    {
        long product = 1;
        foreach (long s in sizes)
        {
            if (s <= 0) return null;
            try
            {
                product = checked(product * s);
            }
            catch (OverflowException)
            {
                return null;
            }
        }
        return product;
    }

    public static long? Qk(ScanShape s) => Elements(s.Batch, s.T, s.QkHeadCount, s.KDim);

    public static long? Values(ScanShape s) => Elements(s.Batch, s.T, s.Heads, s.VDim);

    public static long? State(ScanShape s) => Elements(s.Batch, s.Heads, s.KDim, s.VDim);

    /// <summary>Elements of g for the gate: [B, T, H] or [B, T, H, K]; null for None (g must be empty: libengram rejects one) or an unknown gate.</summary>
    public static long? Gate(ScanShape s, ScanGate gate) => gate switch
    {
        ScanGate.Scalar => Elements(s.Batch, s.T, s.Heads),
        ScanGate.Vector => Elements(s.Batch, s.T, s.Heads, s.KDim),
        _ => null,
    };

    public static string GateWhat(ScanGate gate) => gate == ScanGate.Vector ? "B·T·H·K (vector gate)" : "B·T·H (scalar gate)";

    public static void Length(long actual, long? expected, string name, string what) =>
        CceChecks.Length(actual, expected, name, what);

    public static void Optional(long actual, long? expected, string name, string what) =>
        CceChecks.Optional(actual, expected, name, what);
}
