using Engram.Backends;
using Engram.Ilgpu;
using Spectre.Console;

namespace Engram.Cli.Commands;

/// <summary>`engram info`: the library, the CPU, CUDA devices, ILGPU accelerators and the backend Auto picks.</summary>
public static class InfoCommand
{
    /// <summary>What `engram info --json` prints.</summary>
    public sealed record InfoReport(
        string? Version,
        int? AbiVersion,
        int HeaderAbiVersion,
        string? LoadedFrom,
        string? LibraryError,
        Capabilities? Capabilities,
        IReadOnlyList<CudaDeviceInfo> CudaDevices,
        IReadOnlyList<IlgpuDeviceDescription> IlgpuDevices,
        IReadOnlyList<BackendProbe> Backends,
        string? AutoBackend,
        IReadOnlyList<string> Warnings);

    /// <summary>Gathers the report (never throws for a missing library: that is part of the report).</summary>
    public static InfoReport Gather()
    {
        var warnings = new List<string>();
        bool loaded = EngramLibrary.TryLoad(out string error);
        Capabilities? caps = null;
        IReadOnlyList<CudaDeviceInfo> devices = [];
        if (loaded)
        {
            caps = EngramLibrary.Capabilities;
            if (!EngramLibrary.AbiMatches)
                warnings.Add($"libengram reports ABI {EngramLibrary.AbiVersion}, but these bindings were written for ABI " +
                             $"{EngramLibrary.HeaderAbiVersion}: rebuild the library and the .NET layer together (./build.sh)");
            try
            {
                devices = EngramLibrary.CudaDevices();
            }
            catch (EngramException e)
            {
                warnings.Add("CUDA devices could not be listed: " + e.Message);
            }
        }
        var probes = BackendSelector.ProbeAll();
        var autoProbe = BackendSelector.AutoOrder.Select(b => probes.First(p => p.Backend == b)).FirstOrDefault(p => p.Available);
        string? auto = autoProbe is null ? null : BackendNames.Name(autoProbe.Backend);
        return new InfoReport(loaded ? EngramLibrary.Version : null, loaded ? EngramLibrary.AbiVersion : null,
            EngramLibrary.HeaderAbiVersion, loaded ? EngramLibrary.LoadedFrom : null, loaded ? null : error, caps, devices,
            IlgpuAccelerators.All(), probes, auto, warnings);
    }

    /// <summary>Runs the command: 0, or 2 when libengram cannot be loaded.</summary>
    public static int Run(CliOutput output, bool json)
    {
        var report = Gather();
        if (json) Json.Write(output.Out, report);
        else Render(output, report, brief: false);
        return report.LibraryError is null ? ExitCodes.Ok : ExitCodes.Environment;
    }

    /// <summary>Prints the report as a person reads it; <paramref name="brief"/> keeps it to a few lines.</summary>
    public static void Render(CliOutput output, InfoReport r, bool brief)
    {
        var console = output.Console;
        if (r.LibraryError is not null)
        {
            console.MarkupLine("[red]libengram: not loaded[/]");
            output.Line(r.LibraryError);
        }
        else
        {
            console.MarkupLine($"[bold]libengram[/] {Markup.Escape(r.Version ?? "")} (ABI {r.AbiVersion}; bindings ABI {r.HeaderAbiVersion})" +
                               (brief ? "" : $" from {Markup.Escape(r.LoadedFrom ?? "?")}"));
        }
        foreach (string w in r.Warnings) output.Warn(w);
        if (r.Capabilities is { } caps)
        {
            console.MarkupLine($"[bold]CPU[/]       {Markup.Escape(caps.CpuName)}: {caps.CpuIsa}, {caps.CpuThreads} threads, " +
                               $"dtypes {string.Join(' ', caps.CpuDTypes.Select(DTypes.Name))}");
            console.MarkupLine($"[bold]CUDA[/]      " + (caps.CudaBuilt ? "built" : "not built") +
                               $"; {caps.CudaDeviceCount} device(s)" +
                               (caps.CudaDeviceCount == 0 ? $" ({Markup.Escape(caps.CudaStatus)})" : ""));
        }
        if (!brief && r.CudaDevices.Count > 0)
        {
            var t = new Table().AddColumns("device", "name", "SMs", "compute", "memory (GiB)", "free (GiB)");
            foreach (var d in r.CudaDevices)
                t.AddRow(d.Device.ToString(Inv), Markup.Escape(d.Name), d.SmCount.ToString(Inv),
                    $"{d.ComputeCapabilityMajor}.{d.ComputeCapabilityMinor}", Gib(d.TotalMemory), Gib(d.FreeMemory));
            console.Write(t);
        }
        if (!brief)
        {
            var t = new Table().AddColumns("ILGPU accelerator", "name", "memory (GiB)", "multiprocessors", "max group");
            foreach (var d in r.IlgpuDevices)
                t.AddRow(d.Type, Markup.Escape(d.Name), d.MemoryBytes is > 0 and < (1L << 50) ? Gib((ulong)d.MemoryBytes) : "host", d.Multiprocessors.ToString(Inv),
                    d.MaxGroupSize.ToString(Inv));
            console.Write(t);
            var b = new Table().AddColumns("backend", "available", "runs on / why not");
            foreach (var p in r.Backends)
                b.AddRow(BackendNames.Name(p.Backend), p.Available ? "[green]yes[/]" : "[grey]no[/]",
                    Markup.Escape(p.Detail.Split('\n')[0].TrimEnd()));
            console.Write(b);
        }
        console.MarkupLine($"[bold]Auto[/]      picks {Markup.Escape(r.AutoBackend ?? "nothing (no backend available)")} " +
                           "(order: native-cuda, ilgpu-gpu, native-cpu)");
    }

    private static readonly IFormatProvider Inv = System.Globalization.CultureInfo.InvariantCulture;

    private static string Gib(ulong bytes) => (bytes / (1024.0 * 1024 * 1024)).ToString("0.0", Inv);
}
