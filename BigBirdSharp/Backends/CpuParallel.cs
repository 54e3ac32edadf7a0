using BigBirdSharp.Kernels;

namespace BigBirdSharp.Backends;

/// <summary>One parallel loop body of the CPU backend; instances are reused, so a dispatch allocates nothing of ours.</summary>
internal interface IParallelTask
{
    /// <summary>Runs task <paramref name="index"/>.</summary>
    void Run(int index);
}

/// <summary>
/// The CPU backend's one parallel scheme: an operation splits into tasks spread over the cores; kernels called from a
/// task stay serial (<see cref="KernelThreading"/>), so parallelism never nests and never oversubscribes.
/// </summary>
internal static class CpuParallel
{
    /// <summary>Runs tasks 0..count−1, strided over the workers.</summary>
    public static void For(int count, IParallelTask task)
    {
        int workers = Math.Min(Environment.ProcessorCount, count);
        if (workers <= 1 || KernelThreading.InParallelWorker)
        {
            for (int t = 0; t < count; t++) task.Run(t);
            return;
        }
        Parallel.For(0, workers, w => KernelThreading.RunAsWorker(w, worker =>
        {
            for (int t = worker; t < count; t += workers) task.Run(t);
        }));
    }
}
