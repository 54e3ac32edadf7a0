using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling;
using BigBirdSharp.RandomAttention;

namespace BigBirdSharp.Tests.Modeling;

/// <summary>
/// After the first call at a given (batch, length), a forward pass allocates nothing but its outputs: the work space
/// comes back from the pool, the layer loop dispatches preallocated work, and no trace name is built.
/// </summary>
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

        long before = GC.GetTotalAllocatedBytes(precise: true);
        var second = bigbird.Forward(inputs, options);
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        // the outputs: last_hidden_state and pooler_output arrays, their FloatTensor wrappers and shapes, the output object
        int hidden = bigbird.config.HiddenSize;
        long outputs = ArrayBytes(batch * seq * hidden) + ArrayBytes(batch * hidden) + 2 * (32 + 40) + 128;
        Assert.True(allocated <= outputs,
            $"a repeated forward pass allocated {allocated} bytes; its outputs take about {outputs}");
        Assert.Equal(first.LastHiddenState.Data, second.LastHiddenState.Data);
    }

    private static long ArrayBytes(int floats) => 24 + 4L * floats;
}
