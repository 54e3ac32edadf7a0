namespace BigBirdSharp.Tokenization;

/// <summary>The truncation and padding of HF's slow tokenizers (<c>truncate_sequences</c> with stride 0, <c>_pad</c>),
/// shared by <see cref="BigBirdTokenizer"/> and <see cref="PegasusTokenizer"/>.</summary>
internal static class EncodingShape
{
    /// <summary>HF <c>truncate_sequences</c> with stride 0. Like HF, a strategy that cannot remove enough tokens from
    /// its sequence leaves it whole (HF logs an error).</summary>
    public static void Truncate(List<(int, TokenOffset)> a, List<(int, TokenOffset)>? b, int remove, TruncationStrategy strategy, bool truncateLeft)
    {
        void Cut(List<(int, TokenOffset)> list, int n)
        {
            if (truncateLeft) list.RemoveRange(0, n);
            else list.RemoveRange(list.Count - n, n);
        }
        if (strategy == TruncationStrategy.OnlyFirst || (strategy == TruncationStrategy.LongestFirst && b is null))
        {
            if (a.Count > remove) Cut(a, remove);
        }
        else if (strategy == TruncationStrategy.LongestFirst)
        {
            for (int i = 0; i < remove; i++)
            {
                if (a.Count > b!.Count) Cut(a, 1);
                else if (b.Count > 0) Cut(b, 1);
            }
        }
        else if (strategy == TruncationStrategy.OnlySecond && b is not null)
        {
            if (b.Count > remove) Cut(b, remove);
        }
    }

    /// <summary>HF's <c>_pad</c> of one row to <paramref name="target"/> tokens, on the left or the right.</summary>
    public static TokenizerEncoding Pad(TokenizerEncoding row, int target, int padTokenId, bool padLeft)
    {
        int diff = target - row.Length;
        if (diff <= 0) return row;
        static T[] Grow<T>(T[] src, int diff, T fill, bool left)
        {
            var dst = new T[src.Length + diff];
            Array.Fill(dst, fill);
            src.CopyTo(dst, left ? diff : 0);
            return dst;
        }
        return new TokenizerEncoding
        {
            InputIds = Grow(row.InputIds, diff, padTokenId, padLeft),
            TokenTypeIds = Grow(row.TokenTypeIds, diff, 0, padLeft),
            AttentionMask = Grow(row.AttentionMask, diff, 0, padLeft),
            SpecialTokensMask = Grow(row.SpecialTokensMask, diff, 1, padLeft),
            Offsets = Grow(row.Offsets, diff, default, padLeft),
            SequenceIds = Grow(row.SequenceIds, diff, -1, padLeft),
        };
    }
}
