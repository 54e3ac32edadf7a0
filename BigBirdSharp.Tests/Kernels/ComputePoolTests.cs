using BigBirdSharp.Kernels;

namespace BigBirdSharp.Tests.Kernels;

public class ComputePoolTests
{
    /// <summary>Counts how often each item ran and on which thread, optionally throwing or dispatching again.</summary>
    private sealed class RecordingWork(int count) : IComputeWork
    {
        public readonly int[] Runs = new int[count];
        public readonly int[] Threads = new int[count];
        public readonly bool[] MarkedAsWorker = new bool[count];
        public int ThrowAt = -1;
        public Func<Exception> Error = () => new InvalidOperationException("item failed");
        public (ComputePool Pool, RecordingWork Inner)? Nested;
        public int[] NestedThreadMismatches = new int[count];

        public void Run(int item)
        {
            Interlocked.Increment(ref Runs[item]);
            Threads[item] = Environment.CurrentManagedThreadId;
            MarkedAsWorker[item] = KernelThreading.InParallelWorker;
            if (Nested is { } nested)
            {
                var inner = new RecordingWork(4);
                nested.Pool.Run(inner, 4);
                NestedThreadMismatches[item] = inner.Threads.Count(t => t != Environment.CurrentManagedThreadId);
            }
            if (item == ThrowAt)
            {
                throw Error();
            }
            Thread.SpinWait(2000);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(8)]
    public void EveryItemRunsExactlyOnceOnEveryDispatch(int threads)
    {
        using var pool = new ComputePool(threads);
        Assert.Equal(threads, pool.ThreadCount);
        foreach (int count in new[] { 0, 1, 2, 3, 7, 64, 257 })
        {
            for (int rep = 0; rep < 20; rep++)
            {
                var work = new RecordingWork(Math.Max(count, 1));
                pool.Run(work, count);
                for (int i = 0; i < count; i++)
                {
                    Assert.Equal(1, work.Runs[i]);
                    Assert.True(work.MarkedAsWorker[i], "items run with the worker mark set");
                }
            }
        }
        Assert.False(KernelThreading.InParallelWorker, "the caller's mark is restored");
    }

    [Fact]
    public void UsesMoreThanOneThreadWhenItemsAreLong()
    {
        using var pool = new ComputePool(2);
        bool sawTwo = false;
        for (int rep = 0; rep < 50 && !sawTwo; rep++)
        {
            var work = new RecordingWork(16);
            pool.Run(work, 16);
            sawTwo = work.Threads.Distinct().Count() > 1;
        }
        Assert.True(sawTwo, "a worker thread took part in at least one of 50 dispatches");
    }

    [Fact]
    public void ExceptionPropagatesWithItsOriginalType()
    {
        using var pool = new ComputePool(3);
        var work = new RecordingWork(32) { ThrowAt = 17 };
        var e = Assert.Throws<InvalidOperationException>(() => pool.Run(work, 32));
        Assert.Equal("item failed", e.Message);
        Assert.All(work.Runs, r => Assert.Equal(1, r)); // the other items still ran, once
        var custom = new RecordingWork(8) { ThrowAt = 0, Error = () => new ArgumentOutOfRangeException("p") };
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Run(custom, 8));
        // The pool is still usable afterwards.
        var after = new RecordingWork(10);
        pool.Run(after, 10);
        Assert.All(after.Runs, r => Assert.Equal(1, r));
        Assert.False(KernelThreading.InParallelWorker);
    }

    [Fact]
    public void NestedDispatchRunsSeriallyOnTheCallingThread()
    {
        using var pool = new ComputePool(2);
        var outer = new RecordingWork(8);
        outer.Nested = (pool, outer);
        pool.Run(outer, 8);
        Assert.All(outer.Runs, r => Assert.Equal(1, r));
        Assert.All(outer.NestedThreadMismatches, mismatches => Assert.Equal(0, mismatches));
    }

    [Fact]
    public void DispatchFromAnAttentionWorkerRunsSerially()
    {
        using var pool = new ComputePool(4);
        var work = new RecordingWork(6);
        int caller = 0;
        KernelThreading.RunAsWorker(0, _ =>
        {
            caller = Environment.CurrentManagedThreadId;
            pool.Run(work, 6);
        });
        Assert.All(work.Threads, t => Assert.Equal(caller, t));
    }

    [Fact]
    public void ConcurrentCallersAllComplete()
    {
        // A caller that finds the pool busy runs serially; every caller still gets all its items done once.
        using var pool = new ComputePool(2);
        var works = Enumerable.Range(0, 4).Select(_ => new RecordingWork(40)).ToArray();
        Parallel.For(0, works.Length, i =>
        {
            for (int rep = 0; rep < 5; rep++)
            {
                var w = new RecordingWork(40);
                pool.Run(w, 40);
                Assert.All(w.Runs, r => Assert.Equal(1, r));
            }
        });
    }

    [Fact]
    public void RejectsBadThreadCountsAndDisposedUse()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ComputePool(0));
        var pool = new ComputePool(2);
        pool.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pool.Run(new RecordingWork(2), 2));
        Assert.Throws<ArgumentNullException>(() => ComputePool.Shared = null!);
        Assert.Equal(Environment.ProcessorCount, ComputePool.Shared.ThreadCount);
    }
}
