using BigBirdSharp.Kernels;
using FsCheck.Xunit;
using static BigBirdSharp.Tests.Kernels.KernelTestData;

namespace BigBirdSharp.Tests.Kernels;

public class NormalizationTests
{
    private static double[] LayerNormDouble(float[] x, float[] gamma, float[] beta, int rows, int cols, double eps)
    {
        var y = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double mean = 0;
            for (int j = 0; j < cols; j++)
            {
                mean += x[r * cols + j];
            }
            mean /= cols;
            double variance = 0;
            for (int j = 0; j < cols; j++)
            {
                double d = x[r * cols + j] - mean;
                variance += d * d;
            }
            variance /= cols;
            double rstd = 1.0 / Math.Sqrt(variance + eps);
            for (int j = 0; j < cols; j++)
            {
                y[r * cols + j] = (x[r * cols + j] - mean) * rstd * gamma[j] + beta[j];
            }
        }
        return y;
    }

    private static double[] SoftmaxDouble(float[] x, int rows, int cols)
    {
        var y = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double max = double.NegativeInfinity;
            for (int j = 0; j < cols; j++)
            {
                max = Math.Max(max, x[r * cols + j]);
            }
            double sum = 0;
            for (int j = 0; j < cols; j++)
            {
                sum += Math.Exp(x[r * cols + j] - max);
            }
            for (int j = 0; j < cols; j++)
            {
                y[r * cols + j] = Math.Exp(x[r * cols + j] - max) / sum;
            }
        }
        return y;
    }

    private static void CheckLayerNorm(int rows, int cols, int seed, double mean, double std)
    {
        var rng = new System.Random(seed);
        float[] x = Normal(rng, rows * cols, mean, std);
        float[] gamma = Normal(rng, cols, 1, 0.5);
        float[] beta = Normal(rng, cols, 0, 0.5);
        double[] expected = LayerNormDouble(x, gamma, beta, rows, cols, 1e-12);
        var y = new float[x.Length];
        Normalization.LayerNorm(y, x, gamma, beta, rows, cols, 1e-12f);
        for (int i = 0; i < y.Length; i++)
        {
            // The normalized value z carries a few ulp of max(|z|, 1) from the mean and variance roundings;
            // gamma scales that, beta adds an ulp of itself, the final result adds 1e-6 relative.
            int j = i % cols;
            double tol = 1e-6 * (2 * Math.Abs(gamma[j]) + Math.Abs(beta[j]));
            AssertClose(expected[i], y[i], tol, 1e-6, $"LayerNorm rows={rows} cols={cols} index {i}");
        }
        // In place gives the same result.
        Normalization.LayerNorm(x, x, gamma, beta, rows, cols, 1e-12f);
        AssertSameFloats(y, x, "in-place LayerNorm");
    }

    [Fact]
    public void LayerNormMatchesDoubleOnEdgeLengths()
    {
        foreach (int len in Lengths)
        {
            if (len > 0)
            {
                CheckLayerNorm(3, len, len, 0, 1);
            }
        }
        CheckLayerNorm(4, 768, 1, 0.5, 2);
        CheckLayerNorm(2, 1024, 2, 30, 0.1); // large offset relative to spread: the two-pass variance matters
    }

    [Property(MaxTest = 40)]
    public void LayerNormMatchesDoubleOnRandomShapes(int seed)
    {
        var rng = new System.Random(seed);
        CheckLayerNorm(1 + rng.Next(5), 1 + rng.Next(600), seed, rng.NextDouble() * 10 - 5, 0.1 + rng.NextDouble() * 5);
    }

    [Fact]
    public void LayerNormMatchesPyTorchPrintedValues()
    {
        float[] x = [0.5f, -1.25f, 3.0f, 2.0f, -0.75f, 0.125f, 7.5f, 100.0f, 100.5f, 99.25f, 101.0f, 100.125f, 99.5f, 100.75f];
        float[] gamma = [1.0f, 0.5f, -2.0f, 1.5f, 0.25f, 1.0f, 3.0f];
        float[] beta = [0.0f, 0.1f, -0.2f, 0.3f, 0.0f, -1.0f, 0.5f];
        // torch.nn.functional.layer_norm(x.view(2, 7), (7,), gamma, beta, 1e-12), torch 1.13 CPU float32.
        float[] expected = [-0.39233362674713135f, -0.4113200604915619f, -1.2162086963653564f, 0.5218937397003174f, -0.2106381356716156f, -1.5273993015289307f, 6.886677265167236f, -0.27111387252807617f, 0.3861755132675171f, 2.872622489929199f, 2.4237239360809326f, -0.015061911195516586f, -2.1145787239074707f, 3.482250690460205f];
        var y = new float[14];
        Normalization.LayerNorm(y, x, gamma, beta, 2, 7, 1e-12f);
        for (int i = 0; i < y.Length; i++)
        {
            AssertClose(expected[i], y[i], 1e-6, 1e-6, $"LayerNorm index {i}");
        }
    }

    [Fact]
    public void SoftmaxMatchesPyTorchPrintedValuesWithMasks()
    {
        float min = float.MinValue;
        float[] x =
        [
            1f, 2f, 3f, -10000f, 0.5f,
            min, min, min, min, min,
            0f, float.NegativeInfinity, -1f, float.NegativeInfinity, 2f,
            min, 1f, min, -10000f, 88f,
        ];
        // torch.softmax(x.view(4, 5), -1), torch 1.13 CPU float32.
        float[] expected = [0.08536889404058456f, 0.23205672204494476f, 0.6307955384254456f, 0.0f, 0.051778849214315414f, 0.20000000298023224f, 0.20000000298023224f, 0.20000000298023224f, 0.20000000298023224f, 0.20000000298023224f, 0.11419519037008286f, 0.0f, 0.04201006516814232f, 0.0f, 0.8437947034835815f, 0.0f, 1.6458114537543937e-38f, 0.0f, 0.0f, 1.0f];
        Normalization.SoftmaxRows(x, 4, 5);
        for (int i = 0; i < x.Length; i++)
        {
            AssertClose(expected[i], x[i], 1e-9, 1e-6, $"softmax index {i}");
        }
    }

    private static void CheckSoftmax(int rows, int cols, int seed, float scale)
    {
        var rng = new System.Random(seed);
        float[] x = Normal(rng, rows * cols, 0, scale);
        for (int i = 1; i < x.Length; i += 7)
        {
            x[i] = rng.Next(3) switch { 0 => float.MinValue, 1 => -10000f, _ => float.NegativeInfinity };
        }
        double[] expected = SoftmaxDouble(x, rows, cols);
        Normalization.SoftmaxRows(x, rows, cols);
        for (int i = 0; i < x.Length; i++)
        {
            Assert.False(float.IsNaN(x[i]), $"NaN at {i}");
            AssertClose(expected[i], x[i], 1e-9, 2e-6, $"softmax rows={rows} cols={cols} index {i}");
        }
    }

    [Fact]
    public void SoftmaxMatchesDoubleOnEdgeLengths()
    {
        foreach (int len in Lengths)
        {
            CheckSoftmax(3, len, len, 3f);
        }
    }

    [Property(MaxTest = 40)]
    public void SoftmaxMatchesDoubleOnRandomShapes(int seed)
    {
        var rng = new System.Random(seed);
        CheckSoftmax(1 + rng.Next(6), 1 + rng.Next(700), seed, 0.1f + 20f * (float)rng.NextDouble());
    }

    [Fact]
    public void TensorPrimitivesExpIsAccurateEnoughForSoftmax()
    {
        // Softmax relies on TensorPrimitives.Exp; require ≤ 1.5 ulp-ish (1.8e-7 relative) over the whole
        // non-overflowing range, 0 for −∞ and for float.MinValue, and no NaN.
        const int count = 100_001;
        var x = new float[count];
        for (int i = 0; i < count; i++)
        {
            x[i] = -103f + 191f * i / (count - 1);
        }
        var y = new float[count];
        System.Numerics.Tensors.TensorPrimitives.Exp(x, y);
        for (int i = 0; i < count; i++)
        {
            double expected = Math.Exp(x[i]);
            if (expected < 1.2e-38)
            {
                // Subnormal results: only an absolute bound is meaningful.
                AssertClose(expected, y[i], 2e-45, 0, $"exp({x[i]:R})");
            }
            else
            {
                AssertClose(expected, y[i], 0, 1.8e-7, $"exp({x[i]:R})");
            }
        }
        float[] special = [float.NegativeInfinity, float.MinValue, -10000f, 0f];
        System.Numerics.Tensors.TensorPrimitives.Exp(special, special);
        Assert.Equal(new float[] { 0f, 0f, 0f }, special[..3]);
        AssertClose(1.0, special[3], 0, 1.2e-7, "exp(0)"); // TensorPrimitives returns 1 + 1 ulp here
    }

    [Fact]
    public void SoftmaxRowOfMinValueIsUniform()
    {
        var x = new float[33];
        Array.Fill(x, float.MinValue);
        Normalization.SoftmaxRows(x, 1, 33);
        Assert.All(x, v => Assert.Equal(1f / 33f, v, 1e-7f));
    }

    [Fact]
    public void RejectsMismatchedLengths()
    {
        Assert.Throws<ArgumentException>(() => Normalization.SoftmaxRows(new float[5], 2, 3));
        Assert.Throws<ArgumentException>(() => Normalization.LayerNorm(new float[6], new float[5], new float[3], new float[3], 2, 3, 1e-5f));
        Assert.Throws<ArgumentException>(() => Normalization.LayerNorm(new float[5], new float[6], new float[3], new float[3], 2, 3, 1e-5f));
        Assert.Throws<ArgumentException>(() => Normalization.LayerNorm(new float[6], new float[6], new float[2], new float[3], 2, 3, 1e-5f));
        Assert.Throws<ArgumentException>(() => Normalization.LayerNorm(new float[6], new float[6], new float[3], new float[4], 2, 3, 1e-5f));
    }
}
