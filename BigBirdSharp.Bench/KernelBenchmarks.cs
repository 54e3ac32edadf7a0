using BenchmarkDotNet.Attributes;
using BigBirdSharp.Kernels;

namespace BigBirdSharp.Bench;

/// <summary>Row kernels at odd row lengths: softmax, layer norm and exact GELU (auto path and forced scalar).</summary>
public class KernelBenchmarks
{
    private float[] _x = [];
    private float[] _y = [];
    private float[] _gamma = [];
    private float[] _beta = [];
    private const int Rows = 64;

    /// <summary>Row length; 768 is BERT-base, the others leave vector tails.</summary>
    [Params(767, 768, 3073)]
    public int Cols { get; set; }

    /// <summary>Random data.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var rng = new System.Random(2);
        _x = Enumerable.Range(0, Rows * Cols).Select(_ => (float)(rng.NextDouble() * 8 - 4)).ToArray();
        _y = new float[_x.Length];
        _gamma = Enumerable.Range(0, Cols).Select(_ => (float)rng.NextDouble()).ToArray();
        _beta = Enumerable.Range(0, Cols).Select(_ => (float)rng.NextDouble()).ToArray();
    }

    /// <summary>Softmax of every row (on a copy so the input stays the same).</summary>
    [Benchmark]
    public void Softmax()
    {
        _x.AsSpan().CopyTo(_y);
        Normalization.SoftmaxRows(_y, Rows, Cols);
    }

    /// <summary>LayerNorm of every row.</summary>
    [Benchmark]
    public void LayerNorm() => Normalization.LayerNorm(_y, _x, _gamma, _beta, Rows, Cols, 1e-12f);

    /// <summary>Exact GELU, widest vector path.</summary>
    [Benchmark]
    public void Gelu() => ErfKernels.Gelu(_x, _y);

    /// <summary>Exact GELU, scalar path (the SIMD speed-up reference).</summary>
    [Benchmark]
    public void GeluScalar() => ErfKernels.Gelu(_x, _y, KernelPath.Scalar);

    /// <summary>gelu_new (tanh form) through TensorPrimitives.</summary>
    [Benchmark]
    public void GeluNew()
    {
        _x.AsSpan().CopyTo(_y);
        Activations.Apply(_y, ActivationKind.GeluNew);
    }
}
