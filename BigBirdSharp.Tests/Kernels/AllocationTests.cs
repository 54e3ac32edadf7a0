using BigBirdSharp.Backends;
using BigBirdSharp.Kernels;
using static BigBirdSharp.Tests.Kernels.KernelTestData;

namespace BigBirdSharp.Tests.Kernels;

public class AllocationTests
{
    [Fact]
    public void HotPathsDoNotAllocateAfterWarmUp()
    {
        var rng = new Random(4);
        const int rows = 32, cols = 96, outF = 40;
        float[] x = Normal(rng, rows * cols, 0, 1);
        float[] w = Normal(rng, outF * cols, 0, 1);
        float[] bias = Normal(rng, outF, 0, 1);
        float[] gamma = Normal(rng, cols, 1, 0.1);
        float[] beta = Normal(rng, cols, 0, 0.1);
        var y = new float[rows * outF];
        var ln = new float[rows * cols];
        var gathered = new float[3 * cols];
        int[] indices = [5, 0, 31];
        CpuBackend cpu = CpuBackend.Instance;
        ActivationKind[] kinds = Enum.GetValues<ActivationKind>();

        void Work()
        {
            cpu.Linear(y, x, w, bias, rows, cols, outF);
            cpu.MatMul(y, x, w, rows, outF, cols, transposeB: true, alpha: 0.5f, accumulate: true);
            cpu.LayerNorm(ln, x, gamma, beta, rows, cols, 1e-12f);
            cpu.SoftmaxRows(ln, rows, cols);
            foreach (ActivationKind kind in kinds)
            {
                cpu.Activate(ln, kind);
            }
            cpu.Add(ln, ln, x);
            cpu.GatherRows(gathered, x, indices, cols);
        }

        Work(); // warm-up: the per-thread GEMM packing buffer is created here
        long before = GC.GetAllocatedBytesForCurrentThread();
        Work();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
    }
}
