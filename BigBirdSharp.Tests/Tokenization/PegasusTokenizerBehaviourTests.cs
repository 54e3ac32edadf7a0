using BigBirdSharp.Tokenization;
using static BigBirdSharp.Tests.Tokenization.PegasusTokenizerFixtures;

namespace BigBirdSharp.Tests.Tokenization;

/// <summary>What the HF fixtures do not state directly: the id table, offsets, the shape of an encoding, and that one
/// loaded tokenizer serves many threads.</summary>
public class PegasusTokenizerBehaviourTests
{
    [Fact]
    public void The_default_id_table_is_pegasus()
    {
        var tok = PegasusTok("trained_pegasus");
        Assert.Equal(103, tok.Offset);
        Assert.Equal(tok.SentencePiece.PieceCount + 103, tok.VocabSize);
        Assert.Equal(["<pad>", "</s>", "<mask_1>", "<mask_2>", "<unk_2>", "<unk_102>"], tok.ConvertIdsToTokens([0, 1, 2, 3, 4, 104]));
        Assert.Equal((0, 1, 3, 105), (tok.PadTokenId, tok.EosTokenId, tok.MaskTokenId, tok.UnkTokenId));
        Assert.Equal("<mask_1>", tok.MaskTokenSent);
        Assert.Equal(102, tok.AdditionalSpecialTokens.Count);
        // SentencePiece id k is id k + 103; the ids the table covers (103, 104) hide SentencePiece's <pad> and </s>
        int the = tok.SentencePiece.PieceToId("\u2581the");
        Assert.Equal(the + 103, tok.ConvertTokenToId("\u2581the"));
        Assert.Equal("\u2581the", tok.ConvertIdsToTokens([the + 103])[0]);
        Assert.Equal(["<unk_101>", "<unk_102>", "<unk>"], tok.ConvertIdsToTokens([103, 104, 105]));
    }

    [Fact]
    public void A_sequence_ends_with_eos_and_a_pair_has_no_separator()
    {
        var tok = PegasusTok("trained_pegasus");
        var a = tok.Encode("the river", options: new TokenizerEncodeOptions { AddSpecialTokens = false }).InputIds;
        var b = tok.Encode("the city", options: new TokenizerEncodeOptions { AddSpecialTokens = false }).InputIds;
        var pair = tok.Encode("the river", "the city");
        Assert.Equal([.. a, .. b, 1], pair.InputIds);
        Assert.Equal([.. a.Select(_ => 0), .. b.Select(_ => 1), 0], pair.TokenTypeIds);
        Assert.Equal([.. a.Select(_ => 0), .. b.Select(_ => 1), -1], pair.SequenceIds);
        Assert.Equal([.. a.Select(_ => 0), .. b.Select(_ => 0), 1], pair.SpecialTokensMask);
        // a special token typed in the text is masked as special, <unk> is not
        var m = tok.Encode("<mask_1> \u00a7");
        Assert.Equal([2, tok.ConvertTokenToId("\u2581"), tok.UnkTokenId, 1], m.InputIds);
        Assert.Equal([1, 0, 0, 1], m.SpecialTokensMask);
    }

    [Fact]
    public void Offsets_point_at_the_text_each_token_came_from()
    {
        var tok = PegasusTok("trained_pegasus");
        const string text = "the river <mask_1>  city <n> north";
        var enc = tok.Encode(text);
        var tokens = tok.ConvertIdsToTokens(enc.InputIds);
        for (int i = 0; i < enc.Length - 1; i++)
        {
            var (start, end) = enc.Offsets[i];
            string span = text[start..end];
            string token = tokens[i];
            if (token.StartsWith('\u2581')) Assert.Equal(token[1..], span.TrimStart());
            else Assert.Equal(token, span);
        }
        Assert.Equal(default, enc.Offsets[^1]);
        Assert.Contains(enc.Offsets, o => text[o.Start..o.End] == "<mask_1>");
    }

    [Fact]
    public void Left_padding_and_truncation_come_from_the_folder()
    {
        var tok = PegasusTok("trained_pegasus_custom");
        Assert.True(tok.PadLeft);
        Assert.True(tok.TruncateLeft);
        Assert.Equal(24, tok.ModelMaxLength);
        var rows = tok.EncodeBatch(["the", "the river of the city"], options: new TokenizerEncodeOptions { Padding = PaddingStrategy.Longest });
        Assert.Equal(rows[1].Length, rows[0].Length);
        Assert.Equal(tok.PadTokenId, rows[0].InputIds[0]);
        Assert.Equal(0, rows[0].AttentionMask[0]);
        Assert.Equal(tok.EosTokenId, rows[0].InputIds[^1]);
        var cut = tok.Encode(string.Join(" ", Enumerable.Repeat("north south", 40)), options: new TokenizerEncodeOptions { Truncation = TruncationStrategy.LongestFirst });
        Assert.Equal(24, cut.Length);
        Assert.Equal(tok.EosTokenId, cut.InputIds[^1]);
    }

    [Fact]
    public void One_tokenizer_serves_many_threads()
    {
        var tok = PegasusTok("bigbird_gpt2");
        var texts = PegasusCases("bigbird_gpt2").GetProperty("random").EnumerateArray().Select(c => c.GetProperty("text").GetString()!).ToArray();
        var expected = texts.Select(t => tok.Encode(t).InputIds).ToArray();
        var decoded = expected.Select(ids => tok.Decode(ids)).ToArray();
        Parallel.For(0, texts.Length * 4, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            int k = i % texts.Length;
            Assert.Equal(expected[k], tok.Encode(texts[k]).InputIds);
            Assert.Equal(decoded[k], tok.Decode(expected[k]));
        });
    }

    [Fact]
    public void A_folder_says_whether_it_is_pegasus()
    {
        Assert.True(PegasusTokenizer.NamesPegasusTokenizer(Path.Combine(Root, "models", "trained_pegasus")));
        Assert.True(PegasusTokenizer.NamesPegasusTokenizer(Path.Combine(Root, "models", "trained_pegasus_bare")));
        Assert.False(PegasusTokenizer.NamesPegasusTokenizer(TokenizerFixtures.ModelDir("bigbird_gpt2")));
        Assert.False(PegasusTokenizer.NamesPegasusTokenizer(TokenizerFixtures.ModelDir("test_sentencepiece")));
    }
}
