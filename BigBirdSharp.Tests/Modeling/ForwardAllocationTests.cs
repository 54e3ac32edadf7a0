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
    private static readonly Lazy<BigBirdModel> model = new(() => BigBirdModel.FromPretrained(Path.Combine(RepoPaths.Models, "bs_h32_a4_l2_b4_r2")));

    [Theory]
    [InlineData(AttentionType.BlockSparse, 1, 70)]
    [InlineData(AttentionType.BlockSparse, 2, 101)]
    [InlineData(AttentionType.OriginalFull, 2, 45)]
    public void Forward_allocates_only_its_outputs_after_the_first_call(AttentionType type, int batch, int seq)
    {
        var bigbird = model.Value;
        var rng = new Random(seq);
        var ids = Enumerable.Range(0, batch * seq).Select(_ => rng.Next(5, bigbird.Config.VocabSize)).ToArray();
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
        int hidden = bigbird.Config.HiddenSize;
        long outputs = ArrayBytes(batch * seq * hidden) + ArrayBytes(batch * hidden) + 2 * (32 + 40) + 80 + 256;
        Assert.True(allocated <= outputs, $"a repeated forward pass allocated {allocated} bytes; its outputs take at most {outputs}");
        Assert.Equal(first.LastHiddenState.Data, again.LastHiddenState.Data);
    }

    private static long ArrayBytes(int floats) => 24 + 4L * floats;
}

/// <summary>Inputs of ever-changing lengths do not make a model or its backend hold more and more work space.</summary>
[Collection(nameof(AllocationCollection))]
public sealed class WorkspaceBoundTests
{
    [Fact]
    public void A_model_keeps_the_run_states_of_its_most_recent_shapes_only()
    {
        using var bigbird = BigBirdModel.FromPretrained(Path.Combine(RepoPaths.Models, "bs_h32_a4_l2_b4_r2"));
        var pool = bigbird.Backend.Workspace;
        foreach (int seq in new[] { 40, 52, 64, 76, 88, 100, 112 })
        {
            var ids = Enumerable.Range(0, seq).Select(i => 5 + i % 50).ToArray();
            bigbird.Forward(new BigBirdInputs(1, seq) { InputIds = ids });
            Assert.True(bigbird.IdleStateCount <= 2, $"after length {seq} the model keeps {bigbird.IdleStateCount} run states");
            Assert.True(pool.IdleFloats <= pool.MaxIdleFloats, $"the backend's pool holds {pool.IdleFloats} idle floats, over its bound");
        }
        Assert.Equal(2, bigbird.IdleStateCount);
    }

    [Fact]
    public void The_pool_frees_what_it_cannot_keep()
    {
        var pool = new BigBirdSharp.Backends.WorkspacePool(BigBirdSharp.Backends.CpuBackend.Instance.Allocate, maxIdleFloats: 100);
        var a = pool.Rent(60);
        var b = pool.Rent(60);
        pool.Return(a);
        pool.Return(b); // 120 > 100: freed
        Assert.False(a.IsDisposed);
        Assert.True(b.IsDisposed);
        Assert.Equal(60, pool.IdleFloats);
        Assert.Same(a, pool.Rent(60));
        Assert.Equal(0, pool.IdleFloats);
    }
}
