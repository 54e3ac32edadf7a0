using System.Text.Json.Nodes;
using BigBirdSharp.Configuration;

namespace BigBirdSharp.Tests.EncoderDecoder;

/// <summary>EncoderDecoderConfig: the fixtures' config.json files, HF's defaults, and every error it names.</summary>
public sealed class EncoderDecoderConfigTests
{
    private const string Minimal =
        """{"model_type": "encoder-decoder", "encoder": {"model_type": "big_bird"}, "decoder": {"model_type": "big_bird", "is_decoder": true, "add_cross_attention": true}}""";

    [Fact]
    public void ReadsTheTiedFixture()
    {
        var config = EncoderDecoderConfig.FromFile(Path.Combine(EncoderDecoderFixture.ModelDir("ed_tied"), "config.json"));
        Assert.True(config.TieEncoderDecoder);
        Assert.Equal(3, config.DecoderStartTokenId);
        Assert.Equal(1, config.PadTokenId);
        Assert.Equal(["EncoderDecoderModel"], config.Architectures);
        Assert.False(config.HasEncoderToDecoderProjection);
        Assert.False(config.Encoder.IsDecoder);
        Assert.Equal(AttentionType.BlockSparse, config.Encoder.AttentionType);
        Assert.Equal(4, config.Encoder.BlockSize);
        Assert.True(config.Decoder.IsDecoder);
        Assert.True(config.Decoder.AddCrossAttention);
        Assert.False(config.Decoder.TieWordEmbeddings);
        Assert.Equal(AttentionType.OriginalFull, config.Decoder.AttentionType);
        Assert.Equal("gelu_fast", config.Decoder.HiddenAct);
    }

    [Fact]
    public void ReadsTheProjectionFixture()
    {
        var config = EncoderDecoderConfig.FromFile(Path.Combine(EncoderDecoderFixture.ModelDir("ed_proj"), "config.json"));
        Assert.Equal(48, config.Encoder.HiddenSize);
        Assert.Equal(32, config.Decoder.HiddenSize);
        Assert.Null(config.CrossAttentionHiddenSize);
        Assert.True(config.HasEncoderToDecoderProjection);
        Assert.False(config.TieEncoderDecoder);
        Assert.Equal(2, config.DecoderStartTokenId);
        Assert.Equal(0, config.PadTokenId);
    }

    [Fact]
    public void MissingFieldsTakeHuggingFaceDefaults()
    {
        var config = EncoderDecoderConfig.FromJson(Minimal);
        Assert.Null(config.DecoderStartTokenId);
        Assert.Null(config.PadTokenId);
        Assert.Null(config.BosTokenId);
        Assert.Null(config.EosTokenId);
        Assert.Null(config.ForcedBosTokenId);
        Assert.Null(config.ForcedEosTokenId);
        Assert.False(config.TieEncoderDecoder);
        Assert.True(config.IsEncoderDecoder);
        Assert.Empty(config.Architectures);
        Assert.Equal(20, config.MaxLength);
        Assert.Equal(0, config.MinLength);
        Assert.Equal(1, config.NumBeams);
        Assert.Equal(1.0, config.LengthPenalty);
        Assert.False(config.EarlyStopping);
        Assert.Equal(0, config.NoRepeatNgramSize);
        Assert.Equal(1.0, config.RepetitionPenalty);
        Assert.Equal(1, config.NumReturnSequences);
        // the nested configurations take BigBirdConfig's defaults
        Assert.Equal(768, config.Encoder.HiddenSize);
        Assert.Equal(50358, config.Decoder.VocabSize);
        Assert.False(config.HasEncoderToDecoderProjection);
    }

    [Fact]
    public void ReadsGenerationFields()
    {
        var json = JsonNode.Parse(Minimal)!.AsObject();
        json["max_length"] = 64;
        json["min_length"] = 3;
        json["num_beams"] = 4;
        json["length_penalty"] = 0.6;
        json["early_stopping"] = true;
        json["no_repeat_ngram_size"] = 3;
        json["repetition_penalty"] = 1.2;
        json["num_return_sequences"] = 2;
        json["forced_bos_token_id"] = 5;
        json["forced_eos_token_id"] = 6;
        json["eos_token_id"] = 7;
        json["bos_token_id"] = 8;
        var config = EncoderDecoderConfig.FromJson(json.ToJsonString());
        Assert.Equal((64, 3, 4, 0.6, true, 3, 1.2, 2), (config.MaxLength, config.MinLength, config.NumBeams, config.LengthPenalty,
                                                      config.EarlyStopping, config.NoRepeatNgramSize, config.RepetitionPenalty, config.NumReturnSequences));
        Assert.Equal((5, 6, 7, 8), (config.ForcedBosTokenId!.Value, config.ForcedEosTokenId!.Value, config.EosTokenId!.Value, config.BosTokenId!.Value));
    }

    public static TheoryData<string, string, string> Invalid() => new()
    {
        { "model_type", "\"bert\"", "model_type is 'bert'" },
        { "encoder", "null", "encoder is missing" },
        { "decoder", "[1]", "decoder must be a JSON object" },
        { "encoder.model_type", "\"bert\"", "encoder.model_type is 'bert'" },
        { "decoder.model_type", "3", "decoder.model_type is missing or not a string" },
        { "decoder.is_decoder", "false", "config.json: decoder: add_cross_attention needs is_decoder=true" },
        { "decoder.add_cross_attention", "false", "decoder.add_cross_attention is false" },
        { "decoder.cross_attention_hidden_size", "64", "decoder.cross_attention_hidden_size is 64" },
        { "encoder.hidden_size", "0", "config.json: encoder: hidden_size must be positive" },
        { "decoder.num_attention_heads", "7", "config.json: decoder: hidden_size (768) is not a multiple of num_attention_heads (7)" },
        { "decoder_start_token_id", "50358", "decoder_start_token_id 50358 is outside the decoder's vocabulary" },
        { "pad_token_id", "-1", "pad_token_id -1 is outside the decoder's vocabulary" },
        { "eos_token_id", "99999", "eos_token_id 99999 is outside" },
        { "forced_eos_token_id", "99999", "forced_eos_token_id 99999 is outside" },
        { "max_length", "0", "max_length must be positive" },
        { "min_length", "-1", "min_length must be non-negative" },
        { "num_beams", "0", "num_beams must be positive" },
        { "num_return_sequences", "0", "num_return_sequences must be positive" },
        { "no_repeat_ngram_size", "-2", "no_repeat_ngram_size must be non-negative" },
        { "repetition_penalty", "0", "repetition_penalty must be a positive number" },
        { "tie_encoder_decoder", "\"yes\"", "tie_encoder_decoder" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void InvalidFieldIsNamed(string field, string value, string expected)
    {
        var json = JsonNode.Parse(Minimal)!.AsObject();
        var parts = field.Split('.');
        var target = parts.Length == 2 ? json[parts[0]]!.AsObject() : json;
        target[parts[^1]] = JsonNode.Parse(value);
        var e = Assert.Throws<BigBirdConfigException>(() => EncoderDecoderConfig.FromJson(json.ToJsonString()));
        Assert.Contains(expected, e.Message);
        Assert.StartsWith("config.json", e.Message);
    }

    [Fact]
    public void ADecoderThatIsNotADecoderIsRefused()
    {
        var json = JsonNode.Parse(Minimal)!.AsObject();
        json["decoder"]!["is_decoder"] = false;
        json["decoder"]!["add_cross_attention"] = false;
        var e = Assert.Throws<BigBirdConfigException>(() => EncoderDecoderConfig.FromJson(json.ToJsonString()));
        Assert.Contains("decoder.is_decoder is false", e.Message);
    }

    [Fact]
    public void DifferentHiddenSizesWithCrossAttentionHiddenSizeAreRefused()
    {
        var json = JsonNode.Parse(Minimal)!.AsObject();
        json["encoder"]!["hidden_size"] = 48;
        json["encoder"]!["num_attention_heads"] = 4;
        json["decoder"]!["cross_attention_hidden_size"] = 48;
        var e = Assert.Throws<BigBirdConfigException>(() => EncoderDecoderConfig.FromJson(json.ToJsonString()));
        Assert.Contains("encoder.hidden_size 48 differs from decoder.hidden_size 768", e.Message);
        // without cross_attention_hidden_size, HF makes enc_to_dec_proj
        json["decoder"]!.AsObject().Remove("cross_attention_hidden_size");
        Assert.True(EncoderDecoderConfig.FromJson(json.ToJsonString()).HasEncoderToDecoderProjection);
    }

    [Fact]
    public void NotJsonOrNotAnObjectIsRefused()
    {
        Assert.Contains("not valid JSON", Assert.Throws<BigBirdConfigException>(() => EncoderDecoderConfig.FromJson("{", "x.json")).Message);
        Assert.Contains("expected a JSON object", Assert.Throws<BigBirdConfigException>(() => EncoderDecoderConfig.FromJson("[]", "x.json")).Message);
    }

    [Fact]
    public void MissingFileIsNamed()
    {
        string path = Path.Combine(Path.GetTempPath(), "no-such-" + Guid.NewGuid().ToString("N"), "config.json");
        var e = Assert.Throws<BigBirdConfigException>(() => EncoderDecoderConfig.FromFile(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("not found", e.Message);
    }

    [Fact]
    public void ABigBirdConfigIsNotAnEncoderDecoderConfig()
    {
        string bigbird = """{"model_type": "big_bird", "hidden_size": 32, "num_attention_heads": 4}""";
        var e = Assert.Throws<BigBirdConfigException>(() => EncoderDecoderConfig.FromJson(bigbird));
        Assert.Contains("model_type is 'big_bird'", e.Message);
    }
}
