using BigBirdSharp.Backends;
using BigBirdSharp.Kernels;

namespace BigBirdSharp.Tests.Backends;

/// <summary>
/// The conformance suite on a CPU backend of its own thread count (<see cref="CpuBackend.Create"/>): three threads, more
/// than this machine's cores on the test machines, so every parallel operation splits differently from the shared pool's.
/// </summary>
public sealed class CpuBackendThreadsConformanceTests : BackendConformanceTests
{
    protected override IComputeBackend Backend => CpuBackend.Create(3);

    [Fact]
    public void Create_returns_one_backend_per_thread_count()
    {
        var three = CpuBackend.Create(3);
        Assert.Same(three, CpuBackend.Create(3));
        Assert.NotSame(three, CpuBackend.Create(1));
        Assert.NotSame(three, CpuBackend.Instance);
        Assert.Equal(3, three.Threads);
        Assert.Equal(1, CpuBackend.Create(1).Threads);
        Assert.Equal(ComputePool.Shared.ThreadCount, CpuBackend.Instance.Threads);
        Assert.Equal("cpu", three.Name);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-4)]
    public void Create_refuses_a_thread_count_below_one(int threads)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => CpuBackend.Create(threads));
        Assert.Equal("threads", e.ParamName);
    }

    [Fact]
    public void Operations_dispatch_to_the_backends_own_pool()
    {
        var backend = CpuBackend.Create(3);
        const int rows = 256, inFeatures = 512, outFeatures = 384; // above the GEMM's parallel threshold
        var rng = new Random(5);
        var w = new float[outFeatures * inFeatures];
        var xs = new float[rows * inFeatures];
        for (int i = 0; i < w.Length; i++) w[i] = (float)rng.NextDouble() - 0.5f;
        for (int i = 0; i < xs.Length; i++) xs[i] = (float)rng.NextDouble() - 0.5f;
        var linear = backend.BindLinear(w, ReadOnlyMemory<float>.Empty, inFeatures, outFeatures);
        using var x = backend.Allocate(xs.Length);
        using var y = backend.Allocate(rows * outFeatures);
        backend.Upload(x.All, xs);
        long before = backend.Pool.ParallelDispatches;
        backend.Linear(y.All, x.All, linear, rows);
        Assert.True(backend.Pool.ParallelDispatches > before, "the Linear did not run on the backend's 3-thread pool");
        // and the scope ends with the operation: this thread is back on the shared pool
        Assert.Same(ComputePool.Shared, ComputePool.Current);
        var result = new float[rows * outFeatures];
        backend.Download(y.All, result);
        var expected = new float[rows * outFeatures];
        GemmReference.Multiply(expected, xs, w, rows, outFeatures, inFeatures, transposeB: true);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(result[i] - expected[i]) <= 1e-4 + 1e-4 * Math.Abs(expected[i]), $"y[{i}] = {result[i]}, expected {expected[i]}");
    }

    [Fact]
    public void Use_sets_and_restores_the_threads_current_pool()
    {
        var pool = CpuBackend.Create(2).Pool;
        Assert.Same(ComputePool.Shared, ComputePool.Current);
        using (ComputePool.Use(pool))
        {
            Assert.Same(pool, ComputePool.Current);
            using (ComputePool.Use(null)) Assert.Same(pool, ComputePool.Current); // null keeps the current one
            Assert.Same(pool, ComputePool.Current);
        }
        Assert.Same(ComputePool.Shared, ComputePool.Current);
    }
}
