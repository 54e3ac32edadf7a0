using BigBirdSharp.Kernels;
using FsCheck.Xunit;
using static BigBirdSharp.Tests.Kernels.KernelTestData;

namespace BigBirdSharp.Tests.Kernels;

public class GemmTests
{
    /// <summary>
    /// Error bound for the fp32 kernel against the double reference. Each output is a dot product of length k
    /// accumulated with fp32 FMAs, plus one rounding per KC block (alpha scaling and add into C) and the final
    /// store. The standard dot-product bound (Higham, Thm 3.5) is |error| ≤ γ_n · Σ|a_p·b_p| with
    /// γ_n ≈ n·2⁻²⁴ and n the number of roundings. We take n = k + k/KC + 4 and double it for safety:
    /// tol = 2·(k + k/256 + 4)·2⁻²⁴·(|alpha|·Σ|a_ip·b_pj| + |c_old|). A wrong index or a lost tile gives errors of
    /// order Σ|a·b| itself, far above this.
    /// </summary>
    private static void AssertWithinBound(float[] actual, float[] expected, float[] a, float[] b, float[] cOld,
                                          int m, int n, int k, bool transposeB, float alpha, bool accumulate, string context)
    {
        double u = Math.Pow(2, -24);
        double factor = 2.0 * (k + k / 256 + 4) * u;
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double absSum = 0;
                for (int p = 0; p < k; p++)
                {
                    float bv = transposeB ? b[j * k + p] : b[p * n + j];
                    absSum += Math.Abs((double)a[i * k + p] * bv);
                }
                double scale = Math.Abs(alpha) * absSum + (accumulate ? Math.Abs(cOld[i * n + j]) : 0);
                double tol = factor * scale + 1e-30;
                double diff = Math.Abs(actual[i * n + j] - (double)expected[i * n + j]);
                Assert.True(diff <= tol + Math.Abs(expected[i * n + j]) * u,
                    $"{context}: C[{i},{j}] = {actual[i * n + j]:R}, reference {expected[i * n + j]:R}, |diff| {diff:E3} > {tol:E3}");
            }
        }
    }

    private static (float[] A, float[] B, float[] C) Operands(System.Random rng, int m, int n, int k)
        => (Normal(rng, m * k, 0, 1), Normal(rng, k * n, 0, 1), Normal(rng, m * n, 0, 1));

    private static void CheckAgainstReference(int m, int n, int k, bool transposeB, float alpha, bool accumulate, int seed, bool? parallel)
    {
        var rng = new System.Random(seed);
        var (a, b, c0) = Operands(rng, m, n, k);
        var expected = (float[])c0.Clone();
        GemmReference.Multiply(expected, a, b, m, n, k, transposeB, alpha, accumulate);
        var actual = (float[])c0.Clone();
        Gemm.Multiply(actual, a, b, m, n, k, transposeB, alpha, accumulate, KernelPath.Auto, parallel);
        AssertWithinBound(actual, expected, a, b, c0, m, n, k, transposeB, alpha, accumulate,
            $"m={m} n={n} k={k} transposeB={transposeB} alpha={alpha} accumulate={accumulate}");
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(1, 33, 17)]
    [InlineData(7, 1, 9)]
    [InlineData(6, 32, 5)]
    [InlineData(13, 65, 1)]
    [InlineData(97, 257, 300)]
    [InlineData(31, 15, 513)]
    public void MatchesReferenceOnEdgeShapes(int m, int n, int k)
    {
        foreach (bool transposeB in new[] { false, true })
        {
            CheckAgainstReference(m, n, k, transposeB, 1f, accumulate: false, seed: m * 1000 + n + k, parallel: false);
            CheckAgainstReference(m, n, k, transposeB, -0.75f, accumulate: true, seed: m + n * 7 + k, parallel: false);
        }
    }

    [Property(MaxTest = 40)]
    public void MatchesReferenceOnRandomShapes(int seed, bool transposeB, bool accumulate)
    {
        var rng = new System.Random(seed);
        int m = 1 + rng.Next(40), n = 1 + rng.Next(80), k = 1 + rng.Next(300);
        float alpha = rng.Next(3) == 0 ? 1f : (float)(rng.NextDouble() * 4 - 2);
        CheckAgainstReference(m, n, k, transposeB, alpha, accumulate, seed, parallel: null);
    }

    [Fact]
    public void LargeParallelProblemMatchesReference()
    {
        // Several M blocks (96), N blocks (256) and K blocks (256), with ragged edges on all three.
        CheckAgainstReference(203, 531, 600, transposeB: true, 1f, accumulate: false, seed: 5, parallel: true);
        CheckAgainstReference(203, 531, 600, transposeB: false, 0.5f, accumulate: true, seed: 6, parallel: true);
    }

    [Fact]
    public void EveryVectorPathEqualsScalarPathBitwise()
    {
        // All paths accumulate along k in the same order with FMA and apply alpha the same way, so they agree exactly.
        var rng = new System.Random(11);
        foreach (int len in Lengths)
        {
            int m = Math.Max(1, len % 23), n = len, k = Math.Max(1, (len * 7) % 300);
            foreach (bool transposeB in new[] { false, true })
            {
                var (a, b, c0) = Operands(rng, m, n, k);
                var scalar = (float[])c0.Clone();
                Gemm.Multiply(scalar, a, b, m, n, k, transposeB, 1.5f, true, KernelPath.Scalar, parallel: false);
                foreach (KernelPath path in VectorPaths)
                {
                    var vector = (float[])c0.Clone();
                    Gemm.Multiply(vector, a, b, m, n, k, transposeB, 1.5f, true, path, parallel: false);
                    AssertSameFloats(scalar, vector, $"{path} m={m} n={n} k={k} transposeB={transposeB}");
                }
            }
        }
    }

    [Property(MaxTest = 25)]
    public void VectorPathsEqualScalarPathOnRandomShapes(int seed, bool transposeB)
    {
        var rng = new System.Random(seed);
        int m = 1 + rng.Next(30), n = 1 + rng.Next(70), k = 1 + rng.Next(600);
        var (a, b, c0) = Operands(rng, m, n, k);
        var scalar = new float[m * n];
        Gemm.Multiply(scalar, a, b, m, n, k, transposeB, 1f, false, KernelPath.Scalar, parallel: false);
        foreach (KernelPath path in VectorPaths)
        {
            var vector = (float[])c0.Clone(); // garbage in C must be ignored without accumulate
            Gemm.Multiply(vector, a, b, m, n, k, transposeB, 1f, false, path, parallel: false);
            AssertSameFloats(scalar, vector, $"{path} m={m} n={n} k={k}");
        }
    }

    [Fact]
    public void MultiThreadedEqualsSingleThreadedBitwise()
    {
        var rng = new System.Random(3);
        const int m = 300, n = 700, k = 520;
        var (a, b, _) = Operands(rng, m, n, k);
        var single = new float[m * n];
        var multi = new float[m * n];
        Gemm.Multiply(single, a, b, m, n, k, true, 1f, false, KernelPath.Auto, parallel: false);
        Gemm.Multiply(multi, a, b, m, n, k, true, 1f, false, KernelPath.Auto, parallel: true);
        AssertSameFloats(single, multi, "parallel vs serial");
    }

    [Theory]
    [InlineData(7, 1000, 300, true)]
    [InlineData(100, 257, 700, false)]
    [InlineData(1, 2050, 33, true)]
    public void ColumnChunkedParallelEqualsSerialBitwise(int m, int n, int k, bool transposeB)
    {
        // Few M blocks: the parallel path also splits each B block by columns.
        var rng = new Random(m + n + k);
        var (a, b, c0) = Operands(rng, m, n, k);
        var serial = (float[])c0.Clone();
        var multi = (float[])c0.Clone();
        Gemm.Multiply(serial, a, b, m, n, k, transposeB, 0.25f, true, KernelPath.Auto, parallel: false);
        Gemm.Multiply(multi, a, b, m, n, k, transposeB, 0.25f, true, KernelPath.Auto, parallel: true);
        AssertSameFloats(serial, multi, $"m={m} n={n} k={k}");
        var expected = (float[])c0.Clone();
        GemmReference.Multiply(expected, a, b, m, n, k, transposeB, 0.25f, true);
        AssertWithinBound(multi, expected, a, b, c0, m, n, k, transposeB, 0.25f, true, $"m={m} n={n} k={k}");
    }

    [Fact]
    public void ZeroInnerDimensionClearsOrKeepsC()
    {
        var c = new float[] { 1f, 2f, 3f, 4f, 5f, 6f };
        Gemm.Multiply(c, [], [], 2, 3, 0, false, 1f, accumulate: true);
        Assert.Equal(new float[] { 1f, 2f, 3f, 4f, 5f, 6f }, c);
        Gemm.Multiply(c, [], [], 2, 3, 0, false);
        Assert.All(c, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void SmallKnownProduct()
    {
        // [1 2 3; 4 5 6] · [7 8; 9 10; 11 12] = [58 64; 139 154]
        float[] a = [1, 2, 3, 4, 5, 6];
        float[] b = [7, 8, 9, 10, 11, 12];
        float[] bt = [7, 9, 11, 8, 10, 12];
        var c = new float[4];
        Gemm.Multiply(c, a, b, 2, 2, 3, transposeB: false);
        Assert.Equal(new float[] { 58, 64, 139, 154 }, c);
        Gemm.Multiply(c, a, bt, 2, 2, 3, transposeB: true, alpha: 2f, accumulate: true);
        Assert.Equal(new float[] { 174, 192, 417, 462 }, c);
    }

    [Theory]
    [InlineData(5, 12, 8, "a")]
    [InlineData(6, 11, 8, "b")]
    [InlineData(6, 12, 7, "c")]
    public void RejectsMismatchedLengths(int aLen, int bLen, int cLen, string param)
    {
        // m=2, n=4, k=3: A needs 6, B needs 12, C needs 8; each case breaks exactly one of them.
        var a = new float[aLen];
        var b = new float[bLen];
        var c = new float[cLen];
        var e1 = Assert.Throws<ArgumentException>(() => Gemm.Multiply(c, a, b, 2, 4, 3, false));
        Assert.Equal(param, e1.ParamName);
        var e2 = Assert.Throws<ArgumentException>(() => GemmReference.Multiply(c, a, b, 2, 4, 3, true));
        Assert.Equal(param, e2.ParamName);
    }

    [Fact]
    public void RejectsNegativeDimensions()
    {
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(Span<float>.Empty, [], [], -1, 0, 0, false));
    }
}
