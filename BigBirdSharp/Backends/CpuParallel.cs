using BigBirdSharp.Kernels;

namespace BigBirdSharp.Backends;

/// <summary>
/// The CPU backend's one parallel scheme: every operation splits into tasks run on the kernels' <see cref="ComputePool"/>
/// (persistent workers, no allocation per dispatch); kernels called from a task stay serial, so parallelism never nests
/// and never oversubscribes.
/// </summary>
internal static class CpuParallel
{
    /// <summary>Runs tasks 0..count−1 on this thread's current pool (the backend's); <paramref name="task"/> is a reused object, so nothing is allocated.</summary>
    public static void For(int count, IComputeWork task) => ComputePool.Current.Run(task, count);
}
