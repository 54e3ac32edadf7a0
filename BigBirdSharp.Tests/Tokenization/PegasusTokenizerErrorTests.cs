using System.Text.Json;
using BigBirdSharp.Tests.IO;
using BigBirdSharp.Tokenization;
using static BigBirdSharp.Tests.Tokenization.PegasusTokenizerFixtures;

namespace BigBirdSharp.Tests.Tokenization;

/// <summary>Every bad folder, file and input gives a typed error that names the file and the field: the configurations
/// HF's PegasusTokenizer refuses (its TypeError, ValueError and IndexError, recorded in cases/errors.json), those
/// whose HF behaviour cannot work, and bad ids and options.</summary>
public class PegasusTokenizerErrorTests
{
    /// <summary>A copy of the trained Pegasus folder, with <paramref name="files"/> written over it (null deletes).</summary>
    private static TokenizerFormatException LoadFails(Dictionary<string, string?> files, string? expectFile = null)
    {
        using var dir = new TempDir();
        CopyInto("trained_pegasus", dir.Path);
        foreach (var (name, content) in files)
        {
            if (content is null) File.Delete(dir.File(name));
            else File.WriteAllText(dir.File(name), content);
        }
        var e = Assert.Throws<TokenizerFormatException>(() => PegasusTokenizer.FromPretrained(dir.Path));
        string file = dir.File(expectFile ?? files.Keys.First());
        Assert.Equal(file, e.FilePath);
        Assert.StartsWith(file + ": ", e.Message);
        return e;
    }

    private static TokenizerFormatException ConfigFails(string json) =>
        LoadFails(new() { ["tokenizer_config.json"] = json });

    private static TokenizerFormatException MapFails(string json) =>
        LoadFails(new() { ["special_tokens_map.json"] = json });

    private static string HfError(string label) =>
        PegasusCases("errors").EnumerateArray().Single(e => e.GetProperty("label").GetString() == label).GetProperty("error").GetString()!;

    [Fact]
    public void A_missing_folder_or_spiece_model_is_named()
    {
        using var dir = new TempDir();
        string missing = dir.File("nothing-here");
        var e = Assert.Throws<TokenizerFormatException>(() => PegasusTokenizer.FromPretrained(missing));
        Assert.Equal(missing, e.FilePath);
        Assert.Contains("tokenizer folder not found", e.Message);
        File.WriteAllText(dir.File("tokenizer.json"), "{}");
        e = Assert.Throws<TokenizerFormatException>(() => PegasusTokenizer.FromPretrained(dir.Path));
        Assert.Equal(dir.File("spiece.model"), e.FilePath);
        Assert.Contains("PegasusTokenizer needs spiece.model", e.Message);
    }

    [Fact]
    public void A_corrupt_spiece_model_is_named()
    {
        var data = File.ReadAllBytes(SpiecePath("trained_pegasus"));
        using var dir = new TempDir();
        CopyInto("trained_pegasus", dir.Path);
        File.WriteAllBytes(dir.File("spiece.model"), data[..(data.Length / 2)]);
        var e = Assert.Throws<TokenizerFormatException>(() => PegasusTokenizer.FromPretrained(dir.Path));
        Assert.Equal(dir.File("spiece.model"), e.FilePath);
        Assert.Contains("malformed SentencePiece model", e.Message);
    }

    [Fact]
    public void Malformed_json_files_are_named()
    {
        foreach (var f in new[] { "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json" })
        {
            Assert.Contains("malformed JSON", LoadFails(new() { [f] = "{\"offset\": " }).Message);
            Assert.Contains("expected a JSON object", LoadFails(new() { [f] = "[1, 2]" }).Message);
        }
    }

    [Fact]
    public void A_malformed_config_is_named_when_asked_for_the_tokenizer_class()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("tokenizer_config.json"), "{\"tokenizer_class\": ");
        var e = Assert.Throws<TokenizerFormatException>(() => PegasusTokenizer.NamesPegasusTokenizer(dir.Path));
        Assert.Equal(dir.File("tokenizer_config.json"), e.FilePath);
        Assert.False(PegasusTokenizer.NamesPegasusTokenizer(dir.File("no-such-folder")));
    }

    [Fact]
    public void Additional_special_tokens_that_are_not_a_list_are_refused_as_by_hf()
    {
        Assert.Equal("TypeError", HfError("not_a_list"));
        var e = ConfigFails("""{"additional_special_tokens": "<mask_1>"}""");
        Assert.Contains("additional_special_tokens should be a list, but is a JSON string", e.Message);
        Assert.Contains("additional_special_tokens entries must be strings", ConfigFails("""{"additional_special_tokens": ["<a>", 7]}""").Message);
    }

    [Fact]
    public void A_shifted_unk_list_or_a_repeated_token_is_refused_as_by_hf()
    {
        Assert.Equal("ValueError", HfError("shifted_unk"));
        Assert.Equal("ValueError", HfError("duplicate"));
        var e = ConfigFails("""{"additional_special_tokens": ["<mask_1>", "<unk_3>"]}""");
        Assert.Contains("incorrectly shifted list of <unk_x> tokens", e.Message);
        Assert.Contains("<mask_1>, <unk_3>, <unk_2>, <unk_3>", e.Message);
        e = ConfigFails("""{"additional_special_tokens": ["<x>", "<x>"]}""");
        Assert.Contains("do not repeat a token", e.Message);
        Assert.Contains("<mask_1>, <x>, <x>, <unk_3>", e.Message);
    }

    [Fact]
    public void No_mask_token_sent_and_no_additional_tokens_is_refused_where_hf_fails()
    {
        Assert.Equal("IndexError", HfError("no_mask_sent"));
        var e = ConfigFails("""{"mask_token_sent": null}""");
        Assert.Contains("mask_token_sent is null", e.Message);
        Assert.Contains("ids 4 to 104", e.Message);
        // with offset 0 nothing needs filling, and with a list there is enough
        using var dir = new TempDir();
        CopyInto("trained_pegasus_bare", dir.Path);
        File.WriteAllText(dir.File("tokenizer_config.json"), """{"mask_token_sent": null, "additional_special_tokens": ["<a>"], "offset": 5}""");
        var tok = PegasusTokenizer.FromPretrained(dir.Path);
        Assert.Null(tok.MaskTokenSent);
        // __init__ with no mask_token_sent: the table is <pad>, </s>, then additional[1..3] at ids 4..6
        Assert.Equal(["<pad>", "</s>", "<unk_1>", "<unk_2>", "<unk_3>"], tok.ConvertIdsToTokens([0, 1, 4, 5, 6]));
    }

    [Fact]
    public void AddedToken_objects_hf_cannot_look_up_are_refused()
    {
        var e = ConfigFails("""{"additional_special_tokens": [{"__type": "AddedToken", "content": "<a>"}]}""");
        Assert.Contains("additional_special_tokens holds an AddedToken", e.Message);
        e = ConfigFails("""{"mask_token_sent": {"__type": "AddedToken", "content": "<mask_1>"}}""");
        Assert.Contains("mask_token_sent must be a string or null", e.Message);
    }

    [Fact]
    public void Special_tokens_of_the_wrong_kind_are_refused()
    {
        // tokenizer_config.json: HF's SpecialTokensMixin takes a string or a serialized AddedToken only
        var e = ConfigFails("""{"eos_token": {"content": "</s>"}}""");
        Assert.Contains("special token eos_token has to be either a string or an AddedToken", e.Message);
        Assert.Contains("mask_token has to be", ConfigFails("""{"mask_token": 3}""").Message);
        Assert.Contains("eos_token has no string \"content\"", ConfigFails("""{"eos_token": {"__type": "AddedToken"}}""").Message);
        // special_tokens_map.json
        Assert.Contains("pad_token must be a string or an AddedToken object", MapFails("""{"pad_token": 0}""").Message);
        Assert.Contains("mask_token has no string \"content\"", MapFails("""{"mask_token": {"lstrip": true}}""").Message);
        Assert.Contains("mask_token: \"lstrip\" must be true or false", MapFails("""{"mask_token": {"content": "<m>", "lstrip": 1}}""").Message);
        Assert.Contains("additional_special_tokens must be a list", MapFails("""{"additional_special_tokens": "<a>"}""").Message);
        Assert.Contains("entries must be strings or AddedToken objects", MapFails("""{"additional_special_tokens": [null]}""").Message);
    }

    [Fact]
    public void Null_pad_eos_or_unk_and_a_null_mask_beside_mask_token_sent_are_refused()
    {
        foreach (var name in new[] { "pad_token", "eos_token", "unk_token" })
        {
            Assert.Contains($"{name} is null", ConfigFails($$"""{"{{name}}": null}""").Message);
            Assert.Contains($"{name} is null", MapFails($$"""{"{{name}}": null}""").Message);
        }
        Assert.Contains("mask_token is null but mask_token_sent is set", ConfigFails("""{"mask_token": null}""").Message);
    }

    [Fact]
    public void Bad_offset_and_sides_are_refused()
    {
        foreach (var v in new[] { "-1", "\"103\"", "1.5", "2000000" })
            Assert.Contains("offset must be an integer in [0, 1000000]", ConfigFails($$"""{"offset": {{v}}}""").Message);
        Assert.Contains("padding_side must be \"right\" or \"left\"", ConfigFails("""{"padding_side": "middle"}""").Message);
        Assert.Contains("truncation_side must be", ConfigFails("""{"truncation_side": 1}""").Message);
    }

    [Fact]
    public void Added_tokens_must_follow_the_vocabulary()
    {
        int vocab = PegasusTok("trained_pegasus").VocabSize;
        var e = LoadFails(new() { ["added_tokens.json"] = $$"""{"a": {{vocab + 1}}}""" });
        Assert.Contains($"non-consecutive added token 'a' found: it has id {vocab + 1}, expected {vocab}", e.Message);
        Assert.Contains("is not an integer", LoadFails(new() { ["added_tokens.json"] = """{"a": "x"}""" }).Message);
        // the right ids load, and the token splits out of text
        using var dir = new TempDir();
        CopyInto("trained_pegasus", dir.Path);
        File.WriteAllText(dir.File("added_tokens.json"), $$"""{"zz": {{vocab}}}""");
        var tok = PegasusTokenizer.FromPretrained(dir.Path);
        Assert.Equal(vocab, tok.ConvertTokenToId("zz"));
        Assert.Equal([vocab, tok.EosTokenId], tok.Encode("zz").InputIds);
    }

    [Fact]
    public void Ids_outside_the_tokenizer_are_a_typed_input_error()
    {
        var tok = PegasusTok("trained_pegasus_custom");
        foreach (int id in new[] { tok.Count, tok.Count + 5, -1, int.MinValue })
        {
            var e = Assert.Throws<BigBirdInputException>(() => tok.ConvertIdsToTokens([1, id]));
            Assert.Contains($"token id {id} is out of range", e.Message);
            Assert.Contains($"[0, {tok.Count})", e.Message);
            Assert.Contains("offset 12", e.Message);
            Assert.Contains("spiece.model", e.Message);
            Assert.Throws<BigBirdInputException>(() => tok.Decode([id]));
        }
        // the last id decodes
        Assert.Equal("<extra>", Assert.Single(tok.ConvertIdsToTokens([tok.Count - 1])));
    }

    [Fact]
    public void Bad_inputs_and_options_are_refused()
    {
        var tok = PegasusTok("trained_pegasus");
        Assert.Throws<ArgumentNullException>(() => tok.Encode(null!));
        Assert.Throws<ArgumentNullException>(() => tok.Tokenize(null!));
        Assert.Throws<ArgumentNullException>(() => tok.ConvertTokenToId(null!));
        Assert.Throws<ArgumentNullException>(() => tok.ConvertTokensToString(null!));
        Assert.Throws<ArgumentNullException>(() => tok.EncodeBatch(null!));
        Assert.Throws<ArgumentNullException>(() => PegasusTokenizer.FromPretrained(null!));
        Assert.Contains("must not contain null", Assert.Throws<ArgumentException>(() => tok.EncodeBatch(["a", null!])).Message);
        Assert.Contains("2 texts but 1 text pairs", Assert.Throws<ArgumentException>(() => tok.EncodeBatch(["a", "b"], ["c"])).Message);
        Assert.Contains("MaxLength must not be negative",
            Assert.Throws<ArgumentException>(() => tok.Encode("a", options: new TokenizerEncodeOptions { MaxLength = -1 })).Message);
        Assert.Contains("PadToMultipleOf must be positive",
            Assert.Throws<ArgumentException>(() => tok.Encode("a", options: new TokenizerEncodeOptions { PadToMultipleOf = 0 })).Message);
        var e = Assert.Throws<ArgumentException>(() => tok.Encode("a", options: new TokenizerEncodeOptions
        {
            Padding = PaddingStrategy.MaxLength, Truncation = TruncationStrategy.LongestFirst, MaxLength = 10, PadToMultipleOf = 4,
        }));
        Assert.Contains("truncation length (10) is not a multiple of pad_to_multiple_of (4)", e.Message);
    }

    [Fact]
    public void The_recorded_hf_errors_are_the_four_refused_here()
    {
        var labels = PegasusCases("errors").EnumerateArray().Select(e => e.GetProperty("label").GetString()!).ToArray();
        Assert.Equal(["not_a_list", "shifted_unk", "duplicate", "no_mask_sent"], labels);
        Assert.All(PegasusCases("errors").EnumerateArray(), e => Assert.NotEqual(JsonValueKind.Null, e.GetProperty("error").ValueKind));
    }
}
