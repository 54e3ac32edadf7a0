using System.Text;
using BigBirdSharp.Tokenization;
using FsCheck.Xunit;
using static BigBirdSharp.Tests.Tokenization.TokenizerFixtures;

namespace BigBirdSharp.Tests.Tokenization;

/// <summary>Properties over arbitrary strings: encoding never throws, decoding gives the text back (up to
/// whitespace normalization), and offsets point at the text each piece came from.</summary>
public class TokenizerPropertyTests
{
    // Pieces to build text from: every UTF-16 unit is possible, but these make collisions with real structure likely.
    private static readonly string[] Fragments =
    [
        " ", "  ", "\t", "\n", "\r\n", "\u3000", "\u00a0", "[MASK]", "[SEP]", "[CLS]", "<s>", "</s>", "<pad>", "<unk>", "<user>",
        "\ud83d\ude00", "\ud800", "\udfff", "\udc00\ud800", "e\u0301", "\ufb01", "\uff21", "\u65e5\u672c", "\u05e9\u05dc",
        "\u2581", "\0", "the", "Hello", "world", ".", "'s", "n't", "\u200b", "\ufeff",
    ];

    private static string BuildText(ushort[] units, byte[] picks)
    {
        var sb = new StringBuilder();
        int n = Math.Max(units.Length, picks.Length);
        for (int i = 0; i < n; i++)
        {
            if (i < picks.Length) sb.Append(picks[i] % 3 == 0 ? Fragments[picks[i] % Fragments.Length] : "");
            if (i < units.Length) sb.Append((char)units[i]);
        }
        return sb.ToString();
    }

    [Property(MaxTest = 200)]
    public bool Encoding_never_throws_on_any_string(ushort[] units, byte[] picks, byte modelChoice, string? pair)
    {
        var tok = Tokenizer(ModelNames[modelChoice % ModelNames.Length]);
        string text = BuildText(units ?? [], picks ?? []);
        var enc = tok.Encode(text, pair);
        var single = tok.SentencePiece.Encode(text);
        string decoded = tok.Decode(enc.InputIds);
        bool offsetsInRange = enc.Offsets.Zip(enc.SequenceIds).All(p =>
            p.First.Start <= p.First.End && p.First.End <= (p.Second == 1 ? pair!.Length : text.Length));
        bool spInRange = single.All(p => 0 <= p.Start && p.Start <= p.End && p.End <= text.Length);
        return enc.InputIds.Length == enc.TokenTypeIds.Length && enc.InputIds.All(id => id >= 0 && id < tok.Count)
               && offsetsInRange && spInRange && decoded is not null;
    }

    private const string RoundTripAlphabet =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"()-_/&%$#@ " +
        "\u00e9\u00fc\u00e7\u00df\u65e5\u672c\u8a9e\u4e2d\uac00\u05e9\u0645\u0e20";

    private static string AlphabetText(byte[] codes, bool emoji)
    {
        var sb = new StringBuilder();
        foreach (byte c in codes)
        {
            if (emoji && c % 17 == 0) sb.Append("\ud83d\ude00");
            else sb.Append(RoundTripAlphabet[c % RoundTripAlphabet.Length]);
        }
        return sb.ToString();
    }

    private static string CollapseSpaces(string s) => string.Join(" ", s.Split(' ', StringSplitOptions.RemoveEmptyEntries));

    // Byte-fallback models can spell every character, so nothing is lost: decoding gives back the text with runs of
    // spaces collapsed and the ends trimmed (these characters are all NFKC-stable).
    [Property(MaxTest = 150)]
    public bool Decode_of_encode_gives_the_text_back_with_byte_fallback(byte[] codes, bool bpe)
    {
        var tok = Tokenizer(bpe ? "trained_bpe_bf" : "trained_unigram_bf");
        string text = AlphabetText(codes ?? [], emoji: true);
        var enc = tok.Encode(text);
        return tok.Decode(enc.InputIds, skipSpecialTokens: true, cleanUpTokenizationSpaces: false) == CollapseSpaces(text);
    }

    // The real BigBird vocabulary has no byte fallback but covers ASCII.
    [Property(MaxTest = 150)]
    public bool Decode_of_encode_gives_ascii_back_with_the_real_vocabulary(byte[] codes)
    {
        var tok = Tokenizer("bigbird_gpt2");
        string text = AlphabetText((codes ?? []).Select(c => (byte)(c % 81)).ToArray(), emoji: false);
        var enc = tok.Encode(text);
        return tok.Decode(enc.InputIds, skipSpecialTokens: true, cleanUpTokenizationSpaces: false) == CollapseSpaces(text);
    }

    // Each piece's span holds what the piece spells: U+2581 stands for a run of spaces, the first piece's leading
    // U+2581 is the dummy prefix and has no source.
    [Property(MaxTest = 150)]
    public bool Offsets_cover_the_text_of_each_piece(byte[] codes)
    {
        var tok = Tokenizer("bigbird_gpt2");
        string text = AlphabetText((codes ?? []).Select(c => (byte)(c % 81)).ToArray(), emoji: false);
        var enc = tok.Encode(text, options: new TokenizerEncodeOptions { AddSpecialTokens = false });
        var tokens = tok.ConvertIdsToTokens(enc.InputIds);
        int expectedStart = 0;
        for (int i = 0; i < tokens.Length; i++)
        {
            var (start, end) = (enc.Offsets[i].Start, enc.Offsets[i].End);
            string piece = tokens[i].Replace('\u2581', ' ');
            if (i == 0 && piece.StartsWith(' ')) piece = piece[1..];
            string surface = text[start..end];
            string collapsed = surface.Length > 0 && surface[0] == ' ' ? " " + CollapseSpaces(surface) : CollapseSpaces(surface);
            if (collapsed != piece) return false;
            // spans tile the text, apart from skipped leading spaces
            if (i > 0 && start != expectedStart) return false;
            expectedStart = end;
        }
        return text[expectedStart..].Trim(' ').Length == 0;
    }

    [Fact]
    public void Special_tokens_in_text_get_their_spans_and_mask_strips_its_left()
    {
        var tok = Tokenizer("bigbird_gpt2");
        const string text = "a  [MASK] b [SEP]";
        var enc = tok.Encode(text);
        var tokens = tok.ConvertIdsToTokens(enc.InputIds);
        Assert.Equal(["[CLS]", "\u2581a", "[MASK]", "\u2581b", "[SEP]", "[SEP]"], tokens);
        Assert.Equal(new TokenOffset(0, 0), enc.Offsets[0]);
        Assert.Equal(new TokenOffset(0, 1), enc.Offsets[1]);
        Assert.Equal(new TokenOffset(3, 9), enc.Offsets[2]);
        Assert.Equal(new TokenOffset(10, 11), enc.Offsets[3]); // the chunk " b " starts with a skipped space
        Assert.Equal(new TokenOffset(12, 17), enc.Offsets[4]);
        Assert.Equal(new TokenOffset(0, 0), enc.Offsets[5]);
        Assert.Equal([1, 0, 0, 0, 0, 1], enc.SpecialTokensMask);
        Assert.Equal([-1, 0, 0, 0, 0, -1], enc.SequenceIds);
    }

    [Fact]
    public void Pair_offsets_point_into_the_pair()
    {
        var tok = Tokenizer("bigbird_gpt2");
        var enc = tok.Encode("Hello", "big world");
        Assert.Equal([0, 0, 0, 1, 1, 1], enc.TokenTypeIds);
        Assert.Equal(new TokenOffset(0, 5), enc.Offsets[1]);
        Assert.Equal(new TokenOffset(0, 3), enc.Offsets[3]);
        Assert.Equal(new TokenOffset(3, 9), enc.Offsets[4]);
    }
}
