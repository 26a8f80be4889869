using Microsoft.ML.OnnxRuntime;

namespace Engram.Onnx.Backbone;

/// <summary>
/// Everything one sequence length needs, allocated once: pinned input arrays wrapped by OrtValues,
/// pinned float output arrays wrapped by OrtValues, and an <see cref="OrtIoBinding"/> that binds
/// them. A run copies the token ids into the input array and calls RunWithBinding: ONNX Runtime
/// reads and writes these buffers in place, so the steady state allocates nothing.
/// </summary>
internal sealed class LengthBinding : IDisposable
{
    private readonly long[]? idsLong;
    private readonly int[]? idsInt;
    private readonly List<OrtValue> values = new();
    private readonly List<float[]> outputs = new();
    private readonly List<long[]> outputShapes = new();

    public OrtIoBinding Binding { get; }
    public int Length { get; }
    public long LastUse { get; set; }

    public LengthBinding(InferenceSession session, ModelInputs inputs, IReadOnlyList<string> outputNames,
        IReadOnlyList<long[]> shapes, int length)
    {
        Length = length;
        Binding = session.CreateIoBinding();
        try
        {
            long[] shape = { 1, length };
            foreach (var input in inputs.All)
            {
                long fill = input.Role == InputRole.AttentionMask ? 1 : 0;
                if (input.IsInt64)
                {
                    var a = GC.AllocateArray<long>(length, pinned: true);
                    Array.Fill(a, fill);
                    if (input.Role == InputRole.InputIds) idsLong = a;
                    Bind(input.Name, OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, a.AsMemory(), shape), isInput: true);
                }
                else
                {
                    var a = GC.AllocateArray<int>(length, pinned: true);
                    Array.Fill(a, (int)fill);
                    if (input.Role == InputRole.InputIds) idsInt = a;
                    Bind(input.Name, OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, a.AsMemory(), shape), isInput: true);
                }
            }
            for (int i = 0; i < outputNames.Count; i++)
            {
                long count = 1;
                foreach (var d in shapes[i]) count = checked(count * d);
                var buffer = GC.AllocateArray<float>(checked((int)count), pinned: true);
                outputs.Add(buffer);
                outputShapes.Add(shapes[i]);
                Bind(outputNames[i], OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, buffer.AsMemory(), shapes[i]), isInput: false);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public void SetIds(ReadOnlySpan<int> ids)
    {
        if (idsLong is not null)
            for (int i = 0; i < ids.Length; i++) idsLong[i] = ids[i];
        else
            ids.CopyTo(idsInt);
    }

    public ReadOnlySpan<float> Output(int index) => outputs[index];

    public ReadOnlySpan<long> OutputShape(int index) => outputShapes[index];

    public long OutputBytes => outputs.Sum(o => (long)o.Length * sizeof(float));

    private void Bind(string name, OrtValue value, bool isInput)
    {
        values.Add(value);
        if (isInput) Binding.BindInput(name, value);
        else Binding.BindOutput(name, value);
    }

    public void Dispose()
    {
        Binding.Dispose();
        foreach (var v in values) v.Dispose();
        values.Clear();
    }
}
