namespace BigBirdSharp.Kernels;

/// <summary>
/// Marks threads that already run one share of a parallel loop (the attention workers), so kernels called
/// from them stay serial instead of nesting another Parallel.For: nesting oversubscribes the cores and
/// allocates loop bookkeeping on every call.
/// </summary>
internal static class KernelThreading
{
    [ThreadStatic] private static bool t_inParallelWorker;

    /// <summary>True on a thread inside <see cref="RunAsWorker{TState}"/>.</summary>
    public static bool InParallelWorker => t_inParallelWorker;

    /// <summary>Runs <paramref name="body"/> with this thread marked as a parallel worker.</summary>
    public static void RunAsWorker<TState>(TState state, Action<TState> body)
    {
        bool outer = t_inParallelWorker;
        t_inParallelWorker = true;
        try
        {
            body(state);
        }
        finally
        {
            t_inParallelWorker = outer;
        }
    }
}
