using BigBirdSharp.Backends;
using BigBirdSharp.Kernels;
using static BigBirdSharp.Tests.Kernels.KernelTestData;

namespace BigBirdSharp.Tests.Kernels;

public class CpuBackendTests
{
    private static readonly CpuBackend Cpu = CpuBackend.Instance;

    [Fact]
    public void DescribesItself()
    {
        Assert.Equal("cpu", Cpu.Name);
        Assert.All(Enum.GetValues<BackendOp>(), op => Assert.True(Cpu.Supports(op)));
        Assert.False(Cpu.Supports((BackendOp)1234));
        Assert.Same(CpuBackend.Instance, CpuBackend.Instance);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void LinearMatchesPlainLoops(bool withBias)
    {
        var rng = new System.Random(withBias ? 1 : 2);
        const int rows = 13, inF = 70, outF = 37;
        float[] x = Normal(rng, rows * inF, 0, 1);
        float[] w = Normal(rng, outF * inF, 0, 0.1);
        float[] bias = withBias ? Normal(rng, outF, 0, 1) : [];
        var y = new float[rows * outF];
        Array.Fill(y, float.NaN); // stale contents must not leak into the result
        Cpu.Linear(y, x, w, bias, rows, inF, outF);
        for (int r = 0; r < rows; r++)
        {
            for (int o = 0; o < outF; o++)
            {
                double sum = withBias ? bias[o] : 0;
                double absSum = withBias ? Math.Abs(bias[o]) : 0;
                for (int i = 0; i < inF; i++)
                {
                    sum += (double)x[r * inF + i] * w[o * inF + i];
                    absSum += Math.Abs((double)x[r * inF + i] * w[o * inF + i]);
                }
                // fp32 accumulation bound as in GemmTests: 2·(k + 4)·2⁻²⁴·Σ|terms|.
                AssertClose(sum, y[r * outF + o], 2 * (inF + 4) * Math.Pow(2, -24) * absSum, 0, $"y[{r},{o}]");
            }
        }
    }

    [Fact]
    public void MatMulAccumulatesWithAlpha()
    {
        float[] a = [1, 2, 3, 4];
        float[] b = [5, 6, 7, 8];
        float[] c = [1, 1, 1, 1];
        Cpu.MatMul(c, a, b, 2, 2, 2, transposeB: false, alpha: 0.5f, accumulate: true);
        // a·b = [19 22; 43 50]
        Assert.Equal(new float[] { 10.5f, 12f, 22.5f, 26f }, c);
    }

    [Fact]
    public void ElementwiseOpsWork()
    {
        float[] a = [1, 2, 3];
        float[] b = [10, 20, 30];
        Cpu.Add(a, a, b);
        Assert.Equal(new float[] { 11, 22, 33 }, a);

        float[] src = [0, 1, 2, 10, 11, 12, 20, 21, 22];
        var dst = new float[12];
        Cpu.GatherRows(dst, src, [2, 0, 2, 1], 3);
        Assert.Equal(new float[] { 20, 21, 22, 0, 1, 2, 20, 21, 22, 10, 11, 12 }, dst);

        float[] s = [0f, 0f, float.MinValue, float.MinValue];
        Cpu.SoftmaxRows(s, 2, 2);
        Assert.Equal(new float[] { 0.5f, 0.5f, 0.5f, 0.5f }, s);

        float[] r = [-1f, 7f];
        Cpu.Activate(r, ActivationKind.Relu6);
        Assert.Equal(new float[] { 0f, 6f }, r);

        float[] ln = [1f, 3f];
        var lnOut = new float[2];
        Cpu.LayerNorm(lnOut, ln, [1f, 1f], [0f, 0f], 1, 2, 0f);
        Assert.Equal(new float[] { -1f, 1f }, lnOut);
    }

    // One test per validation error path.

    [Fact]
    public void MatMulRejectsShortA() =>
        Assert.Throws<ArgumentException>(() => Cpu.MatMul(new float[4], new float[3], new float[4], 2, 2, 2, false));

    [Fact]
    public void MatMulRejectsShortB() =>
        Assert.Throws<ArgumentException>(() => Cpu.MatMul(new float[4], new float[4], new float[3], 2, 2, 2, true));

    [Fact]
    public void MatMulRejectsShortC() =>
        Assert.Throws<ArgumentException>(() => Cpu.MatMul(new float[3], new float[4], new float[4], 2, 2, 2, false));

    [Fact]
    public void MatMulRejectsNegativeSize() =>
        Assert.Throws<ArgumentException>(() => Cpu.MatMul(new float[0], new float[0], new float[0], 0, -1, 0, false));

    [Fact]
    public void LinearRejectsWrongBias() =>
        Assert.Throws<ArgumentException>(() => Cpu.Linear(new float[6], new float[4], new float[6], new float[2], 2, 2, 3));

    [Fact]
    public void LinearRejectsWrongWeight() =>
        Assert.Throws<ArgumentException>(() => Cpu.Linear(new float[6], new float[4], new float[5], new float[3], 2, 2, 3));

    [Fact]
    public void LinearRejectsWrongInput() =>
        Assert.Throws<ArgumentException>(() => Cpu.Linear(new float[6], new float[5], new float[6], [], 2, 2, 3));

    [Fact]
    public void LinearRejectsWrongOutputWithoutTouchingIt()
    {
        var y = new float[5];
        Assert.Throws<ArgumentException>(() => Cpu.Linear(y, new float[4], new float[6], [1f, 2f, 3f], 2, 2, 3));
        Assert.All(y, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void LayerNormRejectsWrongInput() =>
        Assert.Throws<ArgumentException>(() => Cpu.LayerNorm(new float[6], new float[7], new float[3], new float[3], 2, 3, 1e-5f));

    [Fact]
    public void LayerNormRejectsWrongOutput() =>
        Assert.Throws<ArgumentException>(() => Cpu.LayerNorm(new float[7], new float[6], new float[3], new float[3], 2, 3, 1e-5f));

    [Fact]
    public void LayerNormRejectsWrongGamma() =>
        Assert.Throws<ArgumentException>(() => Cpu.LayerNorm(new float[6], new float[6], new float[2], new float[3], 2, 3, 1e-5f));

    [Fact]
    public void LayerNormRejectsWrongBeta() =>
        Assert.Throws<ArgumentException>(() => Cpu.LayerNorm(new float[6], new float[6], new float[3], new float[2], 2, 3, 1e-5f));

    [Fact]
    public void SoftmaxRejectsWrongLength() =>
        Assert.Throws<ArgumentException>(() => Cpu.SoftmaxRows(new float[7], 2, 3));

    [Fact]
    public void SoftmaxRejectsNegativeSize() =>
        Assert.Throws<ArgumentException>(() => Cpu.SoftmaxRows(new float[0], -1, 0));

    [Fact]
    public void ActivateRejectsUnknownKind() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Cpu.Activate(new float[1], (ActivationKind)(-1)));

    [Fact]
    public void AddRejectsMismatchedInputs() =>
        Assert.Throws<ArgumentException>(() => Cpu.Add(new float[3], new float[3], new float[2]));

    [Fact]
    public void AddRejectsMismatchedOutput() =>
        Assert.Throws<ArgumentException>(() => Cpu.Add(new float[2], new float[3], new float[3]));

    [Fact]
    public void GatherRejectsWrongDestination() =>
        Assert.Throws<ArgumentException>(() => Cpu.GatherRows(new float[5], new float[6], [0, 1], 3));

    [Fact]
    public void GatherRejectsRaggedSource() =>
        Assert.Throws<ArgumentException>(() => Cpu.GatherRows(new float[6], new float[7], [0, 1], 3));

    [Fact]
    public void GatherRejectsIndexOutOfRange()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Cpu.GatherRows(new float[6], new float[6], [0, 2], 3));
        Assert.Equal("rowIndices", e.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => Cpu.GatherRows(new float[3], new float[6], [-1], 3));
    }

    [Fact]
    public void GatherRejectsNegativeRowLength() =>
        Assert.Throws<ArgumentException>(() => Cpu.GatherRows(new float[0], new float[6], [], -3));

    [Fact]
    public void ConcurrentCallsAgree()
    {
        var rng = new System.Random(9);
        const int m = 64, n = 96, k = 128;
        float[] a = Normal(rng, m * k, 0, 1), b = Normal(rng, n * k, 0, 1);
        var expected = new float[m * n];
        Cpu.MatMul(expected, a, b, m, n, k, true);
        Parallel.For(0, 8, _ =>
        {
            var c = new float[m * n];
            Cpu.MatMul(c, a, b, m, n, k, true);
            AssertSameFloats(expected, c, "concurrent MatMul");
        });
    }
}
