using System.Reflection;
using System.Runtime.InteropServices;

namespace Engram.Native;

/// <summary>
/// Finds libengram for the <c>[LibraryImport("engram")]</c> declarations. ENGRAM_NATIVE_PATH (a file
/// or a directory), when set, is the only place looked at: missing or unloadable, it is an error.
/// Otherwise, in order: next to the application, in runtimes/&lt;rid&gt;/native/ beside it, in the
/// build directory a development build was compiled against, then the OS default probing. A failure
/// says where it looked and how to build the library.
/// </summary>
public static unsafe class NativeLibraryResolver
{
    /// <summary>Environment variable naming the library file or its directory.</summary>
    public const string EnvironmentVariable = "ENGRAM_NATIVE_PATH";

    private static int s_registered;
    private static string? s_loadedFrom;

    /// <summary>Path libengram was loaded from, once it has been loaded through this resolver.</summary>
    public static string? LoadedFrom => s_loadedFrom;

    /// <summary>File name of the library on this OS.</summary>
    public static string FileName =>
        OperatingSystem.IsWindows() ? "engram.dll" : OperatingSystem.IsMacOS() ? "libengram.dylib" : "libengram.so";

    internal static void Register()
    {
        if (Interlocked.Exchange(ref s_registered, 1) == 0)
            NativeLibrary.SetDllImportResolver(typeof(NativeLibraryResolver).Assembly, Resolve);
    }

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name != NativeMethods.Library) return 0;
        if (ExplicitPath() is { } explicitPath) return LoadExplicit(explicitPath);
        var tried = new List<string>();
        foreach (string candidate in Candidates().Select(Path.GetFullPath).Distinct())
        {
            tried.Add(candidate);
            if (File.Exists(candidate) && NativeLibrary.TryLoad(candidate, out nint handle))
            {
                CheckAbi(handle, candidate);
                s_loadedFrom = candidate;
                return handle;
            }
        }
        tried.Add($"default OS search for '{name}'");
        if (NativeLibrary.TryLoad(name, assembly, searchPath, out nint fallback))
        {
            CheckAbi(fallback, name + " (OS search path)");
            s_loadedFrom = name + " (OS search path)";
            return fallback;
        }
        throw new DllNotFoundException(NotFoundMessage(tried));
    }

    /// <summary>
    /// The library ENGRAM_NATIVE_PATH names (a file, or a directory holding <see cref="FileName"/>),
    /// or null when the variable is unset. A user who sets it means that copy and no other.
    /// </summary>
    public static string? ExplicitPath()
    {
        string? env = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (string.IsNullOrWhiteSpace(env)) return null;
        return Path.GetFullPath(Directory.Exists(env) ? Path.Combine(env, FileName) : env);
    }

    // An explicit path that is missing or does not load is an error, never a silent
    // fallback to another copy of the library.
    private static nint LoadExplicit(string path)
    {
        if (!File.Exists(path))
            throw new DllNotFoundException(
                $"{EnvironmentVariable} names {path}, which does not exist. Point it at libengram " +
                $"({FileName}) or its directory, or unset it to use the library shipped with Engram.");
        try
        {
            nint handle = NativeLibrary.Load(path);
            CheckAbi(handle, path);
            s_loadedFrom = path;
            return handle;
        }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
        {
            throw new DllNotFoundException($"{EnvironmentVariable} names {path}, which could not be loaded: {e.Message}", e);
        }
    }

    // A library built from another engram.h would misread every struct: refuse it at load,
    // naming both versions, rather than fail later with garbage.
    private static void CheckAbi(nint handle, string path)
    {
        if (!NativeLibrary.TryGetExport(handle, "engram_abi_version", out nint abiFn) ||
            !NativeLibrary.TryGetExport(handle, "engram_version", out nint versionFn))
            throw new DllNotFoundException($"{path} is not libengram: it exports no engram_abi_version/engram_version.");
        int abi = ((delegate* unmanaged<int>)abiFn)();
        if (abi == NativeMethods.HeaderAbiVersion) return;
        string version = System.Runtime.InteropServices.Marshal.PtrToStringUTF8(((delegate* unmanaged<nint>)versionFn)()) ?? "?";
        string bindings = typeof(NativeLibraryResolver).Assembly
            .GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "?";
        throw new DllNotFoundException(
            $"{path} is libengram {version} with ABI {abi}, but these .NET bindings ({bindings}) were written for " +
            $"ABI {NativeMethods.HeaderAbiVersion}: use the library that ships with them (or rebuild both with ./build.sh).");
    }

    /// <summary>
    /// The paths the resolver tries, in order (files; some may not exist). ENGRAM_NATIVE_PATH alone
    /// when it is set; otherwise next to the application (where a package's native asset lands for
    /// RID-specific and single-file publishes), runtimes/&lt;rid&gt;/native/ beside it (portable
    /// apps), then the build directory a development build was compiled against.
    /// </summary>
    public static IEnumerable<string> Candidates()
    {
        if (ExplicitPath() is { } explicitPath)
        {
            yield return explicitPath;
            yield break;
        }
        // AppContext.BaseDirectory, not Assembly.Location: the latter is empty in single-file apps.
        string here = AppContext.BaseDirectory;
        yield return Path.Combine(here, FileName);
        yield return Path.Combine(here, "runtimes", RuntimeInformation.RuntimeIdentifier, "native", FileName);
        if (BuildNativeDir() is { } buildDir) yield return Path.Combine(buildDir, FileName);
    }

    /// <summary>The EngramNativeDir this assembly was built with (MSBuild property), if recorded.</summary>
    public static string? BuildNativeDir() =>
        typeof(NativeLibraryResolver).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "EngramNativeDir")?.Value is { Length: > 0 } v ? Path.GetFullPath(v) : null;

    private static string NotFoundMessage(IEnumerable<string> tried) =>
        $"libengram ({FileName}) could not be loaded. Looked in:{Environment.NewLine}" +
        string.Join(Environment.NewLine, tried.Select(t => "  - " + t)) + Environment.NewLine +
        "Build it with ./build.sh (or cmake -S . -B build && cmake --build build), " +
        $"or point {EnvironmentVariable} at the library file or its directory.";
}
