using BigBirdSharp.Backends;
using BigBirdSharp.Kernels;
using static BigBirdSharp.Tests.Kernels.KernelTestData;

namespace BigBirdSharp.Tests.Kernels;

public class AllocationTests
{
    [Fact]
    public void BackendOperationsDoNotAllocateAfterWarmUp()
    {
        var rng = new Random(4);
        const int rows = 32, cols = 96, outF = 40;
        var cpu = CpuBackend.Instance;
        using var x = cpu.Upload(Normal(rng, rows * cols, 0, 1));
        var linear = cpu.BindLinear(Normal(rng, outF * cols, 0, 1), Normal(rng, outF, 0, 1), cols, outF);
        using var gamma = cpu.Upload(Normal(rng, cols, 1, 0.1));
        using var beta = cpu.Upload(Normal(rng, cols, 0, 0.1));
        using var y = cpu.Allocate(rows * outF);
        using var ln = cpu.Allocate(rows * cols);
        using var heads = cpu.Allocate(rows * cols);
        ActivationKind[] kinds = Enum.GetValues<ActivationKind>();

        void Work()
        {
            cpu.Linear(y.All, x.All, linear, rows, ActivationKind.Gelu);
            cpu.LayerNorm(ln.All, x.All, x.All, gamma.All, beta.All, rows, cols, 1e-12f);
            foreach (ActivationKind kind in kinds) cpu.Activate(ln.All, kind);
            cpu.SplitHeads(heads.All, ln.All, 1, rows, 4, cols / 4);
            cpu.MergeHeads(ln.All, heads.All, 1, rows, 4, cols / 4);
            cpu.Copy(heads.All, cols, ln.All, cols, rows, cols / 2);
        }

        Work(); // warm-up: the per-thread GEMM packing buffer is created here
        long before = GC.GetAllocatedBytesForCurrentThread();
        Work();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
    }
}
