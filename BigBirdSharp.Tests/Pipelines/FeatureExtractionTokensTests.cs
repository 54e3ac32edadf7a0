using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Pipelines;

namespace BigBirdSharp.Tests.Pipelines;

/// <summary>FeatureExtractionPipeline.RunTokens (HF's feature-extraction output) against HF (fixtures/pipelines), and its errors.</summary>
public sealed class FeatureExtractionTokensTests : IDisposable
{
    // the encoder of the token-classification checkpoint, as HF's pipeline ran on model.bert
    private readonly BigBirdPreTrainedModel head = BigBirdPreTrainedModel.Load(PipelineFixtures.Model("tokcls"));
    private FeatureExtractionPipeline Pipeline => new(head.Bert, PipelineFixtures.Tokenizer);

    public void Dispose() => head.Dispose();

    public static TheoryData<int> CaseIndices() => [.. Enumerable.Range(0, PipelineFixtures.Cases("feature_extraction").GetArrayLength())];

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void Every_token_matches_HF(int index)
    {
        var c = PipelineFixtures.Cases("feature_extraction")[index];
        var result = Pipeline.RunTokens(c.GetProperty("text").GetString()!, options: PipelineFixtures.Options(c));
        Assert.Equal(PipelineFixtures.Ints(c.GetProperty("input_ids")), result.Input.Encoding.InputIds);
        Assert.Equal(result.Input.Length, result.SequenceLength);
        Assert.Equal(16, result.HiddenSize);
        Tolerance.AssertAllClose(result.Features, PipelineFixtures.Floats(c.GetProperty("features")), $"case {index} features");
    }

    [Fact]
    public void The_pooled_vector_is_the_mean_of_the_token_features()
    {
        const string text = "And the LORD spake unto Moses in the wilderness of Sinai.";
        var tokens = Pipeline.RunTokens(text);
        var pooled = Pipeline.Run(text, EmbeddingPooling.Mean).Vector;
        var mean = new float[tokens.HiddenSize];
        for (int h = 0; h < mean.Length; h++)
            mean[h] = (float)Enumerable.Range(0, tokens.SequenceLength).Average(t => tokens.Token(t)[h]);
        Tolerance.AssertAllClose(pooled, mean, "mean pooling", 1e-6, 1e-6);
        Assert.Equal(tokens.Token(0).ToArray(), Pipeline.Run(text, EmbeddingPooling.Cls).Vector);
    }

    [Fact]
    public void Errors_are_typed()
    {
        Assert.Throws<BigBirdInputException>(() => Pipeline.RunTokens(" "));
        string tooLong = string.Join(" ", Enumerable.Repeat("Abraham begat Isaac; and Isaac begat Jacob.", 40));
        Assert.Contains("max_position_embeddings", Assert.Throws<BigBirdInputException>(() => Pipeline.RunTokens(tooLong, OverlongInput.Reject)).Message);
        Assert.True(Pipeline.RunTokens(tooLong).Input.Truncated);
        Assert.ThrowsAny<OperationCanceledException>(() => Pipeline.RunTokens("Moses", cancellationToken: PipelineFixtures.Cancelled()));
        var result = Pipeline.RunTokens("Moses");
        Assert.Throws<ArgumentOutOfRangeException>(() => result.Token(result.SequenceLength).Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => result.Token(-1).Length);
        Assert.Throws<ArgumentNullException>(() => Pipeline.RunTokens(null!));
    }

    [Fact]
    public void A_disposed_model_is_refused()
    {
        var other = BigBirdPreTrainedModel.Load(PipelineFixtures.Model("tokcls"));
        var pipeline = new FeatureExtractionPipeline(other.Bert, PipelineFixtures.Tokenizer);
        other.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pipeline.RunTokens("Moses"));
    }
}
