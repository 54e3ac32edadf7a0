using BigBirdSharp.Modeling.Heads;

namespace BigBirdSharp.Tests.Modeling.Heads;

/// <summary>HF's repetition-penalty and no-repeat-n-gram logits processors on hand-worked scores.</summary>
public sealed class GenerationProcessorTests
{
    [Fact]
    public void Repetition_penalty_divides_positive_and_multiplies_negative_scores_of_seen_tokens_once()
    {
        float[] scores = [2f, -2f, 3f, -1f, 0.5f];
        BigBirdForCausalLM.ApplyRepetitionPenalty(scores, [0, 1, 1, 0, 4], 2f); // 0 and 1 appear twice: penalised once
        Assert.Equal([1f, -4f, 3f, -1f, 0.25f], scores);
    }

    [Theory]
    [InlineData(new[] { 5, 6, 7, 5, 6 }, 3, new[] { 7 })]       // "5 6" was followed by 7
    [InlineData(new[] { 5, 6, 5, 6, 5 }, 2, new[] { 6 })]       // after 5 came 6, twice
    [InlineData(new[] { 5, 6, 7 }, 1, new[] { 5, 6, 7 })]       // n = 1: every token seen
    [InlineData(new[] { 5, 6 }, 4, new int[0])]                 // shorter than n − 1: nothing banned
    [InlineData(new[] { 5, 6, 7, 8 }, 2, new int[0])]           // 8 never came before
    [InlineData(new[] { 1, 2, 3, 1, 2, 4, 1, 2 }, 3, new[] { 3, 4 })]
    public void No_repeat_ngram_bans_exactly_the_tokens_that_would_repeat_an_ngram(int[] sequence, int n, int[] banned)
    {
        var scores = new float[10];
        BigBirdForCausalLM.BanRepeatedNgrams(scores, sequence, n);
        Assert.Equal(banned, Enumerable.Range(0, 10).Where(i => float.IsNegativeInfinity(scores[i])));
    }
}
