using System.Text.Json;
using BigBirdSharp.Modeling.Heads;

namespace BigBirdSharp.Tests.Generation;

/// <summary><see cref="GenerationConfig.FromPretrained"/> against what transformers 4.27.1 makes of the same folders
/// (fixtures/generation/loader), and its typed errors.</summary>
public sealed class GenerationConfigLoaderTests
{
    public static TheoryData<string> Folders() =>
        new(Directory.GetDirectories(Path.Combine(GenerationFixture.Root, "loader")).Select(d => Path.GetFileName(d)!).Order(StringComparer.Ordinal));

    [Theory]
    [MemberData(nameof(Folders))]
    public void ReadsWhatHuggingFaceReads(string name)
    {
        string dir = Path.Combine(GenerationFixture.Root, "loader", name);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected.json")));
        var e = doc.RootElement.GetProperty("expected");
        int? Int(string f) => e.GetProperty(f).ValueKind == JsonValueKind.Null ? null : e.GetProperty(f).GetInt32();
        var g = GenerationConfig.FromPretrained(dir);
        Assert.Equal(Int("max_new_tokens"), g.MaxNewTokens);
        Assert.Equal(Int("max_length"), g.MaxLength);
        Assert.Equal(Int("min_length"), g.MinLength);
        Assert.Equal(Int("min_new_tokens") ?? 0, g.MinNewTokens);
        Assert.Equal(e.GetProperty("do_sample").GetBoolean(), g.DoSample);
        Assert.Equal(e.GetProperty("early_stopping").GetBoolean(), g.EarlyStopping);
        Assert.Equal(Int("num_beams"), g.NumBeams);
        Assert.Equal(e.GetProperty("temperature").GetSingle(), g.Temperature);
        Assert.Equal(Int("top_k"), g.TopK);
        Assert.Equal(e.GetProperty("top_p").GetSingle(), g.TopP);
        Assert.Equal(e.GetProperty("repetition_penalty").GetSingle(), g.RepetitionPenalty);
        Assert.Equal(e.GetProperty("length_penalty").GetSingle(), g.LengthPenalty);
        Assert.Equal(Int("no_repeat_ngram_size"), g.NoRepeatNgramSize);
        Assert.Equal(Int("num_return_sequences"), g.NumReturnSequences);
        Assert.Equal(Int("pad_token_id"), g.PadTokenId);
        Assert.Equal(Int("bos_token_id"), g.BosTokenId);
        Assert.Equal(Int("eos_token_id"), g.EosTokenId);
        Assert.Equal(Int("decoder_start_token_id"), g.DecoderStartTokenId);
        Assert.Equal(Int("forced_bos_token_id"), g.ForcedBosTokenId);
        Assert.Equal(Int("forced_eos_token_id"), g.ForcedEosTokenId);
        Assert.Equal(e.GetProperty("use_cache").GetBoolean(), g.UseCache);
    }

    private static string Folder(string? config, string? generation = null)
    {
        string dir = Directory.CreateTempSubdirectory("bigbird-genconfig-").FullName;
        if (config is not null) File.WriteAllText(Path.Combine(dir, "config.json"), config);
        if (generation is not null) File.WriteAllText(Path.Combine(dir, "generation_config.json"), generation);
        return dir;
    }

    public static TheoryData<string?, string?, string, string> Broken() => new()
    {
        { null, null, "config.json", "neither" },
        { "{ not json", null, "config.json", "not valid JSON" },
        { "[1, 2]", null, "config.json", "JSON object" },
        { """{"model_type": "bigbird_pegasus", "num_beams": "five"}""", null, "config.json", "num_beams" },
        { """{"model_type": "bigbird_pegasus", "num_beams": 0}""", null, "config.json", "num_beams" },
        { """{"model_type": "bigbird_pegasus", "max_length": -3}""", null, "config.json", "max_length" },
        { """{"model_type": "bigbird_pegasus", "length_penalty": "x"}""", null, "config.json", "length_penalty" },
        { """{"model_type": "bigbird_pegasus", "early_stopping": "never"}""", null, "config.json", "early_stopping" },
        { """{"model_type": "bigbird_pegasus", "early_stopping": 1}""", null, "config.json", "early_stopping" },
        { """{"model_type": "big_bird", "eos_token_id": [1, 2]}""", null, "config.json", "eos_token_id" },
        { """{"model_type": "big_bird", "pad_token_id": -1}""", null, "config.json", "pad_token_id" },
        { """{"model_type": "big_bird", "top_p": 2.0}""", null, "config.json", "top_p" },
        { """{"model_type": "big_bird", "temperature": 0}""", null, "config.json", "temperature" },
        { """{"model_type": "big_bird", "repetition_penalty": -1}""", null, "config.json", "repetition_penalty" },
        { """{"model_type": "big_bird", "max_new_tokens": -1}""", null, "config.json", "max_new_tokens" },
        { """{"model_type": "big_bird", "no_repeat_ngram_size": -1}""", null, "config.json", "no_repeat_ngram_size" },
        { "{}", """{"num_return_sequences": 0}""", "generation_config.json", "num_return_sequences" },
        { "{}", "{ broken", "generation_config.json", "not valid JSON" },
        { "{}", """{"decoder": 1, "min_length": true}""", "generation_config.json", "min_length" },
    };

    [Theory]
    [MemberData(nameof(Broken))]
    public void ErrorsNameTheFileAndTheField(string? config, string? generation, string file, string words)
    {
        string dir = Folder(config, generation);
        try
        {
            var e = Assert.Throws<BigBirdConfigException>(() => GenerationConfig.FromPretrained(dir));
            Assert.Contains(file, e.Message);
            Assert.Contains(words, e.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    // an encoder-decoder's config.json: fields still at their defaults take the decoder's value (from_model_config)
    [Fact]
    public void EncoderDecoderFieldsAtTheirDefaultsComeFromTheDecoder()
    {
        string dir = Folder("""{"model_type": "encoder-decoder", "num_beams": 3, "decoder": {"model_type": "big_bird", "num_beams": 6, "eos_token_id": 9, "min_length": 4}}""");
        try
        {
            var g = GenerationConfig.FromPretrained(dir);
            Assert.Equal(3, g.NumBeams);
            Assert.Equal(9, g.EosTokenId);
            Assert.Equal(4, g.MinLength);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
