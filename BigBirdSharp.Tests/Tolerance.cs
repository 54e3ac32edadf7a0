namespace BigBirdSharp.Tests;

/// <summary>The project's parity rule against PyTorch fp32: |a − b| ≤ 1e-4 + 1e-4·|b|, b the reference.</summary>
internal static class Tolerance
{
    public const double Absolute = 1e-4, Relative = 1e-4;

    public static bool Close(float actual, float expected, double atol = Absolute, double rtol = Relative) =>
        Math.Abs((double)actual - expected) <= atol + rtol * Math.Abs((double)expected);

    /// <summary>Asserts every element is close, reporting the first miss, the worst error and the count.</summary>
    public static void AssertAllClose(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, string what,
                                      double atol = Absolute, double rtol = Relative)
    {
        Assert.True(actual.Length == expected.Length, $"{what}: {actual.Length} values, expected {expected.Length}");
        int bad = 0, first = -1;
        double worst = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double err = Math.Abs((double)actual[i] - expected[i]);
            if (double.IsNaN(err) || err > atol + rtol * Math.Abs((double)expected[i]))
            {
                bad++;
                if (first < 0) first = i;
            }
            if (!double.IsNaN(err)) worst = Math.Max(worst, err);
        }
        Assert.True(bad == 0,
            $"{what}: {bad} of {actual.Length} values outside |a-b| <= {atol} + {rtol}|b|; first at flat index {first} " +
            $"(got {(first >= 0 ? actual[first] : 0)}, expected {(first >= 0 ? expected[first] : 0)}); worst |a-b| = {worst:E3}");
    }
}
