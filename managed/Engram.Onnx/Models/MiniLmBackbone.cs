using Engram.Onnx.Backbone;
using Microsoft.ML.Tokenizers;

namespace Engram.Onnx.Models;

/// <summary>
/// The embedded default backbone: all-MiniLM-L6-v2 (frozen, pretrained) with its uncased WordPiece
/// tokenizer (Microsoft.ML.Tokenizers' BertTokenizer over the shipped vocab.txt). Text is
/// tokenised, cut into segments of at most <see cref="MaxSegmentTokens"/> tokens (including
/// [CLS] and [SEP]), and each segment is run through <see cref="OnnxBackbone"/>, giving hidden
/// states [T, 384].
/// </summary>
public sealed class MiniLmBackbone : IDisposable
{
    /// <summary>Hidden size of all-MiniLM-L6-v2.</summary>
    public const int HiddenSize = 384;

    /// <summary>Longest segment, special tokens included (the model was trained with 256).</summary>
    public const int MaxSegmentTokens = 256;

    private readonly BertTokenizer tokenizer;

    /// <summary>The ONNX Runtime backbone (outputs as configured; output 0 is the last hidden state
    /// unless other outputs were asked for).</summary>
    public OnnxBackbone Backbone { get; }

    private MiniLmBackbone(BertTokenizer tokenizer, OnnxBackbone backbone)
    {
        this.tokenizer = tokenizer;
        Backbone = backbone;
    }

    /// <summary>Loads the embedded model. <paramref name="editModel"/>, when given, rewrites the
    /// model bytes first (e.g. <c>m =&gt; OnnxGraph.ExposeOutputs(m, names)</c>).</summary>
    public static MiniLmBackbone Load(BackboneOptions? options = null, Func<byte[], byte[]>? editModel = null)
    {
        var model = MiniLmResources.ReadModel();
        if (editModel is not null) model = editModel(model);
        using var vocab = new MemoryStream(MiniLmResources.ReadVocabulary(), writable: false);
        var tokenizer = BertTokenizer.Create(vocab, new BertOptions { LowerCaseBeforeTokenization = true });
        return new MiniLmBackbone(tokenizer, OnnxBackbone.Load(model, options));
    }

    /// <summary>WordPiece ids of <paramref name="text"/>, without [CLS]/[SEP].</summary>
    /// <exception cref="ArgumentException">The text is empty or has no token.</exception>
    public int[] Tokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (string.IsNullOrWhiteSpace(text)) throw new ArgumentException("text is empty (nothing to encode)", nameof(text));
        var ids = tokenizer.EncodeToIds(text, addSpecialTokens: false).ToArray();
        if (ids.Length == 0) throw new ArgumentException("text has no token the vocabulary encodes", nameof(text));
        return ids;
    }

    /// <summary>Cuts content token ids into segments of at most <paramref name="maxTokens"/> tokens,
    /// each wrapped in [CLS] ... [SEP].</summary>
    public IReadOnlyList<int[]> Segments(ReadOnlySpan<int> ids, int maxTokens = MaxSegmentTokens)
    {
        if (maxTokens < 3 || maxTokens > MaxSegmentTokens)
            throw new ArgumentOutOfRangeException(nameof(maxTokens), maxTokens, $"segments hold 3 to {MaxSegmentTokens} tokens");
        if (ids.IsEmpty) throw new ArgumentException("no tokens to segment", nameof(ids));
        int content = maxTokens - 2;
        var segments = new List<int[]>();
        for (int start = 0; start < ids.Length; start += content)
        {
            int n = Math.Min(content, ids.Length - start);
            var seg = new int[n + 2];
            seg[0] = tokenizer.ClassificationTokenId;
            ids.Slice(start, n).CopyTo(seg.AsSpan(1));
            seg[^1] = tokenizer.SeparatorTokenId;
            segments.Add(seg);
        }
        return segments;
    }

    /// <summary>Hidden states [T, 384] (row-major copy) of each segment of <paramref name="text"/>.</summary>
    public IReadOnlyList<float[]> Encode(string text, int maxTokens = MaxSegmentTokens)
    {
        var result = new List<float[]>();
        foreach (var seg in Segments(Tokenize(text), maxTokens))
        {
            Backbone.Run(seg);
            result.Add(Backbone.Output(0).ToArray());
        }
        return result;
    }

    /// <summary>Sentence embedding of a text of one segment: the mean of its hidden states over all
    /// tokens, L2-normalised (sentence-transformers' pooling for this model).</summary>
    public float[] Embed(string text)
    {
        var segments = Segments(Tokenize(text));
        if (segments.Count != 1) throw new ArgumentException($"text is longer than one segment ({MaxSegmentTokens} tokens)", nameof(text));
        Backbone.Run(segments[0]);
        var h = Backbone.Output(0);
        int t = h.Length / HiddenSize;
        var mean = new double[HiddenSize];
        for (int i = 0; i < t; i++)
            for (int j = 0; j < HiddenSize; j++) mean[j] += h[i * HiddenSize + j];
        double norm = Math.Sqrt(mean.Sum(v => v * v));
        return mean.Select(v => (float)(v / norm)).ToArray();
    }

    /// <inheritdoc/>
    public void Dispose() => Backbone.Dispose();
}
