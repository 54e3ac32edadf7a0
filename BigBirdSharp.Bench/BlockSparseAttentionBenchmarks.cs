using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using BigBirdSharp.Backends;
using BigBirdSharp.RandomAttention;

namespace BigBirdSharp.Bench;

/// <summary>
/// One layer's attention core (12 heads × 64, batch 1) after the projections: the packed-panel kernels against the
/// previous gather-and-GEMM kernels (<c>Baseline*</c>, the ratio's baseline), block-sparse and dense, at lengths that
/// are and are not the old-plan lengths.
/// </summary>
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 5)]
public class BlockSparseAttentionBenchmarks
{
    private readonly CpuBackend _cpu = CpuBackend.Instance;
    private DeviceBuffer _q = null!, _k = null!, _v = null!, _context = null!, _mask = null!, _additiveMask = null!;
    private int[] _randAttn = null!;

    /// <summary>Tokens per sequence (multiples of the block size 64).</summary>
    [Params(1024, 2048, 4096)]
    public int SeqLen { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new System.Random(7);
        float[] Random(int n)
        {
            var a = new float[n];
            for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
            return a;
        }
        int n = SeqLen * 768;
        _q = _cpu.Upload(Random(n));
        _k = _cpu.Upload(Random(n));
        _v = _cpu.Upload(Random(n));
        _context = _cpu.Allocate(n);
        var ones = new float[SeqLen];
        Array.Fill(ones, 1f);
        _mask = _cpu.Upload(ones);
        _additiveMask = _cpu.Allocate(SeqLen);
        _randAttn = BigBirdRandomAttention.GetRandAttn(RandomAttentionSemantics.Seeded, 0, SeqLen, SeqLen, 64, 64, 3, 12, 4096);
    }

    private static Memory<float> M(DeviceBuffer buffer) => ((CpuBuffer)buffer).Memory;

    private FullAttentionArgs FullArgs => new()
    {
        Batch = 1, Heads = 12, Seq = SeqLen, HeadDim = 64, Keys = SeqLen, KeyStride = SeqLen, Mask = _additiveMask.All, CausalOffset = -1,
    };

    private BlockSparseAttentionArgs SparseArgs => new()
    {
        Batch = 1, Heads = 12, Seq = SeqLen, HeadDim = 64, Plan = AttentionPlan.BlockSparse(64, 3, _randAttn), Mask = _mask.All,
    };

    [Benchmark(Baseline = true)]
    public void BaselineBlockSparseAttention() =>
        CpuAttention.BaselineBlockSparse(M(_context), M(_q), M(_k), M(_v), M(_mask), Memory<float>.Empty, SparseArgs);

    [Benchmark]
    public void BlockSparseAttention() =>
        _cpu.BlockSparseAttention(_context.All, _q.All, _k.All, _v.All, SparseArgs);

    [Benchmark]
    public void BaselineFullAttention() =>
        CpuAttention.BaselineFull(M(_context), M(_q), M(_k), M(_v), M(_additiveMask), Memory<float>.Empty, FullArgs);

    [Benchmark]
    public void FullAttention() =>
        _cpu.FullAttention(_context.All, _q.All, _k.All, _v.All, FullArgs);
}
