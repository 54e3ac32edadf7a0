using BenchmarkDotNet.Attributes;
using BigBirdSharp.Kernels;
using System.Numerics.Tensors;

namespace BigBirdSharp.Bench;

/// <summary>A GEMM problem size; shown as MxNxK in the results.</summary>
public sealed record GemmShape(int M, int N, int K)
{
    /// <summary>Floating-point operations of one multiplication (a multiply and an add per term).</summary>
    public double Flops => 2.0 * M * N * K;

    /// <inheritdoc />
    public override string ToString() => $"{M}x{N}x{K}";
}

/// <summary>
/// C = A·Bᵀ (the nn.Linear layout) with the packed <see cref="Gemm"/> against a baseline that computes each output
/// as one TensorPrimitives.Dot over contiguous rows (already SIMD, but with no blocking or register reuse).
/// </summary>
[Config(typeof(GemmConfig))]
public class GemmBenchmarks
{
    private sealed class GemmConfig : BenchmarkDotNet.Configs.ManualConfig
    {
        public GemmConfig() => AddColumn(new GflopsColumn());
    }

    private float[] _a = [];
    private float[] _b = [];
    private float[] _c = [];

    /// <summary>The shapes: BERT-base projections and the FFN up-projection, plus awkward non-multiples.</summary>
    public static IEnumerable<GemmShape> Shapes() =>
    [
        new(1024, 768, 768),
        new(4096, 768, 768),
        new(4096, 3072, 768),
        new(511, 767, 769),
    ];

    /// <summary>The problem size.</summary>
    [ParamsSource(nameof(Shapes))]
    public GemmShape Shape { get; set; } = new(1, 1, 1);

    /// <summary>Random operands.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var rng = new System.Random(1);
        _a = Enumerable.Range(0, Shape.M * Shape.K).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        _b = Enumerable.Range(0, Shape.N * Shape.K).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        _c = new float[Shape.M * Shape.N];
    }

    /// <summary>Baseline: one vectorized dot product per output element, single-threaded.</summary>
    [Benchmark(Baseline = true)]
    public void DotPerElement()
    {
        int m = Shape.M, n = Shape.N, k = Shape.K;
        for (int i = 0; i < m; i++)
        {
            ReadOnlySpan<float> row = _a.AsSpan(i * k, k);
            for (int j = 0; j < n; j++)
            {
                _c[i * n + j] = TensorPrimitives.Dot(row, _b.AsSpan(j * k, k));
            }
        }
    }

    /// <summary>Packed, register-blocked, multi-threaded GEMM with B transposed.</summary>
    [Benchmark]
    public void PackedTransposedB() => Gemm.Multiply(_c, _a, _b, Shape.M, Shape.N, Shape.K, transposeB: true);

    /// <summary>Packed GEMM with B in [k, n] layout.</summary>
    [Benchmark]
    public void PackedPlainB() => Gemm.Multiply(_c, _a, _b, Shape.M, Shape.N, Shape.K, transposeB: false);

    /// <summary>Packed GEMM kept on one thread, to separate kernel speed from parallel scaling.</summary>
    [Benchmark]
    public void PackedTransposedBSingleThread()
        => Gemm.Multiply(_c, _a, _b, Shape.M, Shape.N, Shape.K, true, 1f, false, KernelPath.Auto, parallel: false);
}
