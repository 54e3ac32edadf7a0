namespace BigBirdSharp.Kernels;

/// <summary>
/// Marks threads that already run one share of a parallel job (the attention workers and the
/// <see cref="ComputePool"/> threads, the dispatching caller included while it runs items), so kernels called
/// from them stay serial instead of nesting another parallel loop: nesting oversubscribes the cores.
/// </summary>
internal static class KernelThreading
{
    [ThreadStatic] private static bool t_inParallelWorker;

    /// <summary>True on a thread inside <see cref="RunAsWorker{TState}"/> or running <see cref="ComputePool"/> items.</summary>
    public static bool InParallelWorker => t_inParallelWorker;

    /// <summary>Runs <paramref name="body"/> with this thread marked as a parallel worker.</summary>
    public static void RunAsWorker<TState>(TState state, Action<TState> body)
    {
        bool outer = EnterWorker();
        try
        {
            body(state);
        }
        finally
        {
            ExitWorker(outer);
        }
    }

    /// <summary>Marks this thread as a worker; returns the previous mark for <see cref="ExitWorker"/>.</summary>
    internal static bool EnterWorker()
    {
        bool outer = t_inParallelWorker;
        t_inParallelWorker = true;
        return outer;
    }

    /// <summary>Restores the mark returned by <see cref="EnterWorker"/>.</summary>
    internal static void ExitWorker(bool outer) => t_inParallelWorker = outer;
}
