using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling;
using BigBirdSharp.RandomAttention;

namespace BigBirdSharp.Bench;

/// <summary>
/// One layer's attention core (12 heads × 64, batch 1) after the projections: block-sparse against the
/// dense baseline, at lengths that are and are not the old-plan lengths.
/// </summary>
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 5)]
public class BlockSparseAttentionBenchmarks
{
    private BigBirdBlockSparseAttention _sparse = null!;
    private BigBirdSelfAttention _full = null!;
    private ForwardState _state = null!;
    private int[] _randAttn = null!;

    /// <summary>Tokens per sequence (multiples of the block size 64).</summary>
    [Params(1024, 2048, 4096)]
    public int SeqLen { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var config = SyntheticCheckpoint.RobertaBaseConfig;
        _sparse = new BigBirdBlockSparseAttention(null!, null!, null!, config);
        _full = new BigBirdSelfAttention(null!, null!, null!, config);
        _state = new ForwardState(config, 1, SeqLen);
        var rng = new System.Random(7);
        foreach (var buffer in new[] { _state.QueryLayer, _state.KeyLayer, _state.ValueLayer })
            for (int i = 0; i < buffer.Length; i++) buffer[i] = (float)(rng.NextDouble() * 2 - 1);
        Array.Fill(_state.BlockMask, 1f);
        _randAttn = BigBirdRandomAttention.GetRandAttn(RandomAttentionSemantics.Seeded, 0, SeqLen, SeqLen, 64, 64, 3, 12, 4096);
    }

    [Benchmark(Baseline = true)]
    public float FullAttention()
    {
        _full.Attend(CpuBackend.Instance, _state,
                     new AttentionKeys(_state.KeyLayer, _state.ValueLayer, SeqLen, SeqLen, _state.AdditiveMask, -1),
                     ReadOnlyMemory<float>.Empty, null);
        return _state.ContextLayer[0];
    }

    [Benchmark]
    public float BlockSparseAttention()
    {
        _sparse.Attend(CpuBackend.Instance, _state, _randAttn, null);
        return _state.ContextLayer[0];
    }
}
