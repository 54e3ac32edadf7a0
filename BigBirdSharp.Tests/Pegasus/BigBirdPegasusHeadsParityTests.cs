using BigBirdSharp.Modeling.Pegasus;

namespace BigBirdSharp.Tests.Pegasus;

/// <summary>BigBirdPegasusForSequenceClassification, BigBirdPegasusForQuestionAnswering and BigBirdPegasusForCausalLM
/// against transformers 4.27.1 (fixtures/pegasus): logits, encoder states and losses within
/// |a − b| ≤ 1e-4 + 1e-4·|b|.</summary>
public sealed class BigBirdPegasusHeadsParityTests
{
    public static TheoryData<string> SequenceClassificationCases() =>
        new(PegasusFixture.Names(c => c.Architecture == "BigBirdPegasusForSequenceClassification"));

    public static TheoryData<string> QuestionAnsweringCases() =>
        new(PegasusFixture.Names(c => c.Architecture == "BigBirdPegasusForQuestionAnswering"));

    public static TheoryData<string> CausalLMCases() =>
        new(PegasusFixture.Names(c => c.Architecture == "BigBirdPegasusForCausalLM"));

    private static void AssertLoss(float? loss, PegasusFixture c)
    {
        if (c.Has("loss"))
        {
            Assert.NotNull(loss);
            Tolerance.AssertAllClose([loss!.Value], c.Expected("loss"), $"{c.Name}/loss");
        }
        else
        {
            Assert.Null(loss);
        }
    }

    [Theory]
    [MemberData(nameof(SequenceClassificationCases))]
    public void SequenceClassificationMatchesPyTorch(string name)
    {
        var c = PegasusFixture.Load(name);
        using var model = BigBirdPegasusForSequenceClassification.FromPretrained(c.ModelPath);
        var output = model.Forward(c.Inputs(), c.Options);
        Assert.Equal([c.Batch, model.Config.NumLabels], output.Logits.Shape);
        Tolerance.AssertAllClose(output.EncoderLastHiddenState.Data, c.Expected("encoder_last_hidden_state"), $"{name}/encoder_last_hidden_state");
        Tolerance.AssertAllClose(output.Logits.Data, c.Expected("logits"), $"{name}/logits");
        AssertLoss(output.Loss, c);
    }

    [Theory]
    [MemberData(nameof(QuestionAnsweringCases))]
    public void QuestionAnsweringMatchesPyTorch(string name)
    {
        var c = PegasusFixture.Load(name);
        using var model = BigBirdPegasusForQuestionAnswering.FromPretrained(c.ModelPath);
        var output = model.Forward(c.Inputs(), c.Options);
        int decoderSeq = c.DecoderInputIds is null ? c.Seq : c.DecoderSeq;
        Assert.Equal([c.Batch, decoderSeq], output.StartLogits.Shape);
        Tolerance.AssertAllClose(output.EncoderLastHiddenState.Data, c.Expected("encoder_last_hidden_state"), $"{name}/encoder_last_hidden_state");
        Tolerance.AssertAllClose(output.StartLogits.Data, c.Expected("start_logits"), $"{name}/start_logits");
        Tolerance.AssertAllClose(output.EndLogits.Data, c.Expected("end_logits"), $"{name}/end_logits");
        AssertLoss(output.Loss, c);
    }

    [Theory]
    [MemberData(nameof(CausalLMCases))]
    public void CausalLMMatchesPyTorch(string name)
    {
        var c = PegasusFixture.Load(name);
        using var model = BigBirdPegasusForCausalLM.FromPretrained(c.ModelPath);
        int vocab = model.Config.VocabSize;
        if (c.PastSplit is int k)
        {
            // HF: model(ids[:, :k], use_cache=True), then model(ids[:, k:], past_key_values=...) with the whole mask
            var cache = new BigBirdPegasusKeyValueCache(model.Config, c.Batch, c.Seq, model.Backend);
            var first = model.Forward(c.CausalLMInputs(0, k, cache));
            Assert.Equal(k, cache.Length);
            Assert.Equal(c.EncoderSeq, cache.EncoderLength);
            Tolerance.AssertAllClose(first.Logits.Data, c.Expected("logits_first"), $"{name}/logits_first");
            var second = model.Forward(c.CausalLMInputs(k, c.Seq, cache));
            Assert.Same(cache, second.PastKeyValues);
            Assert.Equal(c.Seq, cache.Length);
            Assert.Equal([c.Batch, c.Seq - k, vocab], second.Logits.Shape);
            Tolerance.AssertAllClose(second.Logits.Data, c.Expected("logits"), $"{name}/logits");
            return;
        }
        var output = model.Forward(c.CausalLMInputs(0, c.Seq));
        Assert.Equal([c.Batch, c.Seq, vocab], output.Logits.Shape);
        Tolerance.AssertAllClose(output.Logits.Data, c.Expected("logits"), $"{name}/logits");
        AssertLoss(output.Loss, c);
    }

    [Fact]
    public void CausalLMStepLogitsAreTheLastPositionOfPyTorchsCachedCall()
    {
        // the generation helper's entry: new tokens of every row against a cache → logits of the last position
        var c = PegasusFixture.Load("clm_cached");
        using var model = BigBirdPegasusForCausalLM.FromPretrained(c.ModelPath);
        int k = c.PastSplit!.Value, vocab = model.Config.VocabSize, rest = c.Seq - k;
        var cache = new BigBirdPegasusKeyValueCache(model.Config, c.Batch, c.Seq, model.Backend);
        var first = model.LastPositionLogits(c.CausalLMInputs(0, k, cache));
        var second = model.LastPositionLogits(c.CausalLMInputs(k, c.Seq, cache));
        var expectedFirst = c.Expected("logits_first");
        var expected = c.Expected("logits");
        for (int b = 0; b < c.Batch; b++)
        {
            Tolerance.AssertAllClose(first.AsSpan(b * vocab, vocab), expectedFirst.AsSpan(((b * k) + k - 1) * vocab, vocab), $"row {b} after {k}");
            Tolerance.AssertAllClose(second.AsSpan(b * vocab, vocab), expected.AsSpan(((b * rest) + rest - 1) * vocab, vocab), $"row {b} after {c.Seq}");
        }
    }
}
