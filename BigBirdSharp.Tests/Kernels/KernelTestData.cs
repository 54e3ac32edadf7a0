using BigBirdSharp.Kernels;

namespace BigBirdSharp.Tests.Kernels;

/// <summary>Shared inputs for the kernel tests.</summary>
internal static class KernelTestData
{
    /// <summary>Lengths around every vector width and its multiples, so each tail case runs.</summary>
    internal static readonly int[] Lengths = [0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 65, 127, 129, 257];

    /// <summary>
    /// Every forced vector path (the scalar path is the reference they are compared with). No path is skipped: on a
    /// machine without a width (e.g. no AVX-512) the forced path runs the vector types' software fallback, which
    /// still executes the kernel's own code, so its logic is checked everywhere; only its speed needs the hardware.
    /// </summary>
    internal static readonly KernelPath[] VectorPaths = [KernelPath.Vector128, KernelPath.Vector256, KernelPath.Vector512];

    internal static float[] Uniform(System.Random rng, int length, float low, float high)
    {
        var data = new float[length];
        for (int i = 0; i < length; i++)
        {
            data[i] = low + (float)rng.NextDouble() * (high - low);
        }
        return data;
    }

    /// <summary>Normal(mean, std) values via Box-Muller.</summary>
    internal static float[] Normal(System.Random rng, int length, double mean, double std)
    {
        var data = new float[length];
        for (int i = 0; i < length; i++)
        {
            double u1 = 1.0 - rng.NextDouble();
            double u2 = rng.NextDouble();
            data[i] = (float)(mean + std * Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2));
        }
        return data;
    }

    /// <summary>Values over the activation range plus the special ones, shuffled in.</summary>
    internal static float[] ActivationInputs(System.Random rng, int length)
    {
        float[] specials = [0f, -0f, float.NaN, float.PositiveInfinity, float.NegativeInfinity, 1f, -1f,
                            3.95f, -3.95f, 2.5f, -2.5f, 1e-30f, -1e-30f, 40f, -40f, 1e30f, -1e30f];
        float[] data = Uniform(rng, length, -12f, 12f);
        for (int i = 0; i < length; i += 5)
        {
            data[i] = specials[rng.Next(specials.Length)];
        }
        return data;
    }

    /// <summary>Bitwise equality, treating every NaN as equal to every NaN.</summary>
    internal static void AssertSameFloats(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string context)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            bool same = float.IsNaN(expected[i]) ? float.IsNaN(actual[i])
                : BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]);
            Assert.True(same, $"{context}: index {i}: expected {expected[i]:R}, got {actual[i]:R}");
        }
    }

    /// <summary>|actual − expected| ≤ abs + rel·|expected|, NaN only against NaN, infinities exactly.</summary>
    internal static void AssertClose(double expected, float actual, double abs, double rel, string context)
    {
        if (double.IsNaN(expected))
        {
            Assert.True(float.IsNaN(actual), $"{context}: expected NaN, got {actual:R}");
            return;
        }
        if (double.IsInfinity(expected))
        {
            Assert.True((double)actual == expected, $"{context}: expected {expected}, got {actual:R}");
            return;
        }
        double diff = Math.Abs(actual - expected);
        Assert.True(diff <= abs + rel * Math.Abs(expected),
            $"{context}: expected {expected:R}, got {actual:R}, |diff| {diff:E3} > {abs:E1} + {rel:E1}·|expected|");
    }
}
