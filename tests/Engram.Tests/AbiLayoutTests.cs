using System.Reflection;
using System.Runtime.InteropServices;
using Engram.Native;

namespace Engram.Tests;

/// <summary>
/// The managed struct mirrors against the native layout (engram_struct_layout): an ABI drift fails
/// here instead of corrupting memory.
/// </summary>
public sealed class AbiLayoutTests
{
    private static readonly (Type Managed, string Native)[] Structs =
    [
        (typeof(EngramCapabilities), "engram_capabilities"),
        (typeof(EngramDeviceInfo), "engram_device_info"),
        (typeof(EngramMemoryStats), "engram_memory_stats"),
        (typeof(EngramOpStats), "engram_op_stats"),
        (typeof(EngramOpCounter), "engram_op_counter"),
        (typeof(EngramCceOptions), "engram_cce_options"),
        (typeof(EngramCceInputs), "engram_cce_inputs"),
        (typeof(EngramCceGrads), "engram_cce_grads"),
    ];

    private static IEnumerable<TestCaseData> StructCases() =>
        Structs.Select(s => new TestCaseData(s.Managed, s.Native).SetArgDisplayNames(s.Native));

    [TestCaseSource(nameof(StructCases))]
    public void SizeMatchesNative(Type managed, string native) =>
        Assert.That((ulong)Marshal.SizeOf(managed), Is.EqualTo(EngramLibrary.StructLayout(native, null)), native);

    [TestCaseSource(nameof(StructCases))]
    public void EveryFieldTheNativeSideListsHasTheSameOffset(Type managed, string native)
    {
        int listed = 0;
        var unlisted = new List<string>();
        foreach (var field in managed.GetFields(BindingFlags.Public | BindingFlags.Instance))
        {
            ulong offset;
            try
            {
                offset = EngramLibrary.StructLayout(native, field.Name);
            }
            catch (EngramArgumentException)
            {
                unlisted.Add(field.Name); // engram_struct_layout has no entry for it (see the report)
                continue;
            }
            listed++;
            Assert.That((ulong)Marshal.OffsetOf(managed, field.Name), Is.EqualTo(offset), $"{native}.{field.Name}");
        }
        TestContext.Out.WriteLine($"{native}: {listed} fields checked; not listed natively: {string.Join(", ", unlisted)}");
        Assert.That(listed, Is.GreaterThan(0), $"the native side lists no field of {native}");
    }

    [Test]
    public void ManagedFieldsAreSequentialFromZero()
    {
        // For fields without a native entry (struct_size, reserved, ...) the layout is still pinned down:
        // sequential, no gaps beyond alignment, first field at 0, total = the native sizeof (checked above).
        foreach (var (managed, native) in Structs)
        {
            var fields = managed.GetFields(BindingFlags.Public | BindingFlags.Instance);
            Assert.That((long)Marshal.OffsetOf(managed, fields[0].Name), Is.Zero, $"{native}: first field at 0");
            long previous = -1;
            foreach (var f in fields)
            {
                long offset = (long)Marshal.OffsetOf(managed, f.Name);
                Assert.That(offset, Is.GreaterThan(previous), $"{native}.{f.Name} out of order");
                previous = offset;
            }
        }
    }

    [Test]
    public unsafe void InitFunctionsWriteTheManagedSize()
    {
        EngramCceOptions o;
        EngramCceInputs i;
        EngramCceGrads g;
        EngramCapabilities c;
        EngramMemoryStats m;
        EngramOpStats s;
        EngramDeviceInfo d;
        NativeMethods.Check(NativeMethods.engram_cce_options_init(&o));
        NativeMethods.Check(NativeMethods.engram_cce_inputs_init(&i));
        NativeMethods.Check(NativeMethods.engram_cce_grads_init(&g));
        NativeMethods.Check(NativeMethods.engram_capabilities_init(&c));
        NativeMethods.Check(NativeMethods.engram_memory_stats_init(&m));
        NativeMethods.Check(NativeMethods.engram_op_stats_init(&s));
        NativeMethods.Check(NativeMethods.engram_device_info_init(&d));
        (uint Written, int Managed, string Name)[] sizes =
        [
            (o.struct_size, sizeof(EngramCceOptions), "engram_cce_options"),
            (i.struct_size, sizeof(EngramCceInputs), "engram_cce_inputs"),
            (g.struct_size, sizeof(EngramCceGrads), "engram_cce_grads"),
            (c.struct_size, sizeof(EngramCapabilities), "engram_capabilities"),
            (m.struct_size, sizeof(EngramMemoryStats), "engram_memory_stats"),
            (s.struct_size, sizeof(EngramOpStats), "engram_op_stats"),
            (d.struct_size, sizeof(EngramDeviceInfo), "engram_device_info"),
        ];
        foreach (var (written, managed, name) in sizes)
            Assert.That(written, Is.EqualTo((uint)managed), name);
    }

    [Test]
    public unsafe void DefaultOptionsMatchTheManagedDefaults()
    {
        EngramCceOptions native;
        NativeMethods.Check(NativeMethods.engram_cce_options_init(&native));
        var n = native;
        var managed = Engram.Ops.CceOptions.Default.ToNative();
        Assert.Multiple(() =>
        {
            Assert.That(managed.reduction, Is.EqualTo(n.reduction), "reduction");
            Assert.That(managed.ignore_index, Is.EqualTo(n.ignore_index), "ignore_index");
            Assert.That(managed.softcap, Is.EqualTo(n.softcap), "softcap");
            Assert.That(managed.label_smoothing, Is.EqualTo(n.label_smoothing), "label_smoothing");
            Assert.That(managed.z_loss, Is.EqualTo(n.z_loss), "z_loss");
            Assert.That(managed.filter_eps, Is.EqualTo(n.filter_eps), "filter_eps");
            Assert.That(managed.check_targets, Is.EqualTo(n.check_targets), "check_targets");
        });
    }

    [Test]
    public void AbiVersionMatchesTheHeaderTheBindingsWereWrittenFor() =>
        Assert.That(EngramLibrary.AbiVersion, Is.EqualTo(EngramLibrary.HeaderAbiVersion));

    [Test]
    public void UnknownStructIsAnErrorNamingIt()
    {
        var e = Assert.Throws<EngramArgumentException>(() => EngramLibrary.StructLayout("engram_no_such_struct", null))!;
        Assert.That(e.Status, Is.EqualTo(EngramStatus.InvalidArgument));
        Assert.That(e.Message, Does.Contain("engram_no_such_struct"));
    }
}
