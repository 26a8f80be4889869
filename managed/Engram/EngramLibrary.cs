using Engram.Native;

namespace Engram;

/// <summary>Facts about the loaded libengram: version, ABI, capabilities, CUDA devices, struct layouts.</summary>
public static unsafe class EngramLibrary
{
    /// <summary>The ENGRAM_ABI_VERSION of the engram.h these bindings were written for.</summary>
    public const int HeaderAbiVersion = NativeMethods.HeaderAbiVersion;

    /// <summary>Library version, "MAJOR.MINOR.PATCH".</summary>
    public static string Version => System.Runtime.InteropServices.Marshal.PtrToStringUTF8((nint)NativeMethods.engram_version()) ?? "";

    /// <summary>ENGRAM_ABI_VERSION of the loaded library.</summary>
    public static int AbiVersion => NativeMethods.engram_abi_version();

    /// <summary>True when the loaded library's ABI is the one these bindings were written for.</summary>
    public static bool AbiMatches => AbiVersion == HeaderAbiVersion;

    /// <summary>Where the library was loaded from (null before the first call).</summary>
    public static string? LoadedFrom => NativeLibraryResolver.LoadedFrom;

    /// <summary>Tries to load libengram; false with the resolver's explanation when it cannot.</summary>
    public static bool TryLoad(out string error)
    {
        try
        {
            _ = NativeMethods.engram_abi_version();
            error = "";
            return true;
        }
        catch (DllNotFoundException e)
        {
            error = e.Message;
            return false;
        }
        catch (EntryPointNotFoundException e)
        {
            error = "libengram was found but lacks an entry point (an older build?): " + e.Message;
            return false;
        }
    }

    /// <summary>Backends, dtypes, CPU and CUDA facts of this build on this machine.</summary>
    public static Capabilities Capabilities
    {
        get
        {
            EngramCapabilities caps;
            NativeMethods.Check(NativeMethods.engram_capabilities_init(&caps));
            NativeMethods.Check(NativeMethods.engram_get_capabilities(&caps));
            return new Capabilities(
                caps.abi_version, caps.cuda_built != 0, caps.cuda_device_count, (EngramCpuIsa)caps.cpu_isa,
                caps.cpu_threads, DTypeList(caps.cpu_dtypes), DTypeList(caps.cuda_dtypes),
                FixedText.Read(caps.cpu_name, 128), FixedText.Read(caps.cuda_status, 128));
        }
    }

    /// <summary>Properties of CUDA device <paramref name="device"/>.</summary>
    /// <exception cref="EngramException">No CUDA backend (Unsupported), no driver or GPU (NoDevice), bad index (OutOfRange).</exception>
    public static CudaDeviceInfo CudaDevice(int device)
    {
        EngramDeviceInfo info;
        NativeMethods.Check(NativeMethods.engram_device_info_init(&info));
        NativeMethods.Check(NativeMethods.engram_cuda_device_info(device, &info));
        return new CudaDeviceInfo(info.device, FixedText.Read(info.name, 256), info.sm_count, info.cc_major,
            info.cc_minor, info.total_memory, info.free_memory);
    }

    /// <summary>Every CUDA device libengram can use (empty without a CUDA build, driver or GPU).</summary>
    public static IReadOnlyList<CudaDeviceInfo> CudaDevices()
    {
        var caps = Capabilities;
        if (!caps.CudaBuilt) return [];
        return Enumerable.Range(0, caps.CudaDeviceCount).Select(CudaDevice).ToList();
    }

    /// <summary>
    /// sizeof(struct) when <paramref name="field"/> is null, else offsetof(struct, field), as the native
    /// library was compiled (engram_struct_layout), e.g. ("engram_cce_options", "z_loss").
    /// </summary>
    public static ulong StructLayout(string structName, string? field)
    {
        ulong value;
        NativeMethods.Check(NativeMethods.engram_struct_layout(structName, field, &value));
        return value;
    }

    private static EngramDType[] DTypeList(uint mask) =>
        Enum.GetValues<EngramDType>().Where(d => (mask & (1u << (int)d)) != 0).ToArray();
}
