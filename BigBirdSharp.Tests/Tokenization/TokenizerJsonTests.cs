using System.Text.Json;
using BigBirdSharp.Tokenization;
using static BigBirdSharp.Tests.Tokenization.TokenizerFixtures;

namespace BigBirdSharp.Tests.Tokenization;

/// <summary>A folder holding only tokenizer.json (written by generate_tokenizer.py from a spiece.model in HF's
/// documented layout) must tokenize exactly as HF's slow tokenizer does on that spiece.model. No HF fast tokenizer
/// is available to check the tokenizer.json reading itself.</summary>
public class TokenizerJsonTests
{
    [Theory]
    [InlineData("test_sentencepiece_json", "test_sentencepiece")]
    [InlineData("trained_unigram_bf_json", "trained_unigram_bf")]
    public void Tokenizer_json_folder_matches_the_hf_oracle_of_its_spiece_model(string jsonModel, string source)
    {
        Assert.False(File.Exists(Path.Combine(ModelDir(jsonModel), "spiece.model")));
        var tok = BigBirdTokenizer.FromPretrained(ModelDir(jsonModel));
        var c = Cases(source);
        Assert.Equal(c.GetProperty("vocab_size").GetInt32(), tok.VocabSize);
        Assert.Equal(Ints(c.GetProperty("all_special_ids")), tok.AllSpecialIds);
        var failures = new List<string>();
        var all = c.GetProperty("cases").EnumerateArray().ToList();
        foreach (var k in all)
        {
            string text = k.GetProperty("text").GetString()!;
            var enc = tok.Encode(text, Str(k.GetProperty("text_pair")));
            var ids = Ints(k.GetProperty("input_ids"));
            if (!ids.SequenceEqual(enc.InputIds))
                failures.Add($"ids {JsonSerializer.Serialize(text)}: HF {Show(ids)} ours {Show(enc.InputIds)}");
            else if (tok.Decode(ids) != k.GetProperty("decoded").GetString())
                failures.Add($"decode {JsonSerializer.Serialize(text)}");
        }
        AssertNone(failures, all.Count);
    }

    [Fact]
    public void Unsupported_tokenizer_json_gives_typed_errors()
    {
        string dir = Directory.CreateTempSubdirectory("bbtokjson").FullName;
        try
        {
            string path = Path.Combine(dir, "tokenizer.json");
            File.WriteAllText(path, """{"model": {"type": "BPE", "vocab": {}, "merges": []}}""");
            var e = Assert.Throws<TokenizerFormatException>(() => BigBirdTokenizer.FromPretrained(dir));
            Assert.Contains("model type 'BPE' is not supported", e.Message);
            File.WriteAllText(path, """{"model": {"type": "Unigram", "vocab": [["a", 0.0]]}}""");
            e = Assert.Throws<TokenizerFormatException>(() => BigBirdTokenizer.FromPretrained(dir));
            Assert.Contains("unk_id is missing", e.Message);
            File.WriteAllText(path, """{"model": {"type": "Unigram", "unk_id": 0, "vocab": [["a", "x"]]}}""");
            e = Assert.Throws<TokenizerFormatException>(() => BigBirdTokenizer.FromPretrained(dir));
            Assert.Contains("model.vocab[0] must be [piece, score]", e.Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
