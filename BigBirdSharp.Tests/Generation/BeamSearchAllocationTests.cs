using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Modeling.Pegasus;
using BigBirdSharp.RandomAttention;
using BigBirdSharp.Tests.Modeling;

namespace BigBirdSharp.Tests.Generation;

/// <summary>
/// A beam-search step allocates nothing: the step's decoder work space, the log-softmax, the processors, the top-k, the
/// hypotheses' slots and the cache's reordering are all prepared once per generation. So 12 more steps allocate no more
/// than what is sized by the generation's length (the cache and its reorder spare, the sequences, the hypotheses' slots,
/// the output). Counted on every thread; runs alone.
/// </summary>
[Collection(nameof(AllocationCollection))]
public sealed class BeamSearchAllocationTests
{
    [Theory]
    [InlineData("cg_bs", 2, 150, 3)]
    [InlineData("cg_full", 1, 60, 4)]
    public void MoreBeamStepsAllocateOnlyTheLongerBuffers(string modelName, int batch, int seq, int beams)
    {
        using var model = BigBirdPegasusForConditionalGeneration.FromPretrained(Path.Combine(RepoPaths.Fixtures, "pegasus", "models", modelName));
        var random = new Random(seq);
        var inputs = new BigBirdPegasusInputs(batch, seq)
        {
            InputIds = Enumerable.Range(0, batch * seq).Select(_ => random.Next(3, model.Config.VocabSize)).ToArray(),
        };
        var options = new BigBirdForwardOptions { RandomAttention = RandomAttentionSemantics.Seeded };
        long Least(int steps)
        {
            // no EOS, so every generation runs all its steps; processors on, so they are counted too
            var generation = new GenerationConfig
            {
                MaxNewTokens = steps, NumBeams = beams, NumReturnSequences = 2, NoRepeatNgramSize = 2, RepetitionPenalty = 1.2f, MinLength = 3,
            };
            for (int i = 0; i < 3; i++) model.Generate(inputs, generation, options);
            long least = long.MaxValue;
            for (int i = 0; i < 5; i++)
            {
                long before = GC.GetTotalAllocatedBytes(precise: true);
                model.Generate(inputs, generation, options);
                least = Math.Min(least, GC.GetTotalAllocatedBytes(precise: true) - before);
            }
            return least;
        }
        long few = Least(4), many = Least(16);
        int rows = batch * beams, d = model.Config.DModel;
        // 12 more positions of: the cache (keys and values of every decoder layer) and its one reorder spare, per row of
        // d_model floats; the sequences and their reordered copy, the self-attention mask, the hypotheses' slots
        // (beams + 1 per input) and the output, per row of ints/floats; 256 bytes of slack for array headers
        long perPosition = (2L * model.Config.DecoderLayers + 1) * rows * d * sizeof(float)
                           + (3L * rows + (beams + 1) * batch + 2 * batch) * sizeof(int);
        long longer = 12 * perPosition + 256;
        Assert.True(many - few <= longer, $"12 more beam steps allocated {many - few} more bytes ({few} for 4 steps, {many} for 16; bound {longer})");
    }

    // the same for the decoder-only BigBirdPegasusForCausalLM, whose steps also copy the prompt's mask to the step's length
    [Theory]
    [InlineData("clm", 2, 9, 3)]
    [InlineData("clm_untied", 1, 5, 4)]
    public void MoreCausalLMBeamStepsAllocateOnlyTheLongerBuffers(string modelName, int batch, int seq, int beams)
    {
        using var model = BigBirdPegasusForCausalLM.FromPretrained(Path.Combine(RepoPaths.Fixtures, "pegasus", "models", modelName));
        var random = new Random(seq);
        var mask = Enumerable.Range(0, batch * seq).Select(i => i / seq == 1 && i % seq < 3 ? 0 : 1).ToArray(); // row 1 left-padded
        var prompt = new BigBirdPegasusCausalLMInputs(batch, seq)
        {
            InputIds = Enumerable.Range(0, batch * seq).Select(_ => random.Next(3, model.Config.VocabSize)).ToArray(), AttentionMask = mask,
        };
        long Least(int steps)
        {
            var generation = new GenerationConfig
            {
                MaxNewTokens = steps, NumBeams = beams, NumReturnSequences = 2, NoRepeatNgramSize = 2, RepetitionPenalty = 1.2f, MinLength = 3,
                PadTokenId = 0,
            };
            for (int i = 0; i < 3; i++) model.Generate(prompt, generation);
            long least = long.MaxValue;
            for (int i = 0; i < 5; i++)
            {
                long before = GC.GetTotalAllocatedBytes(precise: true);
                model.Generate(prompt, generation);
                least = Math.Min(least, GC.GetTotalAllocatedBytes(precise: true) - before);
            }
            return least;
        }
        long few = Least(4), many = Least(16);
        int rows = batch * beams, d = model.Config.DModel;
        // as above, plus the prompt's mask over the maximum length three times (host, device, the step's copy)
        long perPosition = (2L * model.Config.DecoderLayers + 1) * rows * d * sizeof(float)
                           + (6L * rows + (beams + 1) * batch + 2 * batch) * sizeof(int);
        long longer = 12 * perPosition + 256;
        Assert.True(many - few <= longer, $"12 more beam steps allocated {many - few} more bytes ({few} for 4 steps, {many} for 16; bound {longer})");
    }
}
