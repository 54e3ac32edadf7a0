using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Modeling.Pegasus;

namespace BigBirdSharp.Tests.Pegasus;

/// <summary>BigBirdPegasus against transformers 4.27.1 (fixtures/pegasus): encoder and decoder states, logits, loss and
/// greedy ids, within |a − b| ≤ 1e-4 + 1e-4·|b| and token for token.</summary>
public sealed class BigBirdPegasusParityTests
{
    public static TheoryData<string> ConditionalGenerationCases() =>
        new(PegasusFixture.Names(c => c.Generate is null && c.Architecture == "BigBirdPegasusForConditionalGeneration"));

    public static TheoryData<string> ModelCases() => new(PegasusFixture.Names(c => c.Architecture == "BigBirdPegasusModel"));

    public static TheoryData<string> GenerateCases() => new(PegasusFixture.Names(c => c.Generate is not null));

    [Theory]
    [MemberData(nameof(ConditionalGenerationCases))]
    public void ConditionalGenerationMatchesPyTorch(string name)
    {
        var c = PegasusFixture.Load(name);
        using var model = BigBirdPegasusForConditionalGeneration.FromPretrained(c.ModelPath);
        var output = model.Forward(c.Inputs(), c.Options);
        Tolerance.AssertAllClose(output.EncoderLastHiddenState.Data, c.Expected("encoder_last_hidden_state"), $"{name}/encoder_last_hidden_state");
        Tolerance.AssertAllClose(output.DecoderLastHiddenState.Data, c.Expected("decoder_last_hidden_state"), $"{name}/decoder_last_hidden_state");
        Tolerance.AssertAllClose(output.Logits.Data, c.Expected("logits"), $"{name}/logits");
        Assert.Equal([c.Batch, c.DecoderSeq, model.Config.VocabSize], output.Logits.Shape);
        if (c.Has("loss"))
        {
            Assert.NotNull(output.Loss);
            Tolerance.AssertAllClose([output.Loss!.Value], c.Expected("loss"), $"{name}/loss");
        }
        else
        {
            Assert.Null(output.Loss);
        }
    }

    [Theory]
    [MemberData(nameof(ModelCases))]
    public void BareModelMatchesPyTorch(string name)
    {
        var c = PegasusFixture.Load(name);
        using var model = BigBirdPegasusModel.FromPretrained(c.ModelPath);
        var output = model.Forward(c.Inputs(), c.Options);
        Assert.Equal(AttentionType.BlockSparse, output.EncoderAttentionType);
        Tolerance.AssertAllClose(output.EncoderLastHiddenState.Data, c.Expected("encoder_last_hidden_state"), $"{name}/encoder_last_hidden_state");
        Tolerance.AssertAllClose(output.LastHiddenState.Data, c.Expected("last_hidden_state"), $"{name}/last_hidden_state");
    }

    [Theory]
    [MemberData(nameof(GenerateCases))]
    public void GreedyIdsMatchPyTorch(string name)
    {
        var c = PegasusFixture.Load(name);
        var g = c.Generate!.Value;
        Assert.Equal(1, g.GetProperty("num_beams").GetInt32());
        Assert.False(g.GetProperty("do_sample").GetBoolean());
        using var model = BigBirdPegasusForConditionalGeneration.FromPretrained(c.ModelPath);
        Assert.Equal(g.GetProperty("decoder_start_token_id").GetInt32(), model.Config.DecoderStartTokenId);
        var eos = g.GetProperty("eos_token_id");
        var generation = new GenerationConfig
        {
            MaxNewTokens = g.GetProperty("max_new_tokens").GetInt32(),
            EosTokenId = eos.ValueKind == System.Text.Json.JsonValueKind.Null ? null : eos.GetInt32(),
            PadTokenId = g.GetProperty("pad_token_id").GetInt32(),
        };
        var inputs = new BigBirdPegasusInputs(c.Batch, c.Seq) { InputIds = c.InputIds, AttentionMask = c.AttentionMask };
        var ids = model.Generate(inputs, generation, c.Options);
        var expected = c.ExpectedSequences(out var shape);
        Assert.Equal(shape[0] * shape[1], ids.Length);
        Assert.Equal(expected.Select(v => (int)v).ToArray(), ids);
    }
}
