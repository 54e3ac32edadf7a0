using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Pipelines;

namespace BigBirdSharp.Tests.Pipelines;

/// <summary>MultipleChoicePipeline against BigBirdForMultipleChoice run as HF's docs run it (fixtures/pipelines), and its errors.</summary>
public sealed class MultipleChoicePipelineTests : IDisposable
{
    private readonly BigBirdPreTrainedModel model = BigBirdPreTrainedModel.Load(PipelineFixtures.Model("multichoice"));
    private MultipleChoicePipeline Pipeline => new(model, PipelineFixtures.Tokenizer);

    public void Dispose() => model.Dispose();

    public static TheoryData<int> CaseIndices() => [.. Enumerable.Range(0, PipelineFixtures.Cases("multiple_choice").GetArrayLength())];

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void Scores_match_HF(int index)
    {
        var c = PipelineFixtures.Cases("multiple_choice")[index];
        string prompt = c.GetProperty("prompt").GetString()!;
        var choices = c.GetProperty("choices").EnumerateArray().Select(x => x.GetString()!).ToArray();
        var result = Pipeline.Run(prompt, choices, options: PipelineFixtures.Options(c));

        // the rows HF's tokenizer(prompts, choices, padding=True) gives, before padding
        var rows = c.GetProperty("input_ids").EnumerateArray().Select(r => PipelineFixtures.Ints(r)).ToArray();
        Assert.Equal(choices.Length, result.Inputs.Count);
        for (int i = 0; i < rows.Length; i++)
        {
            var ids = result.Inputs[i].Encoding.InputIds;
            Assert.Equal(rows[i][..ids.Length], ids);
            Assert.All(rows[i][ids.Length..], id => Assert.Equal(PipelineFixtures.Tokenizer.PadTokenId, id));
        }
        var logits = PipelineFixtures.Floats(c.GetProperty("logits"));
        var scores = PipelineFixtures.Floats(c.GetProperty("scores"));
        var byIndex = result.Choices.OrderBy(x => x.Index).ToArray();
        Assert.Equal(choices, byIndex.Select(x => x.Choice));
        Tolerance.AssertAllClose(byIndex.Select(x => x.Logit).ToArray(), logits, $"case {index} logits");
        Tolerance.AssertAllClose(byIndex.Select(x => x.Score).ToArray(), scores, $"case {index} scores");
        // best first, as the reference ranks them
        var order = Enumerable.Range(0, scores.Length).OrderByDescending(i => scores[i]).ThenBy(i => i).ToArray();
        Assert.Equal(order, result.Choices.Select(x => x.Index));
    }

    [Fact]
    public void The_fixtures_run_block_sparse_and_pad()
    {
        var all = PipelineFixtures.Cases("multiple_choice").EnumerateArray().ToArray();
        // a block_sparse case long enough not to fall back (36 tokens), and rows of different lengths (padding)
        Assert.Equal(2, all.Count(c => c.GetProperty("attention_ran").GetString() == "block_sparse"));
        Assert.Contains(all, c => c.GetProperty("input_ids").EnumerateArray().Any(r => r.EnumerateArray().Last().GetInt32() == 0));
    }

    [Fact]
    public void Each_choice_scores_the_same_whatever_its_place()
    {
        var c = PipelineFixtures.Cases("multiple_choice")[1];
        string prompt = c.GetProperty("prompt").GetString()!;
        var choices = c.GetProperty("choices").EnumerateArray().Select(x => x.GetString()!).ToArray();
        var options = new BigBirdForwardOptions { AttentionType = AttentionType.OriginalFull };
        var forward = Pipeline.Run(prompt, choices, options: options).Choices.ToDictionary(x => x.Choice);
        var backward = Pipeline.Run(prompt, choices.Reverse().ToArray(), options: options).Choices.ToDictionary(x => x.Choice);
        foreach (var choice in choices)
        {
            Assert.True(Tolerance.Close(backward[choice].Logit, forward[choice].Logit), choice);
            Assert.Equal(choices.Length - 1 - forward[choice].Index, backward[choice].Index);
        }
    }

    [Fact]
    public void Zero_choices_are_refused() =>
        Assert.Contains("no choices", Assert.Throws<BigBirdInputException>(() => Pipeline.Run("Who led Israel?", [])).Message);

    [Fact]
    public void An_empty_prompt_or_choice_is_refused()
    {
        Assert.Contains("prompt is empty", Assert.Throws<BigBirdInputException>(() => Pipeline.Run(" ", ["Moses"])).Message);
        Assert.Contains("choice 1", Assert.Throws<BigBirdInputException>(() => Pipeline.Run("Who led Israel?", ["Moses", ""])).Message);
        Assert.Throws<ArgumentNullException>(() => Pipeline.Run("Who led Israel?", ["Moses", null!]));
    }

    [Fact]
    public void Null_arguments_are_refused()
    {
        Assert.Throws<ArgumentNullException>(() => new MultipleChoicePipeline(null!, PipelineFixtures.Tokenizer));
        Assert.Throws<ArgumentNullException>(() => new MultipleChoicePipeline(model, null!));
        Assert.Throws<ArgumentNullException>(() => Pipeline.Run(null!, ["Moses"]));
        Assert.Throws<ArgumentNullException>(() => Pipeline.Run("Who?", null!));
    }

    [Fact]
    public void A_disposed_model_is_refused()
    {
        var head = BigBirdPreTrainedModel.Load(PipelineFixtures.Model("multichoice"));
        var pipeline = new MultipleChoicePipeline(head, PipelineFixtures.Tokenizer);
        head.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pipeline.Run("Who?", ["Moses", "Aaron"]));
    }

    [Fact]
    public void Another_head_is_refused()
    {
        using var tok = BigBirdPreTrainedModel.Load(PipelineFixtures.Model("tokcls"));
        Assert.Contains("BigBirdForTokenClassification",
                        Assert.Throws<ArgumentException>(() => new MultipleChoicePipeline(tok, PipelineFixtures.Tokenizer)).Message);
    }

    [Fact]
    public void A_pair_too_long_is_refused_when_truncation_is_off_and_cut_otherwise()
    {
        string prompt = string.Join(" ", Enumerable.Repeat("Abraham begat Isaac; and Isaac begat Jacob.", 40));
        var e = Assert.Throws<BigBirdInputException>(() => Pipeline.Run(prompt, ["Moses", "Aaron"], OverlongInput.Reject));
        Assert.Contains("choice 0", e.Message);
        var result = Pipeline.Run(prompt, ["Moses", "Aaron"]);
        Assert.All(result.Inputs, input => Assert.True(input.Truncated && input.Length == 256));
    }

    [Fact]
    public void A_cancelled_token_stops_the_run() =>
        Assert.ThrowsAny<OperationCanceledException>(() => Pipeline.Run("Who?", ["Moses", "Aaron"], cancellationToken: PipelineFixtures.Cancelled()));
}
