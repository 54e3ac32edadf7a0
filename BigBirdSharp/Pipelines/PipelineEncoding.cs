using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Pipelines;

/// <summary>What a pipeline does with an input longer than the model's <c>max_position_embeddings</c>.</summary>
public enum OverlongInput
{
    /// <summary>Make it fit, and say so in the result: cut it to the longest length the model takes (HF
    /// <c>truncation=True</c>; generation keeps the end of the prompt), or, for question answering, read the context in
    /// overlapping windows.</summary>
    Truncate,
    /// <summary>Refuse it with a <see cref="BigBirdInputException"/>.</summary>
    Reject,
}

/// <summary>One text (or pair) as the model sees it, and whether it had to be cut.</summary>
/// <param name="Encoding">The tokenizer's output, framed with [CLS]/[SEP].</param>
/// <param name="OriginalLength">Tokens before truncation.</param>
public sealed record PipelineEncoding(TokenizerEncoding Encoding, int OriginalLength)
{
    /// <summary>True when tokens were dropped to fit <c>max_position_embeddings</c>.</summary>
    public bool Truncated => OriginalLength > Encoding.Length;

    /// <summary>Tokens the model runs on.</summary>
    public int Length => Encoding.Length;

    /// <summary>Encodes <paramref name="text"/> (and <paramref name="pair"/>) for <paramref name="config"/>, cutting the
    /// longer text first (HF's longest_first) when it is too long: padding to the block size is left to the model,
    /// which pads internally as HF does.</summary>
    /// <exception cref="BigBirdInputException">Empty text, or too long under <see cref="OverlongInput.Reject"/>.</exception>
    public static PipelineEncoding Encode(BigBirdTokenizer tokenizer, BigBirdConfig config, string text, string? pair,
                                          OverlongInput overlong, string what)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (string.IsNullOrWhiteSpace(text))
            throw new BigBirdInputException($"{what} is empty; give some text.");
        if (pair is not null && string.IsNullOrWhiteSpace(pair))
            throw new BigBirdInputException($"{what}: the second text is empty; give some text.");
        var full = tokenizer.Encode(text, pair);
        int max = config.MaxPositionEmbeddings;
        if (full.Length <= max) return new PipelineEncoding(full, full.Length);
        if (overlong == OverlongInput.Reject)
            throw new BigBirdInputException(
                $"{what} is {full.Length} tokens, more than the model's max_position_embeddings ({max}); " +
                "shorten it, or allow truncation (drop --no-truncate).");
        var cut = tokenizer.Encode(text, pair, new TokenizerEncodeOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = max });
        return new PipelineEncoding(cut, full.Length);
    }

    /// <summary>A batch of one row for the model.</summary>
    public BigBirdInputs ToInputs() => new(1, Encoding.Length)
    {
        InputIds = Encoding.InputIds,
        AttentionMask = Encoding.AttentionMask,
        TokenTypeIds = Encoding.TokenTypeIds,
    };
}

/// <summary>Softmax and sigmoid over small score vectors, in double precision.</summary>
internal static class Scores
{
    public static float[] Softmax(ReadOnlySpan<float> logits)
    {
        double max = double.NegativeInfinity;
        foreach (float x in logits) max = Math.Max(max, x);
        double sum = 0;
        var p = new double[logits.Length];
        for (int i = 0; i < p.Length; i++) sum += p[i] = Math.Exp(logits[i] - max);
        var result = new float[p.Length];
        for (int i = 0; i < p.Length; i++) result[i] = (float)(p[i] / sum);
        return result;
    }

    public static float Sigmoid(float x) => (float)(1 / (1 + Math.Exp(-x)));

    /// <summary>Indices of the <paramref name="k"/> largest values, largest first (ties: lower index first).</summary>
    public static int[] TopK(ReadOnlySpan<float> values, int k)
    {
        k = Math.Min(k, values.Length);
        var idx = new int[values.Length];
        for (int i = 0; i < idx.Length; i++) idx[i] = i;
        var copy = values.ToArray();
        Array.Sort(idx, (a, b) => copy[b].CompareTo(copy[a]) is var c && c != 0 ? c : a.CompareTo(b));
        return idx[..k];
    }
}
