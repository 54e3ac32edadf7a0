using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling;
using BigBirdSharp.RandomAttention;

namespace BigBirdSharp.Tests.Modeling;

/// <summary>Runs alone: the allocation count is process-wide, so no other test may allocate meanwhile.</summary>
[CollectionDefinition(nameof(AllocationCollection), DisableParallelization = true)]
public sealed class AllocationCollection;

/// <summary>
/// After the first call at a given (batch, length), a forward pass allocates nothing but its outputs: the work space
/// comes back from the pool, the layer loop dispatches preallocated work on the pool's threads, and no trace name is
/// built. Allocation is counted on every thread (the pool's workers included).
/// </summary>
[Collection(nameof(AllocationCollection))]
public sealed class ForwardAllocationTests
{
    // block_sparse, 4 heads, block 4, 2 random blocks: above 36 tokens it really runs block-sparse
    private static readonly Lazy<BigBirdModel> model = new(() => BigBirdModel.Load(Path.Combine(RepoPaths.Models, "bs_h32_a4_l2_b4_r2")));

    [Theory]
    [InlineData(AttentionType.BlockSparse, 1, 70)]
    [InlineData(AttentionType.BlockSparse, 2, 101)]
    [InlineData(AttentionType.OriginalFull, 2, 45)]
    public void Forward_allocates_only_its_outputs_after_the_first_call(AttentionType type, int batch, int seq)
    {
        var bigbird = model.Value;
        var rng = new Random(seq);
        var ids = Enumerable.Range(0, batch * seq).Select(_ => rng.Next(5, bigbird.config.VocabSize)).ToArray();
        var mask = Enumerable.Range(0, batch * seq).Select(i => i % seq < seq - 3 ? 1 : 0).ToArray();
        var inputs = new BigBirdInputs(batch, seq) { InputIds = ids, AttentionMask = mask };
        var options = new BigBirdForwardOptions { AttentionType = type, RandomAttention = RandomAttentionSemantics.Seeded };
        var first = bigbird.Forward(inputs, options);
        Assert.Equal(type, first.AttentionType);

        // The least of three repeated calls: the runtime itself (tiered JIT, monitor waits) may allocate now and then on
        // some thread, independently of the forward pass; a pass that allocated would do so on every call.
        long allocated = long.MaxValue;
        BigBirdModelOutput again = first;
        for (int i = 0; i < 3; i++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            again = bigbird.Forward(inputs, options);
            allocated = Math.Min(allocated, GC.GetTotalAllocatedBytes(precise: true) - before);
        }

        // the outputs: last_hidden_state and pooler_output arrays, their two FloatTensor wrappers with their shape arrays,
        // and the output object; 256 bytes of slack for object headers and padding
        int hidden = bigbird.config.HiddenSize;
        long outputs = ArrayBytes(batch * seq * hidden) + ArrayBytes(batch * hidden) + 2 * (32 + 40) + 80 + 256;
        Assert.True(allocated <= outputs, $"a repeated forward pass allocated {allocated} bytes; its outputs take at most {outputs}");
        Assert.Equal(first.LastHiddenState.Data, again.LastHiddenState.Data);
    }

    private static long ArrayBytes(int floats) => 24 + 4L * floats;
}
