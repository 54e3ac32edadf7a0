using BigBirdSharp.Configuration;
using BigBirdSharp.Kernels;

namespace BigBirdSharp.Tests.Configuration;

public sealed class BigBirdConfigTests
{
    [Fact]
    public void Absent_keys_take_huggingface_defaults()
    {
        var c = BigBirdConfig.FromJson("{}");
        Assert.Equal(50358, c.VocabSize);
        Assert.Equal(768, c.HiddenSize);
        Assert.Equal(12, c.NumHiddenLayers);
        Assert.Equal(12, c.NumAttentionHeads);
        Assert.Equal(3072, c.IntermediateSize);
        Assert.Equal(ActivationKind.GeluNew, c.HiddenActKind);
        Assert.Equal(4096, c.MaxPositionEmbeddings);
        Assert.Equal(2, c.TypeVocabSize);
        Assert.Equal(1e-12, c.LayerNormEps);
        Assert.Equal(0, c.PadTokenId);
        Assert.Equal(66, c.SepTokenId);
        Assert.Equal(AttentionType.BlockSparse, c.AttentionType);
        Assert.True(c.UseBias);
        Assert.False(c.RescaleEmbeddings);
        Assert.Equal(64, c.BlockSize);
        Assert.Equal(3, c.NumRandomBlocks);
        Assert.Equal(704, c.MaxTokensToAttend);
    }

    [Fact]
    public void Reads_every_fixture_config()
    {
        foreach (var dir in Directory.GetDirectories(RepoPaths.Models))
        {
            var c = BigBirdConfig.FromFile(Path.Combine(dir, "config.json"));
            Assert.Equal(0, c.HiddenSize % c.NumAttentionHeads);
        }
    }

    [Fact]
    public void Reads_id2label_and_architectures()
    {
        var c = BigBirdConfig.FromJson("""{"architectures": ["BigBirdForMaskedLM"], "id2label": {"0": "neg", "1": "pos"}, "attention_type": "original_full"}""");
        Assert.Equal("BigBirdForMaskedLM", c.Architectures[0]);
        Assert.Equal("pos", c.Id2Label[1]);
        Assert.Equal(AttentionType.OriginalFull, c.AttentionType);
    }

    [Theory]
    [InlineData("""{"hidden_size": 30, "num_attention_heads": 4}""", "not a multiple of num_attention_heads")]
    [InlineData("""{"attention_type": "sliding"}""", "attention_type")]
    [InlineData("""{"hidden_act": "gelu_fancy"}""", "unknown hidden_act 'gelu_fancy'")]
    [InlineData("""{"hidden_size": 0}""", "hidden_size must be positive")]
    [InlineData("""{"num_hidden_layers": -1}""", "num_hidden_layers must be positive")]
    [InlineData("""{"block_size": 0}""", "block_size must be positive")]
    [InlineData("""{"vocab_size": 0}""", "vocab_size must be positive")]
    [InlineData("""{"intermediate_size": -5}""", "intermediate_size must be positive")]
    [InlineData("""{"max_position_embeddings": 0}""", "max_position_embeddings must be positive")]
    [InlineData("""{"num_random_blocks": -1}""", "num_random_blocks must be non-negative")]
    [InlineData("""{"layer_norm_eps": 0}""", "layer_norm_eps")]
    [InlineData("""{"pad_token_id": 99999}""", "pad_token_id")]
    [InlineData("""{"hidden_size": "big"}""", "hidden_size must be an integer")]
    [InlineData("""{"use_bias": 1}""", "use_bias must be true or false")]
    [InlineData("""{"add_cross_attention": true}""", "is_decoder")]
    [InlineData("""[1, 2]""", "JSON object")]
    [InlineData("""{"hidden_size": """, "not valid JSON")]
    public void Invalid_values_are_typed_errors_that_name_the_field(string json, string fragment)
    {
        var e = Assert.Throws<BigBirdConfigException>(() => BigBirdConfig.FromJson(json, "my/config.json"));
        Assert.Contains(fragment, e.Message);
        Assert.StartsWith("my/config.json", e.Message);
    }

    [Fact]
    public void Missing_file_says_what_is_expected()
    {
        var e = Assert.Throws<BigBirdConfigException>(() => BigBirdConfig.FromFile(Path.Combine(Path.GetTempPath(), "no-such-dir", "config.json")));
        Assert.Contains("config.json not found", e.Message);
    }

    [Theory]
    [InlineData("gelu", ActivationKind.Gelu)]
    [InlineData("gelu_new", ActivationKind.GeluNew)]
    [InlineData("gelu_fast", ActivationKind.GeluFast)]
    [InlineData("gelu_pytorch_tanh", ActivationKind.GeluPytorchTanh)]
    [InlineData("gelu_python", ActivationKind.GeluPython)]
    [InlineData("gelu_10", ActivationKind.Gelu10)]
    [InlineData("quick_gelu", ActivationKind.QuickGelu)]
    [InlineData("relu", ActivationKind.Relu)]
    [InlineData("relu6", ActivationKind.Relu6)]
    [InlineData("silu", ActivationKind.Silu)]
    [InlineData("swish", ActivationKind.Silu)]
    [InlineData("mish", ActivationKind.Mish)]
    [InlineData("tanh", ActivationKind.Tanh)]
    [InlineData("sigmoid", ActivationKind.Sigmoid)]
    [InlineData("linear", ActivationKind.Linear)]
    public void Every_act2fn_name_maps(string name, ActivationKind kind) => Assert.Equal(kind, BigBirdConfig.ParseActivation(name));
}
