namespace BigBirdSharp.Tokenization;

/// <summary>SentencePiece's normalizer (<c>normalizer.cc</c>): user-defined symbols pass through untouched, the
/// precompiled charsmap rewrites the longest matching prefix, whitespace is collapsed and trimmed
/// (<c>remove_extra_whitespaces</c>), escaped as U+2581 (<c>escape_whitespaces</c>), and a dummy prefix is added.
/// Works on UTF-8 bytes and records, for each output byte, the input byte it came from.</summary>
internal sealed class SentencePieceNormalizer
{
    private static readonly byte[] SpaceSymbol = "\u2581"u8.ToArray();
    private static readonly byte[] ReplacementChar = "\uFFFD"u8.ToArray();

    private readonly PrecompiledCharsMap? charsMap;
    private readonly PieceTrie? userDefined;
    private readonly bool addDummyPrefix, removeExtraWhitespaces, escapeWhitespaces, treatWhitespaceAsSuffix;

    public SentencePieceNormalizer(SentencePieceModelProto proto, PieceTrie? userDefined, string filePath)
    {
        charsMap = proto.PrecompiledCharsMap.Length > 0 ? PrecompiledCharsMap.Parse(proto.PrecompiledCharsMap, filePath) : null;
        this.userDefined = userDefined;
        addDummyPrefix = proto.AddDummyPrefix;
        removeExtraWhitespaces = proto.RemoveExtraWhitespaces;
        escapeWhitespaces = proto.EscapeWhitespaces;
        treatWhitespaceAsSuffix = proto.TreatWhitespaceAsSuffix;
    }

    /// <summary>Number of bytes of the UTF-8 character starting with <paramref name="lead"/>, as SentencePiece counts it.</summary>
    public static int OneCharLen(byte lead) => (lead >> 4) switch
    {
        < 12 => 1,
        12 or 13 => 2,
        14 => 3,
        _ => 4,
    };

    /// <summary>Normalizes the first unit of <paramref name="input"/>: returns the bytes it consumed and sets the
    /// replacement it produced.</summary>
    private int NormalizePrefix(ReadOnlySpan<byte> input, out ReadOnlySpan<byte> output)
    {
        if (userDefined is not null)
        {
            int m = userDefined.LongestPrefix(input);
            if (m > 0)
            {
                output = input[..m];
                return m;
            }
        }
        if (charsMap is not null)
        {
            int m = charsMap.LongestMatch(input, out output);
            if (m > 0) return m;
        }
        int len = ValidUtf8CharLength(input);
        if (len == 0)
        {
            output = ReplacementChar;
            return 1;
        }
        output = input[..len];
        return len;
    }

    /// <summary>Length of the well-formed UTF-8 character at the start of <paramref name="s"/>, or 0 when malformed.</summary>
    private static int ValidUtf8CharLength(ReadOnlySpan<byte> s)
    {
        byte b0 = s[0];
        if (b0 < 0x80) return 1;
        if (b0 < 0xC2) return 0;
        if (b0 < 0xE0)
            return s.Length >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
        if (b0 < 0xF0)
        {
            if (s.Length < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
            int c = ((b0 & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F);
            return c < 0x800 || (c >= 0xD800 && c <= 0xDFFF) ? 0 : 3;
        }
        if (b0 < 0xF5)
        {
            if (s.Length < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
            int c = ((b0 & 0x07) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) | (s[3] & 0x3F);
            return c < 0x10000 || c > 0x10FFFF ? 0 : 4;
        }
        return 0;
    }

    /// <summary>Normalizes <paramref name="input"/>. <paramref name="normToOrig"/> gets one entry per output byte plus
    /// one for the end: the input byte offset each output byte came from.</summary>
    public void Normalize(ReadOnlySpan<byte> input, ref GrowBuffer<byte> normalized, ref GrowBuffer<int> normToOrig)
    {
        normalized.Count = 0;
        normToOrig.Count = 0;
        if (input.IsEmpty)
        {
            // SentencePiece leaves norm_to_orig empty here; callers treat an empty result as no pieces.
            return;
        }
        int consumed = 0;
        if (removeExtraWhitespaces)
        {
            while (!input.IsEmpty)
            {
                int n = NormalizePrefix(input, out var p);
                if (!(p.Length == 1 && p[0] == (byte)' ')) break;
                input = input[n..];
                consumed += n;
            }
        }
        if (input.IsEmpty) return;

        if (!treatWhitespaceAsSuffix && addDummyPrefix) AddSpace(ref normalized, ref normToOrig, consumed);
        bool isPrevSpace = removeExtraWhitespaces;
        while (!input.IsEmpty)
        {
            int n = NormalizePrefix(input, out var sp);
            while (isPrevSpace && !sp.IsEmpty && sp[0] == (byte)' ') sp = sp[1..];
            if (!sp.IsEmpty)
            {
                foreach (byte b in sp)
                {
                    if (escapeWhitespaces && b == (byte)' ')
                    {
                        foreach (byte s in SpaceSymbol)
                        {
                            normalized.Add(s);
                            normToOrig.Add(consumed);
                        }
                    }
                    else
                    {
                        normalized.Add(b);
                        normToOrig.Add(consumed);
                    }
                }
                isPrevSpace = sp[^1] == (byte)' ';
            }
            consumed += n;
            input = input[n..];
            if (!removeExtraWhitespaces) isPrevSpace = false;
        }
        if (removeExtraWhitespaces)
        {
            ReadOnlySpan<byte> space = escapeWhitespaces ? SpaceSymbol : " "u8;
            while (normalized.Span.EndsWith(space))
            {
                int length = normalized.Count - space.Length;
                consumed = normToOrig.Items[length];
                normalized.Count = length;
                normToOrig.Count = length;
            }
        }
        if (treatWhitespaceAsSuffix && addDummyPrefix) AddSpace(ref normalized, ref normToOrig, consumed);
        normToOrig.Add(consumed);
    }

    private void AddSpace(ref GrowBuffer<byte> normalized, ref GrowBuffer<int> normToOrig, int consumed)
    {
        if (escapeWhitespaces)
        {
            foreach (byte s in SpaceSymbol)
            {
                normalized.Add(s);
                normToOrig.Add(consumed);
            }
        }
        else
        {
            normalized.Add((byte)' ');
            normToOrig.Add(consumed);
        }
    }
}
