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
        (typeof(EngramScanOptions), "engram_scan_options"),
        (typeof(EngramScanInputs), "engram_scan_inputs"),
        (typeof(EngramScanGrads), "engram_scan_grads"),
        (typeof(EngramAttentionCacheConfig), "engram_attention_cache_config"),
        (typeof(EngramAttentionCacheInfo), "engram_attention_cache_info"),
        (typeof(EngramAttentionOptions), "engram_attention_options"),
        (typeof(EngramQWeight), "engram_qweight"),
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
        EngramScanOptions so;
        EngramScanInputs si;
        EngramScanGrads sg;
        EngramAttentionCacheConfig ac;
        EngramAttentionCacheInfo ai;
        EngramAttentionOptions ao;
        EngramQWeight qw;
        NativeMethods.Check(NativeMethods.engram_scan_options_init(&so));
        NativeMethods.Check(NativeMethods.engram_scan_inputs_init(&si));
        NativeMethods.Check(NativeMethods.engram_scan_grads_init(&sg));
        NativeMethods.Check(NativeMethods.engram_attention_cache_config_init(&ac));
        NativeMethods.Check(NativeMethods.engram_attention_cache_info_init(&ai));
        NativeMethods.Check(NativeMethods.engram_attention_options_init(&ao));
        NativeMethods.Check(NativeMethods.engram_qweight_init(&qw));
        (uint Written, int Managed, string Name)[] sizes =
        [
            (o.struct_size, sizeof(EngramCceOptions), "engram_cce_options"),
            (i.struct_size, sizeof(EngramCceInputs), "engram_cce_inputs"),
            (g.struct_size, sizeof(EngramCceGrads), "engram_cce_grads"),
            (c.struct_size, sizeof(EngramCapabilities), "engram_capabilities"),
            (m.struct_size, sizeof(EngramMemoryStats), "engram_memory_stats"),
            (s.struct_size, sizeof(EngramOpStats), "engram_op_stats"),
            (d.struct_size, sizeof(EngramDeviceInfo), "engram_device_info"),
            (so.struct_size, sizeof(EngramScanOptions), "engram_scan_options"),
            (si.struct_size, sizeof(EngramScanInputs), "engram_scan_inputs"),
            (sg.struct_size, sizeof(EngramScanGrads), "engram_scan_grads"),
            (ac.struct_size, sizeof(EngramAttentionCacheConfig), "engram_attention_cache_config"),
            (ai.struct_size, sizeof(EngramAttentionCacheInfo), "engram_attention_cache_info"),
            (ao.struct_size, sizeof(EngramAttentionOptions), "engram_attention_options"),
            (qw.struct_size, sizeof(EngramQWeight), "engram_qweight"),
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
    public unsafe void DefaultScanAttentionAndCacheOptionsMatchTheManagedDefaults()
    {
        EngramScanOptions so;
        EngramAttentionOptions ao;
        EngramAttentionCacheConfig ac;
        NativeMethods.Check(NativeMethods.engram_scan_options_init(&so));
        NativeMethods.Check(NativeMethods.engram_attention_options_init(&ao));
        NativeMethods.Check(NativeMethods.engram_attention_cache_config_init(&ac));
        var (nso, nao, nac) = (so, ao, ac);
        var scan = Engram.Ops.ScanOptions.Default.ToNative(EngramDType.F32);
        var attention = Engram.Ops.AttentionOptions.Default.ToNative();
        var cache = new Engram.Ops.KvCacheConfig().ToNative(null);
        Assert.Multiple(() =>
        {
            Assert.That(scan.chunk_size, Is.EqualTo(nso.chunk_size), "scan chunk_size");
            Assert.That(scan.scale, Is.EqualTo(nso.scale), "scan scale");
            Assert.That(nso.output_dtype, Is.EqualTo(NativeMethods.ScanOutputDTypeInput), "scan output_dtype");
            Assert.That(attention.scale, Is.EqualTo(nao.scale), "attention scale");
            Assert.That(cache.dtype, Is.EqualTo(nac.dtype), "cache dtype");
            Assert.That(cache.layers, Is.EqualTo(nac.layers), "cache layers");
            Assert.That(cache.kv_heads, Is.EqualTo(nac.kv_heads), "cache kv_heads");
            Assert.That(cache.head_dim, Is.EqualTo(nac.head_dim), "cache head_dim");
            Assert.That(cache.sink_tokens, Is.EqualTo(nac.sink_tokens), "cache sink_tokens");
            Assert.That(cache.window, Is.EqualTo(nac.window), "cache window");
            Assert.That(cache.capacity, Is.EqualTo(nac.capacity), "cache capacity");
            Assert.That(cache.struct_size, Is.EqualTo(nac.struct_size), "cache struct_size");
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
