using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Modeling.Pegasus;
using BigBirdSharp.RandomAttention;
using BigBirdSharp.Tests.Modeling;

namespace BigBirdSharp.Tests.Pegasus;

/// <summary>
/// A cached generation step allocates nothing: every step reuses the generation's work space, masks and id buffers, so
/// generating more tokens allocates no more than the larger cache and the longer output. Counted on every thread; runs alone.
/// </summary>
[Collection(nameof(AllocationCollection))]
public sealed class BigBirdPegasusAllocationTests
{
    [Theory]
    [InlineData("cg_bs", 2, 150)]
    [InlineData("cg_full", 1, 60)]
    public void MoreCachedStepsAllocateOnlyTheLongerOutput(string modelName, int batch, int seq)
    {
        using var model = BigBirdPegasusForConditionalGeneration.FromPretrained(PegasusFixture.ModelDir(modelName));
        var random = new Random(seq);
        var inputs = new BigBirdPegasusInputs(batch, seq)
        {
            InputIds = Enumerable.Range(0, batch * seq).Select(_ => random.Next(3, model.Config.VocabSize)).ToArray(),
        };
        var options = new BigBirdForwardOptions { RandomAttention = RandomAttentionSemantics.Seeded };
        long Least(int steps)
        {
            var generation = new GenerationConfig { MaxNewTokens = steps };
            // the first call of a shape fills the pools; the next two let tiered compilation settle, since the runtime
            // itself may allocate on some thread while it promotes methods. Then the least of five calls: a generation
            // that allocated would do so on every call.
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
        // what a longer generation must hold: the cache's 12 more positions (keys and values of every decoder layer, made
        // for the whole generation up front), the longer sequences array and the self-attention mask, sized by the
        // generation's length; 64 bytes of slack for padding
        long cache = 2L * model.Config.DecoderLayers * batch * 12 * model.Config.DModel * sizeof(float);
        long longer = cache + 2 * 4L * 12 * batch + 64;
        Assert.True(many - few <= longer, $"12 more cached steps allocated {many - few} more bytes ({few} for 4 steps, {many} for 16)");
    }
}
