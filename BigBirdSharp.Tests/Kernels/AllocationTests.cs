using BigBirdSharp.Backends;
using BigBirdSharp.Kernels;
using static BigBirdSharp.Tests.Kernels.KernelTestData;

namespace BigBirdSharp.Tests.Kernels;

/// <summary>Runs alone: it also counts bytes allocated by other threads (the pool's workers).</summary>
[CollectionDefinition(nameof(AllocationTests), DisableParallelization = true)]
public sealed class AllocationTestsCollection;

[Collection(nameof(AllocationTests))]
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

    [Fact]
    public void PackedLinearAndFusedRowKernelsAllocateNothingOnAnyThread()
    {
        var rng = new Random(8);
        const int m = 200, n = 300, k = 260; // several row parts, two K blocks, ragged edges
        float[] x = Normal(rng, m * k, 0, 1);
        float[] bias = Normal(rng, n, 0, 1);
        float[] gamma = Normal(rng, n, 1, 0.1);
        float[] beta = Normal(rng, n, 0, 0.1);
        float[] mask = Normal(rng, n, 0, 1);
        float[] wt = Normal(rng, n * k, 0, 1);
        var w = new PackedMatrix(wt, n, k);
        var y = new float[m * n];
        var z = new float[m * n];
        var pool = ComputePool.Shared;

        void Work()
        {
            Gemm.Linear(y, x, w, bias, m, ActivationKind.Gelu);
            Gemm.Linear(y, x, w, bias, m, ActivationKind.Tanh, accumulate: true, parallel: true, pool);
            Gemm.Linear(y, x, w, [], m, ActivationKind.Linear, accumulate: true, parallel: true, pool);
            Gemm.Multiply(z, x, wt, m, n, k, transposeB: true);
            Normalization.AddLayerNorm(z, y, z, gamma, beta, m, n, 1e-12f);
            Normalization.MaskedSoftmaxRows(y, m, n, 0.125f, mask);
        }

        Work(); // warm-up: per-thread packing buffers and work objects are created here
        Work();
        // Other threads (the test host) may allocate now and then, so several one-call windows are tried; a hot
        // path that allocates on every call fails every window.
        long bestTotal = long.MaxValue, bestThread = long.MaxValue;
        for (int attempt = 0; attempt < 10 && (bestTotal > 0 || bestThread > 0); attempt++)
        {
            long total = GC.GetTotalAllocatedBytes(precise: true);
            long thread = GC.GetAllocatedBytesForCurrentThread();
            Work();
            bestThread = Math.Min(bestThread, GC.GetAllocatedBytesForCurrentThread() - thread);
            bestTotal = Math.Min(bestTotal, GC.GetTotalAllocatedBytes(precise: true) - total);
        }
        Assert.Equal(0, bestThread);
        Assert.Equal(0, bestTotal);
    }
}
