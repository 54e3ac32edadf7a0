using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Modeling.Pegasus;

namespace BigBirdSharp.Tests.Generation;

/// <summary>
/// generate() against transformers 4.27.1 on fixtures/generation: greedy and beam search with HF's logits processors on
/// BigBirdPegasus (block_sparse encoders of a few hundred tokens, padded batches), on BigBirdPegasusForCausalLM and on
/// BigBirdForCausalLM (left-padded prompts). Sequences must be identical; beam search's sequences_scores within 1e-4 + 1e-4·|b|.
/// </summary>
public sealed class GenerationParityTests
{
    public static TheoryData<string> Cases() => new(GenerationFixture.Names());

    [Theory]
    [MemberData(nameof(Cases))]
    public void SequencesAndScoresMatchPyTorch(string name)
    {
        var c = GenerationFixture.Load(name);
        using var model = c.LoadModel();
        var output = c.Run(model);
        var expected = c.ExpectedSequences(out var shape);
        Assert.Equal(shape[0], output.Rows);
        Assert.Equal(shape[1], output.Length);
        Assert.Equal(expected, output.Sequences);
        var scores = c.ExpectedScores();
        if (c.Settings.NumBeams > 1)
        {
            Assert.NotNull(scores);
            Tolerance.AssertAllClose(output.SequencesScores, scores, $"{name}: sequences_scores");
        }
        else
        {
            Assert.Null(scores);
            Assert.Null(output.SequencesScores);
        }
    }

    // the public Generate returns the same sequences as the internal output
    [Theory]
    [MemberData(nameof(Cases))]
    public void PublicGenerateReturnsTheSequences(string name)
    {
        var c = GenerationFixture.Load(name);
        using var model = c.LoadModel();
        int[] ids = model switch
        {
            BigBirdPegasusForConditionalGeneration p => p.Generate(
                new BigBirdPegasusInputs(c.Batch, c.Seq) { InputIds = c.InputIds, AttentionMask = c.AttentionMask }, c.Settings, c.Options),
            BigBirdPegasusForCausalLM q => q.Generate(
                new BigBirdPegasusCausalLMInputs(c.Batch, c.Seq) { InputIds = c.InputIds, AttentionMask = c.AttentionMask }, c.Settings),
            BigBirdForCausalLM l => l.Generate(
                new BigBirdInputs(c.Batch, c.Seq) { InputIds = c.InputIds, AttentionMask = c.AttentionMask }, c.Settings, c.Options),
            _ => throw new InvalidOperationException(),
        };
        Assert.Equal(c.ExpectedSequences(out _), ids);
    }
}
