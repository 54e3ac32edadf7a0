using BigBirdSharp.Backends;
using BigBirdSharp.Cli;
using BigBirdSharp.Kernels;

namespace BigBirdSharp.Tests.Kernels;

/// <summary>
/// Errors raised inside parallel work reach the caller as the original typed exception, never wrapped in an
/// AggregateException: the compute pool's workers, the backends' parallel loops, and the CLI's background load.
/// </summary>
public sealed class WorkerErrorTests
{
    /// <summary>The caller's item waits until a worker has thrown, so the error surely comes from a worker thread.</summary>
    private sealed class ThrowOnWorker(int caller) : IComputeWork
    {
        public volatile int ThrownOn = -1;
        public int Ran;

        public void Run(int item)
        {
            Interlocked.Increment(ref Ran);
            if (Environment.CurrentManagedThreadId == caller)
            {
                var deadline = DateTime.UtcNow.AddSeconds(10);
                while (ThrownOn < 0 && DateTime.UtcNow < deadline) Thread.Yield();
                return;
            }
            if (Interlocked.CompareExchange(ref ThrownOn, Environment.CurrentManagedThreadId, -1) == -1)
                throw new BigBirdInputException("thrown on a pool worker");
        }
    }

    [Fact]
    public void A_typed_error_thrown_on_a_pool_worker_surfaces_with_its_own_type_and_the_pool_stays_usable()
    {
        using var pool = new ComputePool(2);
        for (int round = 0; round < 3; round++)
        {
            var work = new ThrowOnWorker(Environment.CurrentManagedThreadId);
            var e = Assert.Throws<BigBirdInputException>(() => pool.Run(work, 8));
            Assert.Equal("thrown on a pool worker", e.Message);
            Assert.NotEqual(-1, work.ThrownOn);
            Assert.NotEqual(Environment.CurrentManagedThreadId, work.ThrownOn);
            Assert.Equal(8, work.Ran); // every item still ran once before the rethrow
        }
        var counted = new int[16];
        pool.Run(new CountingWork(counted), 16);
        Assert.All(counted, c => Assert.Equal(1, c));
    }

    private sealed class CountingWork(int[] counts) : IComputeWork
    {
        public void Run(int item) => Interlocked.Increment(ref counts[item]);
    }

    private sealed class ThrowAt(int item) : IComputeWork
    {
        public void Run(int i)
        {
            Thread.SpinWait(1000);
            if (i == item) throw new BigBirdInputException($"item {i} failed");
        }
    }

    /// <summary>
    /// The backends' loop (CpuParallel over the shared pool, which other tests may be using, so the items may run on
    /// the caller) passes the error through unwrapped as well.
    /// </summary>
    [Fact]
    public void A_typed_error_inside_the_backends_parallel_loop_surfaces_with_its_own_type()
    {
        var e = Assert.Throws<BigBirdInputException>(() => CpuParallel.For(16, new ThrowAt(11)));
        Assert.Equal("item 11 failed", e.Message);
        var counted = new int[8];
        CpuParallel.For(8, new CountingWork(counted));
        Assert.All(counted, c => Assert.Equal(1, c));
    }

    /// <summary>
    /// On a terminal the CLI loads on a background task while a clock ticks; Task.Wait wrapped a load error in an
    /// AggregateException, which escaped every handler (exit 134 and a stack trace for any bad checkpoint).
    /// </summary>
    [Fact]
    public void The_CLIs_interactive_load_rethrows_the_load_error_with_its_own_type()
    {
        var stderr = new StringWriter();
        var context = new TextCommandContext
        {
            Options = BigBirdCli.Options.Parse([]), Stdout = new StringWriter(), Stderr = stderr, Stdin = new MemoryStream(),
            StdinRedirected = false, Interactive = true,
        };
        var e = Assert.Throws<TensorMismatchException>(() =>
            context.Load<int>("model", () => throw new TensorMismatchException("bert.encoder.layer.4.attention.self.query.weight", "missing tensor")));
        Assert.Equal("bert.encoder.layer.4.attention.self.query.weight", e.TensorName);
        Assert.EndsWith("failed" + Environment.NewLine, stderr.ToString());
        // a slow load that succeeds still returns its value
        Assert.Equal(42, context.Load("model", () => { Thread.Sleep(300); return 42; }));
    }
}
