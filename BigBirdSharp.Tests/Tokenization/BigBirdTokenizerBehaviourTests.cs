using BigBirdSharp.Tokenization;
using static BigBirdSharp.Tests.Tokenization.TokenizerFixtures;

namespace BigBirdSharp.Tests.Tokenization;

/// <summary>Behaviour the HF fixtures do not pin down: thread safety, option checks, folder defaults.</summary>
public class BigBirdTokenizerBehaviourTests
{
    [Fact]
    public void Concurrent_encoding_gives_the_serial_results()
    {
        var tok = Tokenizer("bigbird_gpt2");
        var texts = Cases("bigbird_gpt2").GetProperty("cases").EnumerateArray().Select(c => c.GetProperty("text").GetString()!).ToArray();
        var serial = texts.Select(t => Show(tok.Encode(t).InputIds)).ToArray();
        var parallel = new string[texts.Length * 8];
        Parallel.For(0, parallel.Length, i => parallel[i] = Show(tok.Encode(texts[i % texts.Length]).InputIds));
        for (int i = 0; i < parallel.Length; i++) Assert.Equal(serial[i % texts.Length], parallel[i]);
    }

    [Fact]
    public void Incompatible_options_are_rejected_as_hf_does()
    {
        var tok = Tokenizer("bigbird_gpt2");
        var e = Assert.Throws<ArgumentException>(() => tok.Encode("x", options: new TokenizerEncodeOptions
        {
            Padding = PaddingStrategy.MaxLength, Truncation = TruncationStrategy.LongestFirst, MaxLength = 10, PadToMultipleOf = 8,
        }));
        Assert.Contains("not a multiple of pad_to_multiple_of", e.Message);
        Assert.Throws<ArgumentException>(() => tok.EncodeBatch(["a", "b"], ["c"]));
        var noPad = new BigBirdTokenizer(tok.SentencePiece, BigBirdSpecialTokens.Default with { PadToken = null });
        Assert.Throws<ArgumentException>(() => noPad.Encode("x", options: new TokenizerEncodeOptions { Padding = PaddingStrategy.Longest }));
    }

    [Fact]
    public void Single_encode_pads_to_a_multiple_of_block_size()
    {
        var tok = Tokenizer("bigbird_gpt2");
        var enc = tok.Encode("Hello world", options: new TokenizerEncodeOptions { Padding = PaddingStrategy.Longest, PadToMultipleOf = 64 });
        Assert.Equal(64, enc.Length);
        Assert.Equal([65, 18536, 1096, 66], enc.InputIds[..4]);
        Assert.All(enc.InputIds[4..], id => Assert.Equal(tok.PadTokenId, id));
        Assert.Equal(4, enc.AttentionMask.Sum());
    }

    [Fact]
    public void Added_tokens_json_must_run_on_from_the_vocabulary()
    {
        string dir = Directory.CreateTempSubdirectory("bbtokadded").FullName;
        try
        {
            File.Copy(Path.Combine(ModelDir("test_sentencepiece"), "spiece.model"), Path.Combine(dir, "spiece.model"));
            File.WriteAllText(Path.Combine(dir, "added_tokens.json"), """{"newtok": 1001}""");
            var e = Assert.Throws<TokenizerFormatException>(() => BigBirdTokenizer.FromPretrained(dir));
            Assert.Contains("non-consecutive added token 'newtok'", e.Message);
            Assert.EndsWith("added_tokens.json", e.FilePath);
            File.WriteAllText(Path.Combine(dir, "added_tokens.json"), """{"newtok": 1000}""");
            var tok = BigBirdTokenizer.FromPretrained(dir);
            Assert.Equal(1000, tok.ConvertTokenToId("newtok"));
            Assert.Equal(1001, tok.SepTokenId); // the special tokens come after
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void A_folder_with_only_spiece_model_uses_bigbird_defaults()
    {
        var tok = Tokenizer("test_sentencepiece");
        Assert.Equal(1002, tok.ClsTokenId);
        Assert.Equal(1000, tok.SepTokenId);
        Assert.Equal(1003, tok.MaskTokenId);
        Assert.Equal(1001, tok.PadTokenId);
        Assert.Equal(1004, tok.Count);
        Assert.Null(tok.ModelMaxLength);
    }
}
