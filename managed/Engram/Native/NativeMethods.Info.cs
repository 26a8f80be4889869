using System.Runtime.InteropServices;

namespace Engram.Native;

/// <summary>
/// Every libengram entry point, declared once (LibraryImport, source-generated marshalling),
/// one partial file per area of engram.h: Info, Context, Device, Ops, Cce. Callers go through
/// <see cref="Check"/>, which turns a non-zero status into an <see cref="EngramArgumentException"/>
/// (INVALID_ARGUMENT) or an <see cref="EngramException"/>.
/// </summary>
internal static unsafe partial class NativeMethods
{
    /// <summary>The library name every declaration binds; <see cref="NativeLibraryResolver"/> maps it to a file.</summary>
    public const string Library = "engram";

    /// <summary>The ENGRAM_ABI_VERSION of the engram.h these declarations were written for.</summary>
    public const int HeaderAbiVersion = 2;

    /// <summary>The ENGRAM_FILTER_EPS_AUTO of engram.h.</summary>
    public const float FilterEpsAuto = -1.0f;

    // Explicit static constructor: runs before the first call of any declaration below,
    // so the resolver is in place before the runtime looks for the library.
    static NativeMethods() => NativeLibraryResolver.Register();

    [LibraryImport(Library)]
    internal static partial byte* engram_version();

    [LibraryImport(Library)]
    internal static partial int engram_abi_version();

    [LibraryImport(Library)]
    internal static partial byte* engram_last_error();

    [LibraryImport(Library)]
    internal static partial byte* engram_status_string(EngramStatus status);

    [LibraryImport(Library)]
    internal static partial nuint engram_dtype_size(EngramDType dtype);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_capabilities_init(EngramCapabilities* caps);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_get_capabilities(EngramCapabilities* caps);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_device_info_init(EngramDeviceInfo* info);

    [LibraryImport(Library)]
    internal static partial EngramStatus engram_cuda_device_info(int device, EngramDeviceInfo* info);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial EngramStatus engram_struct_layout(string structName, string? field, ulong* value);

    /// <summary>
    /// Throws unless <paramref name="status"/> is Ok, with the native message: ENGRAM_ERR_INVALID_ARGUMENT
    /// as an <see cref="EngramArgumentException"/> (an ArgumentException), any other status as an
    /// <see cref="EngramException"/>.
    /// </summary>
    internal static void Check(EngramStatus status)
    {
        if (status != EngramStatus.Ok) throw EngramErrors.For(status, LastError());
    }

    /// <summary>engram_last_error() of this thread, as a string.</summary>
    internal static string LastError() => Marshal.PtrToStringUTF8((nint)engram_last_error()) ?? "";

    /// <summary>engram_status_string(status), e.g. "ENGRAM_ERR_OUT_OF_RANGE".</summary>
    internal static string StatusName(EngramStatus status) =>
        Marshal.PtrToStringUTF8((nint)engram_status_string(status)) ?? status.ToString();
}
