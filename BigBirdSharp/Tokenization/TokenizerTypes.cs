namespace BigBirdSharp.Tokenization;

/// <summary>A special token and how it eats the whitespace around it in raw text (HF <c>AddedToken</c>).</summary>
/// <param name="Content">The token's text, e.g. <c>[MASK]</c>.</param>
/// <param name="LStrip">Strip the whitespace on its left when it appears in raw text.</param>
/// <param name="RStrip">Strip the whitespace on its right when it appears in raw text.</param>
public readonly record struct SpecialToken(string Content, bool LStrip = false, bool RStrip = false);

/// <summary>The span of a token in the text it came from, in UTF-16 code units (end exclusive). Added special
/// tokens (<c>[CLS]</c>, <c>[SEP]</c>) and padding have (0, 0).</summary>
/// <param name="Start">First index.</param>
/// <param name="End">One past the last index.</param>
public readonly record struct TokenOffset(int Start, int End);

/// <summary>HF's <c>padding</c> argument.</summary>
public enum PaddingStrategy
{
    /// <summary>No padding (<c>do_not_pad</c>, the default).</summary>
    DoNotPad,
    /// <summary>Pad to the longest sequence of the batch (<c>longest</c>, <c>padding=True</c>).</summary>
    Longest,
    /// <summary>Pad to <see cref="TokenizerEncodeOptions.MaxLength"/> (<c>max_length</c>).</summary>
    MaxLength,
}

/// <summary>HF's <c>truncation</c> argument.</summary>
public enum TruncationStrategy
{
    /// <summary>No truncation (<c>do_not_truncate</c>, the default).</summary>
    DoNotTruncate,
    /// <summary>Remove tokens one at a time from the longer sequence (<c>longest_first</c>, <c>truncation=True</c>).</summary>
    LongestFirst,
    /// <summary>Truncate only the first sequence (<c>only_first</c>).</summary>
    OnlyFirst,
    /// <summary>Truncate only the second sequence (<c>only_second</c>).</summary>
    OnlySecond,
}

/// <summary>Options of <see cref="BigBirdTokenizer.Encode"/> and <see cref="BigBirdTokenizer.EncodeBatch"/>, with
/// HF's defaults.</summary>
public sealed record TokenizerEncodeOptions
{
    /// <summary>Add <c>[CLS] A [SEP]</c> / <c>[CLS] A [SEP] B [SEP]</c> (default true).</summary>
    public bool AddSpecialTokens { get; init; } = true;
    /// <summary>Padding strategy (default none).</summary>
    public PaddingStrategy Padding { get; init; }
    /// <summary>Truncation strategy (default none).</summary>
    public TruncationStrategy Truncation { get; init; }
    /// <summary>Length to truncate or pad to; when null, the folder's <c>model_max_length</c>, if it has a real one.</summary>
    public int? MaxLength { get; init; }
    /// <summary>Round the padded length up to a multiple of this (e.g. BigBird's block_size).</summary>
    public int? PadToMultipleOf { get; init; }

    /// <summary>The defaults.</summary>
    public static TokenizerEncodeOptions Default { get; } = new();
}

/// <summary>One encoded sequence or pair: what HF's <c>BatchEncoding</c> holds for one row, plus offsets.</summary>
public sealed class TokenizerEncoding
{
    /// <summary>Token ids.</summary>
    public required int[] InputIds { get; init; }
    /// <summary>0 for the first sequence (with its <c>[CLS]</c> and <c>[SEP]</c>), 1 for the second, 0 for padding.</summary>
    public required int[] TokenTypeIds { get; init; }
    /// <summary>1 for real tokens, 0 for padding.</summary>
    public required int[] AttentionMask { get; init; }
    /// <summary>1 for added special tokens and padding, 0 for tokens of the text (HF <c>special_tokens_mask</c>).</summary>
    public required int[] SpecialTokensMask { get; init; }
    /// <summary>Spans in the text each token came from: the first text for sequence 0, the pair for sequence 1.</summary>
    public required TokenOffset[] Offsets { get; init; }
    /// <summary>Which text each token came from: 0, 1, or -1 for added special tokens and padding.</summary>
    public required int[] SequenceIds { get; init; }

    /// <summary>Number of tokens, padding included.</summary>
    public int Length => InputIds.Length;
}
