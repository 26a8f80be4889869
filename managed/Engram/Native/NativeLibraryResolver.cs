using System.Reflection;
using System.Runtime.InteropServices;

namespace Engram.Native;

/// <summary>
/// Finds libengram for the <c>[LibraryImport("engram")]</c> declarations. Looks, in order, at
/// ENGRAM_NATIVE_PATH (a file or a directory), next to Engram.Core.dll, in runtimes/&lt;rid&gt;/native/
/// beside it, in the build directory this assembly was compiled against, then the OS default
/// probing. A failure says where it looked and how to build the library.
/// </summary>
public static class NativeLibraryResolver
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
        var tried = new List<string>();
        foreach (string candidate in Candidates().Select(Path.GetFullPath).Distinct())
        {
            tried.Add(candidate);
            if (File.Exists(candidate) && NativeLibrary.TryLoad(candidate, out nint handle))
            {
                s_loadedFrom = candidate;
                return handle;
            }
        }
        tried.Add($"default OS search for '{name}'");
        if (NativeLibrary.TryLoad(name, assembly, searchPath, out nint fallback))
        {
            s_loadedFrom = name + " (OS search path)";
            return fallback;
        }
        throw new DllNotFoundException(NotFoundMessage(tried));
    }

    /// <summary>The paths the resolver tries, in order (files; some may not exist).</summary>
    public static IEnumerable<string> Candidates()
    {
        string? env = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(env))
            yield return Directory.Exists(env) ? Path.Combine(env, FileName) : env;
        string here = AppContext.BaseDirectory;
        string assemblyDir = Path.GetDirectoryName(typeof(NativeLibraryResolver).Assembly.Location) is { Length: > 0 } dir
            ? dir : here;
        yield return Path.Combine(assemblyDir, FileName);
        yield return Path.Combine(assemblyDir, "runtimes", RuntimeInformation.RuntimeIdentifier, "native", FileName);
        if (assemblyDir != here) yield return Path.Combine(here, FileName);
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
