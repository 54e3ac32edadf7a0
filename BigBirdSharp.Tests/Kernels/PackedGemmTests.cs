using BigBirdSharp.Kernels;
using FsCheck.Xunit;
using static BigBirdSharp.Tests.Kernels.KernelTestData;

namespace BigBirdSharp.Tests.Kernels;

/// <summary>
/// <see cref="Gemm.Linear(Span{float}, ReadOnlySpan{float}, PackedMatrix, ReadOnlySpan{float}, int, ActivationKind, bool)"/>
/// over weights packed by <see cref="PackedMatrix"/>: against a double-precision reference on every kernel path, against
/// the unfused composition (bias broadcast, <see cref="Gemm.Multiply(Span{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, int, int, int, bool, float, bool)"/>,
/// <see cref="Activations.Apply"/>) and across thread counts.
/// </summary>
public class PackedGemmTests
{
    private static readonly KernelPath[] AllPaths = [KernelPath.Scalar, KernelPath.Vector128, KernelPath.Vector256, KernelPath.Vector512];

    /// <summary>Activations the micro-kernel epilogue evaluates itself (in vector registers on full tiles).</summary>
    private static readonly ActivationKind[] RegisterKinds =
    [
        ActivationKind.Linear, ActivationKind.Relu, ActivationKind.Gelu, ActivationKind.Gelu10,
        ActivationKind.GeluNew, ActivationKind.GeluPytorchTanh, ActivationKind.GeluFast,
    ];

    /// <summary>
    /// Checks y against act(x·Wᵀ + bias) (+ y₀) computed in double. The pre-activation carries the fp32 dot-product
    /// error: Higham's bound γ_n·(Σ|x·w| + |bias| + |y₀|) with n = k + k/256 + 4 roundings, doubled for safety (as in
    /// GemmTests). Every activation here has |act'| ≤ 1.13, so 1.2 times that bound passes through it; the activation's
    /// own fp32 error adds 2e-6 relative plus 1e-6 absolute (tanh, sigmoid and exp-based kinds are a few ulp), and
    /// accumulating after the activation one more ulp of |y₀|. A wrong tile, a missing bias or a skipped activation is
    /// off by O(1).
    /// </summary>
    private static void AssertLinear(float[] y, float[] x, float[] w, float[] bias, float[] y0, int m, int n, int k,
                                     ActivationKind kind, bool accumulate, string context)
    {
        double u = Math.Pow(2, -24);
        double factor = 2.0 * (k + k / 256 + 4) * u;
        bool linear = kind == ActivationKind.Linear;
        var pre = new float[1];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double sum = bias.Length == 0 ? 0 : bias[j];
                double abs = Math.Abs(sum);
                for (int p = 0; p < k; p++)
                {
                    double t = (double)x[i * k + p] * w[j * k + p];
                    sum += t;
                    abs += Math.Abs(t);
                }
                double old = accumulate ? y0[i * n + j] : 0;
                if (accumulate && linear)
                {
                    sum += old;
                    abs += Math.Abs(old);
                }
                pre[0] = (float)sum;
                Activations.Apply(pre, kind);
                double expected = pre[0];
                double tol = 1.2 * factor * abs + 2e-6 * Math.Abs(expected) + 1e-6;
                if (accumulate && !linear)
                {
                    expected += old;
                    tol += 2 * u * Math.Abs(old);
                }
                AssertClose(expected, y[i * n + j], tol, 0, $"{context} y[{i},{j}]");
            }
        }
    }

    private static (float[] X, float[] W, float[] Bias, float[] Y0) Operands(int seed, int m, int n, int k, bool withBias)
    {
        var rng = new Random(seed);
        return (Normal(rng, m * k, 0, 1), Normal(rng, n * k, 0, 0.2), withBias ? Normal(rng, n, 0, 1) : [], Normal(rng, m * n, 0, 1));
    }

    private static float[] RunLinear(float[] x, PackedMatrix w, float[] bias, float[] y0, int m, ActivationKind kind,
                                     bool accumulate, bool? parallel = false, ComputePool? pool = null)
    {
        var y = (float[])y0.Clone(); // garbage in y must be ignored without accumulate
        Gemm.Linear(y, x, w, bias, m, kind, accumulate, parallel, pool);
        return y;
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(3, 7, 15)]
    [InlineData(7, 17, 33)]
    [InlineData(6, 16, 256)]
    [InlineData(15, 33, 257)]
    [InlineData(17, 65, 129)]
    [InlineData(13, 31, 513)]
    [InlineData(33, 129, 65)]
    public void MatchesReferenceOnEveryPathWithBiasAndActivations(int m, int n, int k)
    {
        foreach (KernelPath path in AllPaths)
        {
            foreach (bool withBias in new[] { true, false })
            {
                var (x, wt, bias, y0) = Operands(m * 31 + n * 7 + k, m, n, k, withBias);
                var w = new PackedMatrix(wt, n, k, path);
                foreach (ActivationKind kind in new[] { ActivationKind.Linear, ActivationKind.Gelu, ActivationKind.Tanh, ActivationKind.Relu })
                {
                    foreach (bool accumulate in new[] { false, true })
                    {
                        float[] y = RunLinear(x, w, bias, y0, m, kind, accumulate);
                        AssertLinear(y, x, wt, bias, y0, m, n, k, kind, accumulate,
                            $"{path} m={m} n={n} k={k} bias={withBias} {kind} accumulate={accumulate}");
                    }
                }
            }
        }
    }

    [Fact]
    public void EveryActivationKindMatchesReference()
    {
        const int m = 9, n = 40, k = 300; // two K blocks, a ragged last panel
        var (x, wt, bias, y0) = Operands(77, m, n, k, withBias: true);
        var w = new PackedMatrix(wt, n, k);
        foreach (ActivationKind kind in Enum.GetValues<ActivationKind>())
        {
            foreach (bool accumulate in new[] { false, true })
            {
                float[] y = RunLinear(x, w, bias, y0, m, kind, accumulate);
                AssertLinear(y, x, wt, bias, y0, m, n, k, kind, accumulate, $"{kind} accumulate={accumulate}");
            }
        }
    }

    [Fact]
    public void VectorPathsEqualScalarPathBitwise()
    {
        // Same K blocks, FMA order and epilogue operations on every path; edge tiles take the scalar epilogue,
        // full tiles the vector one, which must agree bit for bit.
        foreach (int len in Lengths)
        {
            int m = Math.Max(1, len % 29), n = len, k = Math.Max(1, len * 5 % 600);
            var (x, wt, bias, y0) = Operands(len, m, n, k, withBias: true);
            var scalarW = new PackedMatrix(wt, n, k, KernelPath.Scalar);
            foreach (ActivationKind kind in RegisterKinds)
            {
                foreach (bool accumulate in new[] { false, true })
                {
                    float[] expected = RunLinear(x, scalarW, bias, y0, m, kind, accumulate);
                    foreach (KernelPath path in VectorPaths)
                    {
                        float[] actual = RunLinear(x, new PackedMatrix(wt, n, k, path), bias, y0, m, kind, accumulate);
                        AssertSameFloats(expected, actual, $"{path} m={m} n={n} k={k} {kind} accumulate={accumulate}");
                    }
                }
            }
        }
    }

    [Property(MaxTest = 30)]
    public void FusedEqualsUnfusedComposition(int seed, bool accumulate)
    {
        // Bias written into y, then y += x·Wᵀ, then the activation: the fused epilogue adds the bias to the first
        // K block and the activation after the last, the same operations in the same order, so the bits agree
        // for the kinds the kernel evaluates itself. (With accumulate and an activation, y + act(...) is compared
        // within the reference bound instead, because K then runs as one block.)
        var rng = new Random(seed);
        int m = 1 + rng.Next(40), n = 1 + rng.Next(70), k = 1 + rng.Next(700);
        var (x, wt, bias, y0) = Operands(seed, m, n, k, withBias: true);
        var w = new PackedMatrix(wt, n, k);
        foreach (ActivationKind kind in RegisterKinds)
        {
            float[] fused = RunLinear(x, w, bias, y0, m, kind, accumulate);
            if (accumulate && kind != ActivationKind.Linear)
            {
                AssertLinear(fused, x, wt, bias, y0, m, n, k, kind, accumulate, $"m={m} n={n} k={k} {kind}");
                continue;
            }
            var unfused = new float[m * n];
            if (accumulate)
            {
                Array.Copy(y0, unfused, unfused.Length);
                for (int r = 0; r < m; r++)
                {
                    for (int j = 0; j < n; j++)
                    {
                        unfused[r * n + j] += bias[j];
                    }
                }
            }
            else
            {
                Elementwise.BroadcastRows(unfused, bias, m);
            }
            Gemm.Multiply(unfused, x, wt, m, n, k, transposeB: true, 1f, accumulate: true, KernelPath.Auto, parallel: false);
            Activations.Apply(unfused, kind);
            AssertSameFloats(unfused, fused, $"m={m} n={n} k={k} {kind} accumulate={accumulate}");
        }
    }

    [Theory]
    [InlineData(1024, 96, 100)]
    [InlineData(130, 300, 520)]
    [InlineData(5, 1000, 64)]
    [InlineData(64, 512, 64)]
    public void ResultsDoNotDependOnThreadCount(int m, int n, int k)
    {
        var (x, wt, bias, y0) = Operands(m + n + k, m, n, k, withBias: true);
        var w = new PackedMatrix(wt, n, k);
        float[] serial = RunLinear(x, w, bias, y0, m, ActivationKind.Gelu, accumulate: false, parallel: false);
        foreach (int threads in new[] { 1, 2, 3, 5 })
        {
            using var pool = new ComputePool(threads);
            float[] parallel = RunLinear(x, w, bias, y0, m, ActivationKind.Gelu, accumulate: false, parallel: true, pool);
            AssertSameFloats(serial, parallel, $"{threads} threads m={m} n={n} k={k}");
            var c = new float[m * n];
            var cSerial = new float[m * n];
            Gemm.Multiply(c, x, wt, m, n, k, true, 0.5f, false, KernelPath.Auto, parallel: true, pool);
            Gemm.Multiply(cSerial, x, wt, m, n, k, true, 0.5f, false, KernelPath.Auto, parallel: false);
            AssertSameFloats(cSerial, c, $"Multiply, {threads} threads m={m} n={n} k={k}");
        }
    }

    [Fact]
    public void PackedLayoutIsPanelsOfNrColumnsAndKeepsEveryWeight()
    {
        const int n = 37, k = 19;
        var (_, wt, _, _) = Operands(3, 1, n, k, withBias: false);
        foreach (KernelPath path in AllPaths)
        {
            var w = new PackedMatrix(wt, n, k, path);
            Assert.Equal(path, w.Path);
            Assert.Equal((n + w.NR - 1) / w.NR * w.NR * (long)k, w.PackedLength);
            Assert.True(w.PackedLength - (long)n * k < (long)w.NR * k, "at most one panel of padding");
            unsafe
            {
                Assert.Equal(0, (long)w.Data % 64);
            }
            for (int row = 0; row < n; row++)
            {
                for (int col = 0; col < k; col++)
                {
                    Assert.Equal(wt[row * k + col], w[row, col]);
                }
            }
        }
    }

    [Fact]
    public void ZeroInnerDimensionGivesActivatedBias()
    {
        var w = new PackedMatrix([], 3, 0);
        float[] bias = [-1f, 0.5f, 2f];
        var y = new float[6];
        Gemm.Linear(y, [], w, bias, 2, ActivationKind.Relu);
        Assert.Equal(new float[] { 0f, 0.5f, 2f, 0f, 0.5f, 2f }, y);
    }

    [Fact]
    public void RejectsMismatchedShapes()
    {
        var w = new PackedMatrix(new float[12], 4, 3);
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => Gemm.Linear(new float[8], new float[5], w, [], 2)).ParamName);
        Assert.Equal("y", Assert.Throws<ArgumentException>(() => Gemm.Linear(new float[7], new float[6], w, [], 2)).ParamName);
        Assert.Equal("bias", Assert.Throws<ArgumentException>(() => Gemm.Linear(new float[8], new float[6], w, new float[3], 2)).ParamName);
        Assert.Equal("weight", Assert.Throws<ArgumentException>(() => new PackedMatrix(new float[11], 4, 3)).ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Linear(new float[8], new float[6], w, [], 2, (ActivationKind)99));
    }
}
