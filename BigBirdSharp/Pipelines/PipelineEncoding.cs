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
    /// <summary>
    /// The most characters per position of <c>max_position_embeddings</c> that are ever tokenized: text beyond
    /// <c>max_position_embeddings</c> × this many characters never reaches the tokenizer (a 50 MB document costs what its
    /// first few hundred kilobytes cost). Only text that averages more characters per token than this (runs of spaces,
    /// characters the normalizer removes) can differ from HF, whose tokenizer reads it all; it is reported as dropped.
    /// </summary>
    public const int MaxCharactersPerToken = 1024;

    /// <summary>Characters per position tokenized at first (SentencePiece tokens of real text average a few characters);
    /// the prefix grows fourfold, up to <see cref="MaxCharactersPerToken"/>, while it gives too few tokens to decide.</summary>
    internal const int FirstCharactersPerToken = 64;

    /// <summary>Tokens beyond <c>max_position_embeddings</c> that a cut text's prefix must give before its tail is known not
    /// to matter: only the last word of a prefix can be segmented differently from the whole text.</summary>
    internal const int CutMargin = 64;

    /// <summary>Characters at the end of the text (and of the pair) that were never tokenized because the model could
    /// not take them; <see cref="OriginalLength"/> then counts the tokens of the part that was tokenized.</summary>
    public long DroppedCharacters { get; init; }

    /// <summary>True when tokens were dropped to fit <c>max_position_embeddings</c>.</summary>
    public bool Truncated => OriginalLength > Encoding.Length || DroppedCharacters > 0;

    /// <summary>Tokens the model runs on.</summary>
    public int Length => Encoding.Length;

    /// <summary>Encodes <paramref name="text"/> (and <paramref name="pair"/>) for <paramref name="config"/>, cutting the
    /// longer text first (HF's longest_first) when it is too long: padding to the block size is left to the model,
    /// which pads internally as HF does.
    /// A long text is tokenized from a prefix of <see cref="FirstCharactersPerToken"/> characters per position, grown while
    /// it gives fewer than <c>max_position_embeddings</c> + <see cref="CutMargin"/> tokens, and never beyond
    /// <see cref="MaxCharactersPerToken"/> characters per position, so the cost never grows with the document beyond what
    /// the model can take, and the tokens are HF's whenever the prefix holds enough of them.</summary>
    /// <exception cref="BigBirdInputException">Empty text, or too long under <see cref="OverlongInput.Reject"/>.</exception>
    public static PipelineEncoding Encode(BigBirdTokenizer tokenizer, BigBirdConfig config, string text, string? pair,
                                          OverlongInput overlong, string what)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (string.IsNullOrWhiteSpace(text))
            throw new BigBirdInputException($"{what} is empty; give some text.");
        if (pair is not null && string.IsNullOrWhiteSpace(pair))
            throw new BigBirdInputException($"{what}: the second text is empty; give some text.");
        int max = config.MaxPositionEmbeddings;
        long limit = (long)max * FirstCharactersPerToken, bound = (long)max * MaxCharactersPerToken;
        string head, pairHead;
        long dropped;
        TokenizerEncoding full;
        while (true)
        {
            head = Prefix(text, limit);
            pairHead = pair is null ? null! : Prefix(pair, limit);
            dropped = text.Length - head.Length + (pair is null ? 0 : pair.Length - pairHead.Length);
            full = tokenizer.Encode(head, pair is null ? null : pairHead);
            if (dropped == 0 || limit >= bound || TailsCannotMatter(full, head.Length < text.Length, pair is not null && pairHead.Length < pair.Length, max))
                break;
            limit = Math.Min(bound, limit * 4);
        }
        if (full.Length <= max && dropped == 0) return new PipelineEncoding(full, full.Length);
        if (overlong == OverlongInput.Reject)
            throw new BigBirdInputException(
                dropped == 0
                    ? $"{what} is {full.Length} tokens, more than the model's max_position_embeddings ({max}); " +
                      "shorten it, or allow truncation (drop --no-truncate)."
                : full.Length > max
                    ? $"{what} is {text.Length + (pair?.Length ?? 0)} characters, more than the model's max_position_embeddings ({max} tokens) can take " +
                      $"(its first {head.Length + (pair is null ? 0 : pairHead.Length)} characters already give {full.Length} tokens); shorten it, or allow truncation (drop --no-truncate)."
                    : $"{what} is {text.Length + (pair?.Length ?? 0)} characters; at most {bound} characters of a text are tokenized for a model of " +
                      $"{max} positions ({MaxCharactersPerToken} per position); shorten it, or allow truncation (drop --no-truncate).");
        var cut = full.Length <= max ? full
            : tokenizer.Encode(head, pair is null ? null : pairHead, new TokenizerEncodeOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = max });
        return new PipelineEncoding(cut, full.Length) { DroppedCharacters = dropped };
    }

    /// <summary>Whether every text that was cut gives at least <paramref name="max"/> + <see cref="CutMargin"/> tokens of
    /// its own (counted by sequence id: 0 for the text, 1 for the pair; special tokens are -1), so truncation to
    /// <paramref name="max"/> keeps the same tokens from the prefix as from the whole text.</summary>
    private static bool TailsCannotMatter(TokenizerEncoding encoding, bool textCut, bool pairCut, int max)
    {
        long first = 0, second = 0;
        foreach (int sequence in encoding.SequenceIds)
            if (sequence == 0) first++;
            else if (sequence == 1) second++;
        return (!textCut || first >= (long)max + CutMargin) && (!pairCut || second >= (long)max + CutMargin);
    }

    /// <summary>The first <paramref name="limit"/> characters of <paramref name="s"/>, never splitting a surrogate pair.</summary>
    private static string Prefix(string s, long limit)
    {
        if (s.Length <= limit) return s;
        int n = (int)limit;
        if (n > 0 && char.IsHighSurrogate(s[n - 1])) n--;
        return s[..n];
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
