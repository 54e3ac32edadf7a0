namespace BigBirdSharp.Tokenization;

/// <summary>The first step of HF's slow <c>PreTrainedTokenizer.tokenize</c> (4.27.1): the text is cut around the
/// tokens that must not be split (<c>unique_no_split_tokens</c>, matched by <c>Trie.split</c>: at the leftmost
/// position, the longest token), then each token eats the whitespace next to it as its flags say. Immutable.</summary>
internal sealed class NoSplitTokenSplitter
{
    /// <summary>A run of the text: a no-split token, or text for the model (possibly empty after stripping).</summary>
    internal struct Segment
    {
        public int Start, End;
        public bool IsToken;
    }

    private readonly Dictionary<string, (bool StripLeft, bool StripRight)> strip = new(StringComparer.Ordinal);
    private readonly string[] byLength;
    private readonly HashSet<char> firstChars = [];

    /// <summary>Creates the splitter.</summary>
    /// <param name="tokens">Each no-split token with the whitespace it strips on its left and on its right (HF:
    /// the AddedToken's lstrip/rstrip; both for a token that is a plain string). Empty strings are ignored; for a
    /// repeated token the first entry wins.</param>
    public NoSplitTokenSplitter(IEnumerable<(string Content, bool StripLeft, bool StripRight)> tokens)
    {
        foreach (var (content, left, right) in tokens)
            if (!string.IsNullOrEmpty(content)) strip.TryAdd(content, (left, right));
        byLength = [.. strip.Keys.OrderByDescending(s => s.Length).ThenBy(s => s, StringComparer.Ordinal)];
        foreach (var s in byLength) firstChars.Add(s[0]);
    }

    /// <summary>Whether <paramref name="token"/> is one of the no-split tokens.</summary>
    public bool Contains(string token) => strip.ContainsKey(token);

    /// <summary>Cuts <paramref name="text"/> and applies the strip flags; text segments may end up empty.</summary>
    public List<Segment> Split(string text)
    {
        var segments = new List<Segment>();
        int pos = 0, chunkStart = 0;
        while (pos < text.Length)
        {
            string? match = null;
            if (firstChars.Contains(text[pos]))
            {
                foreach (var s in byLength)
                {
                    if (pos + s.Length <= text.Length && string.CompareOrdinal(text, pos, s, 0, s.Length) == 0)
                    {
                        match = s;
                        break;
                    }
                }
            }
            if (match is null)
            {
                pos++;
                continue;
            }
            if (pos > chunkStart) segments.Add(new Segment { Start = chunkStart, End = pos });
            segments.Add(new Segment { Start = pos, End = pos + match.Length, IsToken = true });
            pos += match.Length;
            chunkStart = pos;
        }
        if (text.Length > chunkStart) segments.Add(new Segment { Start = chunkStart, End = text.Length });

        var seg = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(segments);
        for (int i = 0; i < seg.Length; i++)
        {
            if (!seg[i].IsToken) continue;
            var (left, right) = strip[text.Substring(seg[i].Start, seg[i].End - seg[i].Start)];
            // HF strips the neighbour only when it is not empty (after what earlier tokens stripped from it)
            if (right && i + 1 < seg.Length && seg[i + 1].End > seg[i + 1].Start)
                while (seg[i + 1].Start < seg[i + 1].End && BigBirdTokenizer.IsPythonSpace(text[seg[i + 1].Start])) seg[i + 1].Start++;
            if (left && i > 0 && seg[i - 1].End > seg[i - 1].Start)
                while (seg[i - 1].End > seg[i - 1].Start && BigBirdTokenizer.IsPythonSpace(text[seg[i - 1].End - 1])) seg[i - 1].End--;
        }
        return segments;
    }
}
