using BigBirdSharp.Configuration;

namespace BigBirdSharp.Tests.Pegasus;

public sealed class BigBirdPegasusConfigTests
{
    [Fact]
    public void EmptyConfigTakesTheDefaultsOfConfigurationBigBirdPegasus()
    {
        var c = BigBirdPegasusConfig.FromJson("{}");
        // the keyword defaults of BigBirdPegasusConfig.__init__ in transformers 4.27.1
        Assert.Equal(96103, c.VocabSize);
        Assert.Equal(4096, c.MaxPositionEmbeddings);
        Assert.Equal((16, 4096, 16), (c.EncoderLayers, c.EncoderFfnDim, c.EncoderAttentionHeads));
        Assert.Equal((16, 4096, 16), (c.DecoderLayers, c.DecoderFfnDim, c.DecoderAttentionHeads));
        Assert.Equal(1024, c.DModel);
        Assert.Equal("gelu_new", c.ActivationFunction);
        Assert.Equal((0.1, 0.0, 0.0, 0.0), (c.Dropout, c.AttentionDropout, c.ActivationDropout, c.ClassifierDropout));
        Assert.Equal((2, 0, 2, 1), (c.DecoderStartTokenId, c.PadTokenId, c.BosTokenId!.Value, c.EosTokenId!.Value));
        Assert.True(c.ScaleEmbedding);
        Assert.True(c.UseCache);
        Assert.True(c.IsEncoderDecoder);
        Assert.Equal(AttentionType.BlockSparse, c.AttentionType);
        Assert.Equal((64, 3), (c.BlockSize, c.NumRandomBlocks));
        Assert.False(c.UseBias);
        Assert.True(c.TieWordEmbeddings);
        Assert.Equal(32f, c.EmbedScale);
        Assert.Equal(704, c.MaxTokensToAttend);
    }

    [Fact]
    public void FixtureConfigIsReadField_by_field()
    {
        var c = BigBirdPegasusConfig.FromFile(Path.Combine(PegasusFixture.ModelDir("cg_full"), "config.json"));
        Assert.Equal((120, 32, 1, 3), (c.VocabSize, c.DModel, c.EncoderLayers, c.DecoderLayers));
        Assert.Equal((48, 40), (c.EncoderFfnDim, c.DecoderFfnDim));
        Assert.Equal(AttentionType.OriginalFull, c.AttentionType);
        Assert.False(c.UseBias);
        Assert.False(c.ScaleEmbedding);
        Assert.False(c.TieWordEmbeddings);
        Assert.Equal(3, c.DecoderStartTokenId);
        Assert.Equal("gelu", c.ActivationFunction);
        Assert.Equal(["BigBirdPegasusForConditionalGeneration"], c.Architectures);
    }

    [Fact]
    public void ALargeCheckpointStyleConfigIsRead()
    {
        // the shape of the google/bigbird-pegasus-large-* config.json files: the large sizes, generation defaults, and
        // keys BigBirdSharp has no use for (_name_or_path, gradient_checkpointing, tokenizer_class), which are ignored
        const string json = """
            {"_name_or_path": "google/bigbird-pegasus-large-arxiv", "activation_dropout": 0.1, "activation_function": "gelu_new",
             "architectures": ["BigBirdPegasusForConditionalGeneration"], "attention_dropout": 0.1, "attention_type": "block_sparse",
             "block_size": 64, "bos_token_id": 2, "classifier_dropout": 0.0, "d_model": 1024, "decoder_attention_heads": 16,
             "decoder_ffn_dim": 4096, "decoder_layerdrop": 0.0, "decoder_layers": 16, "decoder_start_token_id": 0, "dropout": 0.1,
             "encoder_attention_heads": 16, "encoder_ffn_dim": 4096, "encoder_layerdrop": 0.0, "encoder_layers": 16, "eos_token_id": 1,
             "gradient_checkpointing": false, "init_std": 0.02, "is_encoder_decoder": true, "length_penalty": 0.8, "max_length": 256,
             "max_position_embeddings": 4096, "model_type": "bigbird_pegasus", "num_beams": 5, "num_hidden_layers": 16,
             "num_random_blocks": 3, "pad_token_id": 0, "scale_embedding": true, "tokenizer_class": "PegasusTokenizer",
             "use_bias": false, "use_cache": true, "vocab_size": 96103}
            """;
        var c = BigBirdPegasusConfig.FromJson(json);
        Assert.Equal((1024, 16, 16, 4096), (c.DModel, c.EncoderLayers, c.DecoderLayers, c.DecoderFfnDim));
        Assert.Equal((256, 5, 0.8), (c.MaxLength, c.NumBeams, c.LengthPenalty));
        Assert.Equal(0, c.DecoderStartTokenId);
        Assert.Equal((0.1, 0.1), (c.AttentionDropout, c.ActivationDropout));
    }

    [Fact]
    public void ACausalLMConfigIsRead()
    {
        // what BigBirdPegasusForCausalLM.save_pretrained writes: its __init__ sets is_decoder and clears is_encoder_decoder
        var c = BigBirdPegasusConfig.FromJson("""{"model_type": "bigbird_pegasus", "is_decoder": true, "is_encoder_decoder": false}""");
        Assert.True(c.IsDecoder);
        Assert.False(c.IsEncoderDecoder);
        Assert.False(BigBirdPegasusConfig.FromJson("{}").IsDecoder);
    }

    [Fact]
    public void LabelFieldsAreReadAsHFDoes()
    {
        var d = BigBirdPegasusConfig.FromJson("{}");
        Assert.Equal(2, d.NumLabels);
        Assert.Null(d.ProblemType);
        Assert.Equal("LABEL_1", d.LabelName(1));
        // id2label decides num_labels over a num_labels field, as PretrainedConfig
        var c = BigBirdPegasusConfig.FromJson(
            """{"id2label": {"0": "neg", "1": "neu", "2": "pos"}, "num_labels": 7, "problem_type": "multi_label_classification"}""");
        Assert.Equal(3, c.NumLabels);
        Assert.Equal("pos", c.LabelName(2));
        Assert.Equal("multi_label_classification", c.ProblemType);
        Assert.Equal(5, BigBirdPegasusConfig.FromJson("""{"num_labels": 5}""").NumLabels);
    }

    [Theory]
    [InlineData("{\"vocab_size\": 0}", "vocab_size")]
    [InlineData("{\"d_model\": -4}", "d_model")]
    [InlineData("{\"encoder_layers\": 0}", "encoder_layers")]
    [InlineData("{\"decoder_layers\": 0}", "decoder_layers")]
    [InlineData("{\"encoder_ffn_dim\": 0}", "encoder_ffn_dim")]
    [InlineData("{\"decoder_ffn_dim\": 0}", "decoder_ffn_dim")]
    [InlineData("{\"encoder_attention_heads\": 0}", "encoder_attention_heads")]
    [InlineData("{\"decoder_attention_heads\": 0}", "decoder_attention_heads")]
    [InlineData("{\"d_model\": 30, \"encoder_attention_heads\": 4, \"decoder_attention_heads\": 3}", "encoder_attention_heads")]
    [InlineData("{\"d_model\": 30, \"encoder_attention_heads\": 3, \"decoder_attention_heads\": 4}", "decoder_attention_heads")]
    [InlineData("{\"max_position_embeddings\": 0}", "max_position_embeddings")]
    [InlineData("{\"block_size\": 0}", "block_size")]
    [InlineData("{\"num_random_blocks\": -1}", "num_random_blocks")]
    [InlineData("{\"dropout\": 1.5}", "dropout")]
    [InlineData("{\"attention_dropout\": -0.1}", "attention_dropout")]
    [InlineData("{\"activation_dropout\": 2}", "activation_dropout")]
    [InlineData("{\"classifier_dropout\": 3}", "classifier_dropout")]
    [InlineData("{\"encoder_layerdrop\": 2}", "encoder_layerdrop")]
    [InlineData("{\"decoder_layerdrop\": -1}", "decoder_layerdrop")]
    [InlineData("{\"pad_token_id\": 96103}", "pad_token_id")]
    [InlineData("{\"decoder_start_token_id\": -1}", "decoder_start_token_id")]
    [InlineData("{\"bos_token_id\": 100000}", "bos_token_id")]
    [InlineData("{\"eos_token_id\": -2}", "eos_token_id")]
    [InlineData("{\"forced_eos_token_id\": 96103}", "forced_eos_token_id")]
    [InlineData("{\"forced_bos_token_id\": -5}", "forced_bos_token_id")]
    [InlineData("{\"max_length\": 0}", "max_length")]
    [InlineData("{\"min_length\": -1}", "min_length")]
    [InlineData("{\"num_beams\": 0}", "num_beams")]
    [InlineData("{\"num_labels\": 0}", "num_labels")]
    [InlineData("{\"problem_type\": \"ranking\"}", "problem_type")]
    [InlineData("{\"id2label\": {\"a\": \"x\"}}", "id2label")]
    [InlineData("{\"is_decoder\": \"yes\"}", "is_decoder")]
    [InlineData("{\"activation_function\": \"swiglu\"}", "swiglu")]
    [InlineData("{\"attention_type\": \"sparse\"}", "attention_type")]
    [InlineData("{\"d_model\": \"large\"}", "d_model")]
    [InlineData("{\"use_bias\": 1}", "use_bias")]
    [InlineData("{\"dropout\": \"0.1\"}", "dropout")]
    [InlineData("{\"vocab_size\": 1e12}", "vocab_size")]
    [InlineData("{\"vocab_size\": 2.5}", "vocab_size")]
    [InlineData("{\"architectures\": \"BigBirdPegasusModel\"}", "architectures")]
    [InlineData("{\"model_type\": \"big_bird\"}", "model_type")]
    [InlineData("{\"vocab_size\": 1000000000, \"d_model\": 1024}", "model.shared.weight")]
    public void InvalidFieldIsRefusedByName(string json, string field)
    {
        var e = Assert.Throws<BigBirdConfigException>(() => BigBirdPegasusConfig.FromJson(json, "test/config.json"));
        Assert.Contains(field, e.Message);
        Assert.StartsWith("test/config.json: ", e.Message);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1, 2]")]
    public void NotAJsonObjectIsRefused(string json)
    {
        var e = Assert.Throws<BigBirdConfigException>(() => BigBirdPegasusConfig.FromJson(json, "x.json"));
        Assert.StartsWith("x.json: ", e.Message);
    }

    [Fact]
    public void MissingFileIsRefusedWithItsPath()
    {
        string path = Path.Combine(Path.GetTempPath(), "no-such-folder-" + Guid.NewGuid().ToString("N"), "config.json");
        var e = Assert.Throws<BigBirdConfigException>(() => BigBirdPegasusConfig.FromFile(path));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void HfAliasesOfAttributeMapAreRead()
    {
        // attribute_map: hidden_size → d_model, num_attention_heads → encoder_attention_heads, attention_probs_dropout_prob → attention_dropout
        var c = BigBirdPegasusConfig.FromJson("{\"hidden_size\": 64, \"num_attention_heads\": 8, \"attention_probs_dropout_prob\": 0.2}");
        Assert.Equal((64, 8, 0.2), (c.DModel, c.EncoderAttentionHeads, c.AttentionDropout));
    }
}
