using BigBirdSharp.Kernels;
using FsCheck.Xunit;
using static BigBirdSharp.Tests.Kernels.KernelTestData;

namespace BigBirdSharp.Tests.Kernels;

/// <summary><see cref="Normalization.AddLayerNorm(Span{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, int, int, float)"/> and <see cref="Normalization.MaskedSoftmaxRows(Span{float}, int, int, float, ReadOnlySpan{float})"/>.</summary>
public class FusedRowKernelTests
{
    private static readonly KernelPath[] AllPaths = [KernelPath.Scalar, KernelPath.Vector128, KernelPath.Vector256, KernelPath.Vector512];

    /// <summary>LayerNorm(x + r) in double, from the float inputs.</summary>
    private static double[] AddLayerNormDouble(float[] x, float[] r, float[] gamma, float[] beta, int rows, int cols, double eps)
    {
        var y = new double[x.Length];
        for (int i = 0; i < rows; i++)
        {
            double mean = 0;
            for (int j = 0; j < cols; j++)
            {
                mean += (double)x[i * cols + j] + r[i * cols + j];
            }
            mean /= cols;
            double variance = 0;
            for (int j = 0; j < cols; j++)
            {
                double d = (double)x[i * cols + j] + r[i * cols + j] - mean;
                variance += d * d;
            }
            variance /= cols;
            double rstd = 1.0 / Math.Sqrt(variance + eps);
            for (int j = 0; j < cols; j++)
            {
                y[i * cols + j] = ((double)x[i * cols + j] + r[i * cols + j] - mean) * rstd * gamma[j] + beta[j];
            }
        }
        return y;
    }

    /// <summary>
    /// Each path against the double reference. The float sum x + r is rounded once (half an ulp of |x + r|, relative
    /// to the spread σ that is |x + r|/σ ulps of the normalized value); mean and variance carry a few ulp of the
    /// normalized value; gamma scales that and beta adds an ulp of itself. Tolerance: 1e-6·(2 + |x + r|/σ)·|gamma| +
    /// 1e-6·|beta|, plus 1e-6 relative, as in the LayerNorm tests with the extra rounding of the sum.
    /// </summary>
    private static void CheckAddLayerNorm(int rows, int cols, int seed, double mean, double std)
    {
        var rng = new Random(seed);
        float[] x = Normal(rng, rows * cols, mean, std);
        float[] r = Normal(rng, rows * cols, -mean / 2, std);
        float[] gamma = Normal(rng, cols, 1, 0.5);
        float[] beta = Normal(rng, cols, 0, 0.5);
        double[] expected = AddLayerNormDouble(x, r, gamma, beta, rows, cols, 1e-12);
        float[]? scalar = null;
        foreach (KernelPath path in AllPaths)
        {
            var y = new float[x.Length];
            Normalization.AddLayerNorm(y, x, r, gamma, beta, rows, cols, 1e-12f, path, parallel: false);
            for (int i = 0; i < y.Length; i++)
            {
                int j = i % cols;
                double offset = Math.Abs((double)x[i] + r[i]) / Math.Max(std, 1e-3);
                double tol = 1e-6 * ((2 + offset) * Math.Abs(gamma[j]) + Math.Abs(beta[j]));
                AssertClose(expected[i], y[i], tol, 1e-6, $"{path} rows={rows} cols={cols} index {i}");
            }
            scalar ??= y;
            // The vector paths differ from the scalar one only in the order of the two row sums.
            for (int i = 0; i < y.Length; i++)
            {
                AssertClose(scalar[i], y[i], 2e-6 * (1 + Math.Abs(gamma[i % cols])), 1e-6, $"{path} vs scalar, index {i}");
            }
        }
        // In place over x, and over the residual, gives the same result; so does the parallel path.
        var reference = new float[x.Length];
        Normalization.AddLayerNorm(reference, x, r, gamma, beta, rows, cols, 1e-12f);
        var parallel = new float[x.Length];
        Normalization.AddLayerNorm(parallel, x, r, gamma, beta, rows, cols, 1e-12f, KernelPath.Auto, parallel: true);
        AssertSameFloats(reference, parallel, "parallel AddLayerNorm");
        var rCopy = (float[])r.Clone();
        Normalization.AddLayerNorm(rCopy, x, rCopy, gamma, beta, rows, cols, 1e-12f);
        AssertSameFloats(reference, rCopy, "in place over the residual");
        Normalization.AddLayerNorm(x, x, r, gamma, beta, rows, cols, 1e-12f);
        AssertSameFloats(reference, x, "in place over x");
    }

    [Fact]
    public void AddLayerNormMatchesDoubleOnEdgeLengths()
    {
        foreach (int len in Lengths)
        {
            if (len > 0)
            {
                CheckAddLayerNorm(3, len, len, 0, 1);
            }
        }
        CheckAddLayerNorm(40, 768, 1, 0.5, 2);
        CheckAddLayerNorm(2, 1024, 2, 30, 0.1); // far from zero relative to the spread
    }

    [Property(MaxTest = 40)]
    public void AddLayerNormMatchesDoubleOnRandomShapes(int seed)
    {
        var rng = new Random(seed);
        CheckAddLayerNorm(1 + rng.Next(5), 1 + rng.Next(600), seed, rng.NextDouble() * 10 - 5, 0.1 + rng.NextDouble() * 5);
    }

    [Fact]
    public void AddLayerNormEqualsAddThenLayerNormClosely()
    {
        var rng = new Random(12);
        const int rows = 5, cols = 131;
        float[] x = Normal(rng, rows * cols, 1, 2), r = Normal(rng, rows * cols, 0, 1);
        float[] gamma = Normal(rng, cols, 1, 0.3), beta = Normal(rng, cols, 0, 0.3);
        var sum = new float[x.Length];
        Elementwise.Add(sum, x, r);
        var unfused = new float[x.Length];
        Normalization.LayerNorm(unfused, sum, gamma, beta, rows, cols, 1e-5f);
        var fused = new float[x.Length];
        Normalization.AddLayerNorm(fused, x, r, gamma, beta, rows, cols, 1e-5f);
        for (int i = 0; i < fused.Length; i++)
        {
            AssertClose(unfused[i], fused[i], 2e-6 * (1 + Math.Abs(gamma[i % cols])), 1e-6, $"index {i}");
        }
    }

    /// <summary>softmax(scale·s + mask) per row in double, from the float inputs.</summary>
    private static double[] MaskedSoftmaxDouble(float[] s, int rows, int cols, float scale, float[] mask)
    {
        var y = new double[s.Length];
        for (int i = 0; i < rows; i++)
        {
            var v = new double[cols];
            double max = double.NegativeInfinity;
            for (int j = 0; j < cols; j++)
            {
                v[j] = (double)scale * s[i * cols + j] + mask[j];
                max = Math.Max(max, v[j]);
            }
            double sum = 0;
            for (int j = 0; j < cols; j++)
            {
                sum += Math.Exp(v[j] - max);
            }
            for (int j = 0; j < cols; j++)
            {
                y[i * cols + j] = Math.Exp(v[j] - max) / sum;
            }
        }
        return y;
    }

    /// <summary>
    /// Against the double reference: the float logit scale·s + mask is rounded twice (product, sum), which moves each
    /// exponent by about 2 ulp of |logit| and so the probability by that much relative; exp and the normalization add
    /// 2e-6 relative (as in the softmax tests). Masked entries (−10000, −∞) must come out 0.
    /// </summary>
    private static void CheckMaskedSoftmax(int rows, int cols, int seed, float scale, bool? parallel)
    {
        var rng = new Random(seed);
        float[] s = Normal(rng, rows * cols, 0, 3);
        float[] mask = new float[cols];
        for (int j = 0; j < cols; j++)
        {
            mask[j] = (j % 5) switch { 1 => -10000f, 3 => float.NegativeInfinity, _ => (float)rng.NextDouble() - 0.5f };
        }
        if (cols > 0)
        {
            mask[0] = 0f; // at least one kept column per row
        }
        double[] expected = MaskedSoftmaxDouble(s, rows, cols, scale, mask);
        var y = (float[])s.Clone();
        Normalization.MaskedSoftmaxRows(y, rows, cols, scale, mask, parallel);
        for (int i = 0; i < y.Length; i++)
        {
            double logit = Math.Abs((double)scale * s[i] + mask[i % cols]);
            double rel = 2e-6 + (double.IsInfinity(logit) ? 0 : 2 * Math.Pow(2, -24) * logit);
            AssertClose(expected[i], y[i], 1e-9, rel, $"rows={rows} cols={cols} index {i}");
            if (mask[i % cols] <= -10000f)
            {
                Assert.Equal(0f, y[i]);
            }
        }
    }

    [Fact]
    public void MaskedSoftmaxMatchesDoubleOnEdgeLengths()
    {
        foreach (int len in Lengths)
        {
            CheckMaskedSoftmax(3, len, len, 0.125f, parallel: false);
        }
        CheckMaskedSoftmax(200, 512, 9, 0.125f, parallel: true);
    }

    [Property(MaxTest = 30)]
    public void MaskedSoftmaxMatchesDoubleOnRandomShapes(int seed, bool parallel)
    {
        var rng = new Random(seed);
        CheckMaskedSoftmax(1 + rng.Next(20), 1 + rng.Next(300), seed, (float)(rng.NextDouble() * 2), parallel);
    }

    [Fact]
    public void MaskedSoftmaxWithZeroMaskAndUnitScaleEqualsSoftmaxRows()
    {
        var rng = new Random(4);
        float[] s = Normal(rng, 7 * 65, 0, 2);
        var expected = (float[])s.Clone();
        Normalization.SoftmaxRows(expected, 7, 65);
        Normalization.MaskedSoftmaxRows(s, 7, 65, 1f, new float[65]);
        AssertSameFloats(expected, s, "zero mask, scale 1");
    }

    [Fact]
    public void RejectsMismatchedLengths()
    {
        var ok = new float[6];
        Assert.Equal("residual", Assert.Throws<ArgumentException>(() => Normalization.AddLayerNorm(ok, ok, new float[5], new float[3], new float[3], 2, 3, 1e-5f)).ParamName);
        Assert.Equal("y", Assert.Throws<ArgumentException>(() => Normalization.AddLayerNorm(new float[7], ok, ok, new float[3], new float[3], 2, 3, 1e-5f)).ParamName);
        Assert.Equal("gamma", Assert.Throws<ArgumentException>(() => Normalization.AddLayerNorm(ok, ok, ok, new float[2], new float[3], 2, 3, 1e-5f)).ParamName);
        Assert.Equal("beta", Assert.Throws<ArgumentException>(() => Normalization.AddLayerNorm(ok, ok, ok, new float[3], new float[4], 2, 3, 1e-5f)).ParamName);
        Assert.Equal("additiveRowMask", Assert.Throws<ArgumentException>(() => Normalization.MaskedSoftmaxRows(ok, 2, 3, 1f, new float[2])).ParamName);
        Assert.Equal("scores", Assert.Throws<ArgumentException>(() => Normalization.MaskedSoftmaxRows(ok, 2, 4, 1f, new float[4])).ParamName);
    }
}
