using BigBirdSharp.Kernels;
using FsCheck.Xunit;
using MathNet.Numerics;
using static BigBirdSharp.Tests.Kernels.KernelTestData;

namespace BigBirdSharp.Tests.Kernels;

public class ActivationTests
{
    private static readonly float[] PyTorchInputs = [-20f, -10.5f, -6.5f, -3f, -1f, -0.5f, 0f, 0.5f, 1f, 3f, 6.5f, 10.5f, 20f];

    /// <summary>Printed by torch 1.13 (CPU, float32) with the formulas of transformers 4.27.1 activations.py.</summary>
    private static readonly Dictionary<ActivationKind, float[]> PyTorchOutputs = new()
    {
    [ActivationKind.Gelu] = [0.0f, 0.0f, 0.0f, -0.004049867391586304f, -0.1586552858352661f, -0.1542687863111496f, 0.0f, 0.3457311987876892f, 0.8413447141647339f, 2.995950222015381f, 6.5f, 10.5f, 20.0f],
    [ActivationKind.GeluNew] = [-0.0f, -0.0f, -0.0f, -0.0036374330520629883f, -0.15880799293518066f, -0.1542859971523285f, 0.0f, 0.3457140028476715f, 0.8411920070648193f, 2.9963626861572266f, 6.5f, 10.5f, 20.0f],
    [ActivationKind.GeluFast] = [-0.0f, -0.0f, -0.0f, -0.0036374330520629883f, -0.15880799293518066f, -0.1542859971523285f, 0.0f, 0.3457140028476715f, 0.8411920070648193f, 2.9963626861572266f, 6.5f, 10.5f, 20.0f],
    [ActivationKind.GeluPytorchTanh] = [-0.0f, -0.0f, -0.0f, -0.0036374330520629883f, -0.15880799293518066f, -0.1542859971523285f, 0.0f, 0.3457140028476715f, 0.8411920070648193f, 2.9963626861572266f, 6.5f, 10.5f, 20.0f],
    [ActivationKind.GeluPython] = [-0.0f, -0.0f, -0.0f, -0.0040496885776519775f, -0.15865525603294373f, -0.1542687714099884f, 0.0f, 0.3457312285900116f, 0.8413447141647339f, 2.995950222015381f, 6.5f, 10.5f, 20.0f],
    [ActivationKind.Gelu10] = [0.0f, 0.0f, 0.0f, -0.004049867391586304f, -0.1586552858352661f, -0.1542687863111496f, 0.0f, 0.3457311987876892f, 0.8413447141647339f, 2.995950222015381f, 6.5f, 10.0f, 10.0f],
    [ActivationKind.QuickGelu] = [-3.293407078086216e-14f, -1.8193343009897944e-07f, -0.00010193112393608317f, -0.018071310594677925f, -0.15420423448085785f, -0.14961156249046326f, 0.0f, 0.35038843750953674f, 0.845795750617981f, 2.981928825378418f, 6.4998979568481445f, 10.5f, 20.0f],
    [ActivationKind.Relu] = [0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.5f, 1.0f, 3.0f, 6.5f, 10.5f, 20.0f],
    [ActivationKind.Relu6] = [0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.5f, 1.0f, 3.0f, 6.0f, 6.0f, 6.0f],
    [ActivationKind.Silu] = [-4.1223074731533416e-08f, -0.00028912475681863725f, -0.009757684543728828f, -0.14227761328220367f, -0.2689414322376251f, -0.1887703388929367f, 0.0f, 0.3112296760082245f, 0.7310585975646973f, 2.857722520828247f, 6.490242004394531f, 10.499711036682129f, 20.0f],
    [ActivationKind.Mish] = [-4.1223074731533416e-08f, -0.0002891287440434098f, -0.009765008464455605f, -0.14564746618270874f, -0.3034014403820038f, -0.22074376046657562f, 0.0f, 0.37524524331092834f, 0.8650983572006226f, 2.98653507232666f, 6.499970436096191f, 10.5f, 20.0f],
    [ActivationKind.Tanh] = [-1.0f, -1.0f, -0.9999954700469971f, -0.9950547814369202f, -0.7615941762924194f, -0.46211716532707214f, 0.0f, 0.46211716532707214f, 0.7615941762924194f, 0.9950547814369202f, 0.9999954700469971f, 1.0f, 1.0f],
    [ActivationKind.Sigmoid] = [2.06115369216775e-09f, 2.7535690605873242e-05f, 0.0015011822106316686f, 0.04742587357759476f, 0.2689414322376251f, 0.3775406777858734f, 0.5f, 0.622459352016449f, 0.7310585975646973f, 0.9525741338729858f, 0.998498797416687f, 0.9999724626541138f, 1.0f],
    [ActivationKind.Linear] = [-20.0f, -10.5f, -6.5f, -3.0f, -1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 3.0f, 6.5f, 10.5f, 20.0f],
    };

    /// <summary>High-precision definitions of every activation (erf from MathNet).</summary>
    private static double Oracle(ActivationKind kind, double x)
    {
        double Sigmoid(double z) => 1.0 / (1.0 + Math.Exp(-z));
        double ErfGelu(double z) => 0.5 * z * (1.0 + SpecialFunctions.Erf(z / Math.Sqrt(2.0)));
        double TanhGelu(double z) => 0.5 * z * (1.0 + Math.Tanh(Math.Sqrt(2.0 / Math.PI) * (z + 0.044715 * z * z * z)));
        return kind switch
        {
            ActivationKind.Gelu or ActivationKind.GeluPython => ErfGelu(x),
            ActivationKind.Gelu10 => Math.Clamp(ErfGelu(x), -10.0, 10.0),
            ActivationKind.GeluNew or ActivationKind.GeluPytorchTanh => TanhGelu(x),
            ActivationKind.GeluFast => 0.5 * x * (1.0 + Math.Tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x))),
            ActivationKind.QuickGelu => x * Sigmoid(1.702 * x),
            ActivationKind.Relu => Math.Max(x, 0.0),
            ActivationKind.Relu6 => Math.Min(Math.Max(x, 0.0), 6.0),
            ActivationKind.Silu => x * Sigmoid(x),
            ActivationKind.Mish => x * Math.Tanh(x > 20 ? x : Math.Log(1.0 + Math.Exp(x))),
            ActivationKind.Tanh => Math.Tanh(x),
            ActivationKind.Sigmoid => Sigmoid(x),
            ActivationKind.Linear => x,
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
    }

    public static TheoryData<ActivationKind> AllKinds() => new(Enum.GetValues<ActivationKind>());

    [Theory]
    [MemberData(nameof(AllKinds))]
    public void MatchesPyTorchPrintedValues(ActivationKind kind)
    {
        var x = (float[])PyTorchInputs.Clone();
        Activations.Apply(x, kind);
        float[] expected = PyTorchOutputs[kind];
        for (int i = 0; i < x.Length; i++)
        {
            AssertClose(expected[i], x[i], 1e-6, 1e-5, $"{kind}({PyTorchInputs[i]})");
        }
    }

    [Theory]
    [MemberData(nameof(AllKinds))]
    public void MatchesDoubleFormulaOnDenseGrid(ActivationKind kind)
    {
        // 20001 points on [-12, 12] hit every chunk boundary and SIMD tail. The bound allows a few float roundings
        // relative to the value, plus an absolute part of 3e-7·max(1,|x|) for the 1 ± tanh / 1 + erf cancellation
        // on the negative side, where outputs are tiny but inputs are not.
        const int count = 20001;
        var x = new float[count];
        for (int i = 0; i < count; i++)
        {
            x[i] = -12f + 24f * i / (count - 1);
        }
        var y = (float[])x.Clone();
        Activations.Apply(y, kind);
        for (int i = 0; i < count; i++)
        {
            double expected = Oracle(kind, x[i]);
            AssertClose(expected, y[i], 3e-7 * Math.Max(1.0, Math.Abs(x[i])), 1e-6, $"{kind}({x[i]:R})");
        }
    }

    [Theory]
    [MemberData(nameof(AllKinds))]
    public void SpecialValues(ActivationKind kind)
    {
        float[] x = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, 0f, 1e30f, -1e30f];
        Activations.Apply(x, kind);
        Assert.True(float.IsNaN(x[0]), $"{kind}(NaN) = {x[0]}");
        Assert.Equal(kind == ActivationKind.Sigmoid ? 0.5f : 0f, x[3]);
        switch (kind)
        {
            case ActivationKind.Tanh:
                Assert.Equal(new[] { 1f, -1f, 1f, -1f }, new[] { x[1], x[2], x[4], x[5] });
                break;
            case ActivationKind.Sigmoid:
                Assert.Equal(new[] { 1f, 0f, 1f, 0f }, new[] { x[1], x[2], x[4], x[5] });
                break;
            case ActivationKind.Relu6:
                Assert.Equal(new[] { 6f, 0f, 6f, 0f }, new[] { x[1], x[2], x[4], x[5] });
                break;
            case ActivationKind.Gelu10:
                Assert.Equal(new[] { 10f, 10f }, new[] { x[1], x[4] });
                break;
            case ActivationKind.Linear:
                Assert.Equal(new[] { float.PositiveInfinity, float.NegativeInfinity }, new[] { x[1], x[2] });
                break;
            default:
                Assert.Equal(float.PositiveInfinity, x[1]);
                Assert.Equal(1e30f, x[4]);
                break;
        }
    }

    [Fact]
    public void TanhIsRelativelyAccurateNearZero()
    {
        var x = new float[2000];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (i % 2 == 0 ? 1f : -1f) * MathF.Pow(10f, -7f + 7f * i / x.Length);
        }
        var y = (float[])x.Clone();
        Activations.Apply(y, ActivationKind.Tanh);
        for (int i = 0; i < x.Length; i++)
        {
            AssertClose(Math.Tanh(x[i]), y[i], 0, 2e-7, $"tanh({x[i]:R})");
        }
    }

    [Fact]
    public void ErfMatchesMathNetWithin2e7()
    {
        var rng = new System.Random(7);
        double worst = 0;
        for (int i = 0; i < 200_000; i++)
        {
            float x = i < 100_000 ? -5f + 10f * i / 100_000 : (float)(rng.NextDouble() * 10 - 5);
            double diff = Math.Abs(ErfKernels.Erf(x) - SpecialFunctions.Erf(x));
            worst = Math.Max(worst, diff);
        }
        Assert.True(worst <= 2e-7, $"max |erf error| {worst:E3}");
        Assert.Equal(1f, ErfKernels.Erf(float.PositiveInfinity));
        Assert.Equal(-1f, ErfKernels.Erf(float.NegativeInfinity));
        Assert.True(float.IsNaN(ErfKernels.Erf(float.NaN)));
        Assert.Equal(0f, ErfKernels.Erf(0f));
        Assert.True(float.IsNegative(ErfKernels.Erf(-0f)));
    }

    [Fact]
    public void ErfAndGeluVectorPathsEqualScalarPathOnEdgeLengths()
    {
        var rng = new System.Random(17);
        foreach (int len in Lengths)
        {
            float[] x = ActivationInputs(rng, len);
            CheckAllPaths(x);
        }
    }

    [Property(MaxTest = 60)]
    public void ErfAndGeluVectorPathsEqualScalarPathOnRandomData(float[] values)
    {
        // FsCheck supplies arbitrary floats, including NaN, infinities and subnormals.
        CheckAllPaths(values ?? []);
    }

    [Fact]
    public void TanhGeluVectorPathsEqualScalarPathOnEdgeLengths()
    {
        var rng = new System.Random(19);
        foreach (int len in Lengths)
        {
            CheckTanhGeluPaths(ActivationInputs(rng, len));
        }
    }

    [Property(MaxTest = 60)]
    public void TanhGeluVectorPathsEqualScalarPathOnRandomData(float[] values)
    {
        // FsCheck supplies arbitrary floats, including NaN, infinities and subnormals.
        CheckTanhGeluPaths(values ?? []);
    }

    [Fact]
    public void TanhGeluKeepsItsRelativeAccuracyOnTheNegativeSide()
    {
        // the exp form has no 1 + tanh cancellation: on the negative side, where a float tanh form keeps only a few
        // digits, its relative error stays that of exp(−2u) in float, a few ulp times |2u| (the conditioning of exp; a
        // tanh form has an absolute error of an ulp of 1 there instead). The oracle is the same identity in double,
        // x / (1 + exp(−2u)), because double's 1 + tanh(u) itself rounds to 0 below about u = −19.
        for (int i = 0; i <= 8000; i++)
        {
            float x = -9f + 18f * i / 8000;
            double u = Math.Sqrt(2.0 / Math.PI) * (x + 0.044715 * x * x * x);
            double exact = x / (1.0 + Math.Exp(-2.0 * u));
            float ours = TanhGeluKernels.GeluNew(x);
            AssertClose(exact, ours, 0, 2.4e-7 * (4 + Math.Abs(2 * u)), $"gelu_new({x:R})");
        }
    }

    private static void CheckTanhGeluPaths(float[] x)
    {
        foreach (bool fast in new[] { false, true })
        {
            var scalar = new float[x.Length];
            TanhGeluKernels.Run(x, scalar, KernelPath.Scalar, fast);
            for (int i = 0; i < x.Length; i++)
            {
                float one = fast ? TanhGeluKernels.GeluFast(x[i]) : TanhGeluKernels.GeluNew(x[i]);
                AssertSameFloats([one], [scalar[i]], "scalar span path vs scalar function");
            }
            foreach (KernelPath path in VectorPaths)
            {
                var y = (float[])x.Clone();
                TanhGeluKernels.Run(y, y, path, fast); // in place
                AssertSameFloats(scalar, y, $"{(fast ? "gelu_fast" : "gelu_new")} {path} length {x.Length}");
            }
        }
    }

    private static void CheckAllPaths(float[] x)
    {
        var erfScalar = new float[x.Length];
        var geluScalar = new float[x.Length];
        ErfKernels.Erf(x, erfScalar, KernelPath.Scalar);
        ErfKernels.Gelu(x, geluScalar, KernelPath.Scalar);
        for (int i = 0; i < x.Length; i++)
        {
            AssertSameFloats([ErfKernels.Erf(x[i])], [erfScalar[i]], "scalar span path vs scalar function");
        }
        foreach (KernelPath path in VectorPaths)
        {
            var erf = new float[x.Length];
            ErfKernels.Erf(x, erf, path);
            AssertSameFloats(erfScalar, erf, $"erf {path} length {x.Length}");
            var gelu = (float[])x.Clone();
            ErfKernels.Gelu(gelu, gelu, path); // in place
            AssertSameFloats(geluScalar, gelu, $"gelu {path} length {x.Length}");
        }
    }

    [Fact]
    public void ErfRejectsMismatchedLengths()
    {
        Assert.Throws<ArgumentException>(() => ErfKernels.Erf(new float[3], new float[4]));
        Assert.Throws<ArgumentException>(() => ErfKernels.Gelu(new float[4], new float[3]));
    }

    [Fact]
    public void UnknownKindIsRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Activations.Apply(new float[2], (ActivationKind)999));
    }
}
