using System.Runtime.ExceptionServices;

namespace BigBirdSharp.Kernels;

/// <summary>
/// One share of a parallel job: <see cref="Run"/> is called once for each item 0..count−1, on the caller or a pool
/// worker, in no particular order. Implementations are preallocated and reused, so a dispatch allocates nothing.
/// </summary>
internal interface IComputeWork
{
    /// <summary>Computes item <paramref name="item"/>. Items must be independent of each other.</summary>
    void Run(int item);
}

/// <summary>
/// A small persistent worker pool for the compute kernels: <see cref="ThreadCount"/> − 1 background threads plus
/// the calling thread. A dispatch publishes a preallocated <see cref="IComputeWork"/> and a count; every thread
/// then claims items with an atomic counter until none are left, and the caller returns when all items are
/// done. Nothing is allocated per dispatch. Workers spin briefly after a dispatch, then block.
/// <para>
/// A dispatch made from inside pool work (or inside <see cref="KernelThreading.RunAsWorker{TState}"/>), or while
/// another thread is dispatching on the same pool, runs all its items serially on the calling thread: no
/// nesting, no oversubscription. The first exception thrown by an item is rethrown on the caller with its
/// original type and stack once every item has finished.
/// </para>
/// </summary>
internal sealed class ComputePool : IDisposable
{
    private static ComputePool? s_shared;
    private static readonly Lock s_sharedLock = new();

    private readonly Thread[] _workers;
    private readonly Lock _dispatchLock = new();
    private readonly object _sleepLock = new();

    // Dispatch state. _state holds the generation (high 32 bits) and the next unclaimed item (low 32 bits),
    // so an item is only ever claimed for the generation whose work and count the claimer has read.
    private long _state;
    private IComputeWork? _work;
    private int _count;
    private int _completed;
    private int _sleeping;
    private Exception? _exception;
    private volatile bool _disposed;

    /// <summary>Creates a pool that runs jobs on <paramref name="threads"/> threads, the caller included.</summary>
    /// <param name="threads">Total threads per job, at least 1 (1 means everything runs on the caller).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="threads"/> is less than 1.</exception>
    public ComputePool(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ThreadCount = threads;
        _workers = new Thread[threads - 1];
        for (int i = 0; i < _workers.Length; i++)
        {
            _workers[i] = new Thread(WorkerLoop)
            {
                IsBackground = true,
                Name = $"BigBirdSharp compute {i + 1}",
            };
            _workers[i].Start();
        }
    }

    /// <summary>
    /// The pool the kernels use, created on first use with <see cref="Environment.ProcessorCount"/> threads.
    /// Setting it replaces the pool for later calls (the previous one is not disposed).
    /// </summary>
    /// <exception cref="ArgumentNullException">Set to null.</exception>
    public static ComputePool Shared
    {
        get
        {
            ComputePool? pool = Volatile.Read(ref s_shared);
            if (pool is not null)
            {
                return pool;
            }
            lock (s_sharedLock)
            {
                s_shared ??= new ComputePool(Environment.ProcessorCount);
                return s_shared;
            }
        }
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            Volatile.Write(ref s_shared, value);
        }
    }

    /// <summary>Dispatches that ran on this pool's workers (not serially on the caller); for tests.</summary>
    internal long ParallelDispatches { get; private set; }

    [ThreadStatic] private static ComputePool? t_current;

    /// <summary>
    /// The pool the kernels dispatch to on this thread: the one a <see cref="Use"/> scope set (a CPU backend of its own
    /// thread count sets it around each operation), else <see cref="Shared"/>.
    /// </summary>
    internal static ComputePool Current => t_current ?? Shared;

    /// <summary>Makes <paramref name="pool"/> this thread's <see cref="Current"/> until the returned scope is disposed; null keeps it.</summary>
    internal static Scope Use(ComputePool? pool)
    {
        ComputePool? previous = t_current;
        if (pool is not null) t_current = pool;
        return new Scope(previous);
    }

    /// <summary>Restores the previous <see cref="Current"/> (a struct, so a scope allocates nothing).</summary>
    internal readonly struct Scope(ComputePool? previous) : IDisposable
    {
        public void Dispose() => t_current = previous;
    }

    /// <summary>Threads per job, the caller included.</summary>
    public int ThreadCount { get; }

    /// <summary>True when a dispatch from this thread would run serially (inside pool work or a parallel worker).</summary>
    internal static bool InWorker => KernelThreading.InParallelWorker;

    /// <summary>
    /// Runs <c>work.Run(i)</c> for i in 0..count−1 on the pool and returns when all have finished. Serial on the
    /// caller when the pool has one thread, count ≤ 1, the caller is itself a worker, or the pool is busy.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The pool was disposed.</exception>
    internal void Run(IComputeWork work, int count)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (count <= 0)
        {
            return;
        }
        if (count == 1 || _workers.Length == 0 || InWorker || !_dispatchLock.TryEnter())
        {
            RunSerial(work, count);
            return;
        }
        try
        {
            ParallelDispatches++;
            _work = work;
            _count = count;
            _completed = 0;
            _exception = null;
            long generation = (Volatile.Read(ref _state) >> 32) + 1;
            // Publishes work and count (the exchange is a full fence) and opens claiming from item 0.
            Interlocked.Exchange(ref _state, generation << 32);
            if (Volatile.Read(ref _sleeping) > 0)
            {
                lock (_sleepLock)
                {
                    Monitor.PulseAll(_sleepLock);
                }
            }
            bool outer = KernelThreading.EnterWorker();
            try
            {
                RunItems(generation, work, count);
            }
            finally
            {
                KernelThreading.ExitWorker(outer);
            }
            var spin = new SpinWait();
            while (Volatile.Read(ref _completed) < count)
            {
                spin.SpinOnce(sleep1Threshold: -1);
            }
            Exception? error = _exception;
            _work = null;
            _exception = null;
            if (error is not null)
            {
                ExceptionDispatchInfo.Capture(error).Throw();
            }
        }
        finally
        {
            _dispatchLock.Exit();
        }
    }

    private static void RunSerial(IComputeWork work, int count)
    {
        bool outer = KernelThreading.EnterWorker();
        try
        {
            for (int i = 0; i < count; i++)
            {
                work.Run(i);
            }
        }
        finally
        {
            KernelThreading.ExitWorker(outer);
        }
    }

    /// <summary>Claims and runs items of <paramref name="generation"/> until none are left or it has ended.</summary>
    private void RunItems(long generation, IComputeWork work, int count)
    {
        while (true)
        {
            long state = Volatile.Read(ref _state);
            int item = (int)state;
            if (state >> 32 != generation || item >= count)
            {
                return;
            }
            if (Interlocked.CompareExchange(ref _state, state + 1, state) != state)
            {
                continue;
            }
            try
            {
                work.Run(item);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _exception, e, null);
            }
            Interlocked.Increment(ref _completed);
        }
    }

    private void WorkerLoop()
    {
        KernelThreading.EnterWorker();
        long seen = 0;
        while (!_disposed)
        {
            long generation = WaitForGeneration(seen);
            if (generation < 0)
            {
                return;
            }
            seen = generation;
            // Read after the generation (acquire): these belong to it or to a later one, in which case the
            // claim in RunItems fails because the generation no longer matches.
            IComputeWork? work = Volatile.Read(ref _work);
            int count = Volatile.Read(ref _count);
            if (work is not null)
            {
                RunItems(generation, work, count);
            }
        }
    }

    /// <summary>Spins, then blocks, until a generation after <paramref name="seen"/> is published; −1 when disposed.</summary>
    private long WaitForGeneration(long seen)
    {
        var spin = new SpinWait();
        for (int i = 0; i < 200; i++)
        {
            long g = Volatile.Read(ref _state) >> 32;
            if (g != seen)
            {
                return g;
            }
            spin.SpinOnce(sleep1Threshold: -1);
        }
        lock (_sleepLock)
        {
            Interlocked.Increment(ref _sleeping);
            try
            {
                while (true)
                {
                    if (_disposed)
                    {
                        return -1;
                    }
                    long g = Volatile.Read(ref _state) >> 32;
                    if (g != seen)
                    {
                        return g;
                    }
                    Monitor.Wait(_sleepLock);
                }
            }
            finally
            {
                Interlocked.Decrement(ref _sleeping);
            }
        }
    }

    /// <summary>Stops the worker threads (they exit after their current item).</summary>
    public void Dispose()
    {
        _disposed = true;
        lock (_sleepLock)
        {
            Monitor.PulseAll(_sleepLock);
        }
    }
}
