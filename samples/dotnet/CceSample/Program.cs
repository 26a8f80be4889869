// CceSample: the loss of a tiny language-model head through Engram's fused linear
// cross-entropy, checked against the same loss computed here in double precision.
using Engram;
using Engram.Ops;

const int n = 5, d = 8, v = 11;
var random = new Random(7);
float[] e = Enumerable.Range(0, n * d).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
float[] c = Enumerable.Range(0, v * d).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
int[] targets = Enumerable.Range(0, n).Select(_ => random.Next(v)).ToArray();

using var context = EngramContext.Create();
var loss = new float[1];
Cce.Forward(context, new CceInputs<float, int>(new CceShape(n, d, v), e, c, targets), loss);

// The same mean loss, materialised: lse(z_i) - z_i[target_i] with z = e·cᵀ.
double expected = 0;
for (int i = 0; i < n; i++)
{
    var z = new double[v];
    for (int j = 0; j < v; j++)
        for (int k = 0; k < d; k++) z[j] += (double)e[i * d + k] * c[j * d + k];
    double max = z.Max();
    expected += max + Math.Log(z.Sum(x => Math.Exp(x - max))) - z[targets[i]];
}
expected /= n;

Console.WriteLine($"engram {EngramLibrary.Version} on {context}: loss {loss[0]:F6}, float64 {expected:F6}");
if (Math.Abs(loss[0] - expected) > 1e-5 * Math.Max(1, Math.Abs(expected)))
{
    Console.Error.WriteLine("CceSample: the loss differs from the float64 reference");
    return 1;
}
Console.WriteLine("CceSample: ok");
return 0;
