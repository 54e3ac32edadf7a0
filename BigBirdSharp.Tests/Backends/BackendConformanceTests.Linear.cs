using BigBirdSharp.Backends;
using BigBirdSharp.Kernels;
using BigBirdSharp.Tests.Kernels;
using FsCheck.Xunit;

namespace BigBirdSharp.Tests.Backends;

// Linear (every fused activation) and Activate against the scalar reference.
public abstract partial class BackendConformanceTests
{
    /// <summary>
    /// Shapes (rows, in_features, out_features) with each of the three on every length of <see cref="Lengths"/> (0 included:
    /// no rows, no inputs — y is the bias — and no outputs), the others odd, plus a larger one that crosses GEMM panels.
    /// </summary>
    public static TheoryData<int, int, int> LinearShapes()
    {
        var shapes = new SortedSet<(int, int, int)>();
        foreach (int n in Lengths)
        {
            shapes.Add((n, 17, 9));
            shapes.Add((5, n, 9));
            shapes.Add((5, 17, n));
        }
        shapes.Add((65, 129, 257));
        var data = new TheoryData<int, int, int>();
        foreach (var (rows, inF, outF) in shapes) data.Add(rows, inF, outF);
        return data;
    }

    public static TheoryData<ActivationKind> ActivationKinds() => new(Enum.GetValues<ActivationKind>());

    /// <summary>
    /// Runs act(x·Wᵀ + b) on the backend, x and y being views at odd offsets of larger buffers whose other contents must
    /// survive, y holding NaN beforehand (stale contents must not leak), and checks every output against the double reference.
    /// Pre-activation bound (fp32 dot product, Higham Thm 3.5, doubled): 2·(k + 4)·2⁻²⁴·Σ|terms|, the terms including the
    /// bias. The activation then moves that error by at most its Lipschitz constant (≤ 1.2: gelu's slope peaks at 1.13,
    /// silu/quick_gelu/mish at 1.10, the rest at 1) and adds its own fp32 error, a few roundings of the value plus the
    /// 1 ± tanh / 1 + erf cancellation on the negative side: 1e-6·max(1, |pre|) + 4e-6·|expected|.
    /// </summary>
    private void CheckLinear(int rows, int inF, int outF, bool withBias, ActivationKind activation, int seed)
    {
        float[] x = Normal(seed, rows * inF);
        float[] w = Normal(seed + 1, outF * inF, 0.5);
        float[] bias = withBias ? Normal(seed + 2, outF) : [];
        const int xOffset = 3, yOffset = 5;
        float[] xHost = [.. Normal(seed + 3, xOffset), .. x, .. Normal(seed + 4, 2)];
        using var xBuffer = Writable(xHost);
        using var yBuffer = Filled(yOffset + rows * outF + 3, float.NaN);
        var weight = Backend.BindLinear(w, bias, inF, outF);
        Assert.Equal((inF, outF, bias.Length > 0), (weight.InFeatures, weight.OutFeatures, weight.HasBias)); // an empty bias is none

        Backend.Linear(yBuffer.Slice(yOffset, rows * outF), xBuffer.Slice(xOffset, rows * inF), weight, rows, activation);

        var all = Download(yBuffer);
        foreach (int i in new[] { 0, 1, 2, 3, 4, all.Length - 3, all.Length - 2, all.Length - 1 })
            Assert.True(float.IsNaN(all[i]), $"y[{i}] outside the output view was written");
        AssertBitwise(xHost, Download(xBuffer), "x after Linear");
        double[] pre = ScalarReference.Linear(x, w, bias, rows, inF, outF, out double[] absSum);
        double u = Math.Pow(2, -24);
        for (int i = 0; i < pre.Length; i++)
        {
            double preBound = 2 * (inF + 4) * u * absSum[i] + 1e-30;
            double expected = ScalarReference.Activation(activation, pre[i]);
            double abs = activation == ActivationKind.Linear ? preBound : 1.2 * preBound + 1e-6 * Math.Max(1, Math.Abs(pre[i]));
            double rel = activation == ActivationKind.Linear ? 0 : 4e-6;
            KernelTestData.AssertClose(expected, all[yOffset + i], abs, rel,
                $"{activation}(Linear) rows={rows} in={inF} out={outF} bias={withBias}: y[{i / Math.Max(1, outF)},{i % Math.Max(1, outF)}]");
        }
    }

    [Theory]
    [MemberData(nameof(LinearShapes))]
    public void Linear_matches_plain_loops_with_and_without_bias(int rows, int inF, int outF)
    {
        CheckLinear(rows, inF, outF, withBias: true, ActivationKind.Linear, seed: rows * 1000 + inF * 10 + outF);
        CheckLinear(rows, inF, outF, withBias: false, ActivationKind.Linear, seed: rows + inF * 7 + outF * 31);
    }

    [Theory]
    [MemberData(nameof(ActivationKinds))]
    public void Linear_fuses_every_activation(ActivationKind activation)
    {
        CheckLinear(13, 70, 37, withBias: true, activation, seed: 1 + (int)activation);
        CheckLinear(3, 33, 65, withBias: false, activation, seed: 100 + (int)activation);
    }

    [Property(MaxTest = 30)]
    public void Linear_matches_plain_loops_on_random_shapes(int seed)
    {
        var rng = new System.Random(seed);
        int rows = rng.Next(1, 41), inF = rng.Next(1, 301), outF = rng.Next(1, 81);
        var kinds = Enum.GetValues<ActivationKind>();
        CheckLinear(rows, inF, outF, rng.Next(2) == 0, kinds[rng.Next(kinds.Length)], seed);
    }

    [Fact]
    public void BindLinear_rejects_a_weight_or_bias_of_the_wrong_length()
    {
        Assert.ThrowsAny<ArgumentException>(() => Backend.BindLinear(new float[5], ReadOnlyMemory<float>.Empty, 2, 3));
        Assert.ThrowsAny<ArgumentException>(() => Backend.BindLinear(new float[7], ReadOnlyMemory<float>.Empty, 2, 3));
        Assert.ThrowsAny<ArgumentException>(() => Backend.BindLinear(new float[6], new float[2], 2, 3));
        Assert.ThrowsAny<ArgumentException>(() => Backend.BindLinear(new float[6], new float[4], 2, 3));
    }

    [Fact]
    public void Linear_rejects_views_that_do_not_fit_without_touching_the_output()
    {
        var weight = Backend.BindLinear(Normal(1, 6), new float[] { 1f, 2f, 3f }, 2, 3); // [out 3, in 2]
        using var x4 = Writable(Normal(2, 4));
        using var x5 = Writable(Normal(3, 5));
        using var y5 = Filled(5, 7f);
        using var y6 = Filled(6, 7f);
        Assert.ThrowsAny<ArgumentException>(() => Backend.Linear(y6.All, x5.All, weight, 2)); // x is not [2, 2]
        Assert.ThrowsAny<ArgumentException>(() => Backend.Linear(y5.All, x4.All, weight, 2)); // y is not [2, 3]
        Assert.ThrowsAny<ArgumentException>(() => Backend.Linear(y6.All, x4.All, weight, 3)); // rows disagree with both
        Assert.ThrowsAny<ArgumentException>(() => Backend.Linear(y6.All, x4.All, weight, -2));
        AssertBitwise([7f, 7f, 7f, 7f, 7f], Download(y5), "y after a refused Linear");
        AssertBitwise([7f, 7f, 7f, 7f, 7f, 7f], Download(y6), "y after a refused Linear");
    }

    /// <summary>
    /// Activate in place on every length, over [-12, 12] with NaN, zeros, ±40 and tiny values mixed in. Tolerance as for
    /// the fused activation: 1e-6·max(1, |x|) + 4e-6·|expected| (a few fp32 roundings, plus the cancellation of 1 ± tanh and
    /// 1 + erf for negative x); NaN must stay NaN.
    /// </summary>
    [Theory]
    [MemberData(nameof(ActivationKinds))]
    public void Activate_matches_the_formulas_on_every_length(ActivationKind kind)
    {
        float[] specials = [0f, -0f, float.NaN, 1f, -1f, 3.95f, -3.95f, 2.5f, -2.5f, 1e-30f, -1e-30f, 40f, -40f, 20.5f, -20.5f];
        foreach (int length in Lengths.Where(n => n > 0)) // the empty view: Activate_on_an_empty_view_does_nothing
        {
            var rng = new System.Random(length + 17 * (int)kind);
            float[] x = KernelTestData.Uniform(rng, length, -12f, 12f);
            for (int i = 0; i < length; i += 3) x[i] = specials[rng.Next(specials.Length)];
            using var buffer = Writable(x);
            Backend.Activate(buffer.All, kind);
            var y = Download(buffer);
            for (int i = 0; i < length; i++)
                KernelTestData.AssertClose(ScalarReference.Activation(kind, x[i]), y[i], 1e-6 * Math.Max(1, Math.Abs(x[i])), 4e-6,
                                           $"{kind}({x[i]:R}) at {i} of {length}");
        }
    }

    [Fact]
    public void Activate_on_an_empty_view_does_nothing()
    {
        using var empty = Backend.Allocate(0);
        using var x = Backend.Allocate(0);
        var weight = Backend.BindLinear(ReadOnlyMemory<float>.Empty, ReadOnlyMemory<float>.Empty, 0, 4);
        foreach (var kind in Enum.GetValues<ActivationKind>())
        {
            Backend.Activate(empty.All, kind);
            Backend.Linear(empty.All, x.All, weight, 0, kind); // no rows, as Linear's shape list allows without an activation
        }
    }

    [Fact]
    public void Activate_only_touches_its_view_and_rejects_an_unknown_kind()
    {
        using var buffer = Writable([-1f, -2f, -3f, -4f, -5f]);
        Backend.Activate(buffer.Slice(1, 3), ActivationKind.Relu);
        AssertBitwise([-1f, 0f, 0f, 0f, -5f], Download(buffer), "relu on a view");
        Assert.ThrowsAny<ArgumentException>(() => Backend.Activate(buffer.All, (ActivationKind)(-1)));
        Assert.ThrowsAny<ArgumentException>(() => Backend.Linear(buffer.Slice(0, 1), buffer.Slice(1, 1),
                                                                 Backend.BindLinear(new float[1], ReadOnlyMemory<float>.Empty, 1, 1), 1,
                                                                 (ActivationKind)999));
    }
}
