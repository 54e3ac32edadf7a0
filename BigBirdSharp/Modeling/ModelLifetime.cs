using System.Diagnostics.CodeAnalysis;

namespace BigBirdSharp.Modeling;

/// <summary>
/// The lifetime of a loaded model's memory (its memory-mapped weights, its idle run states), shared by a task head and
/// its <c>bert</c>: every public call that touches weights holds a reference while it runs, and the memory is released
/// only when the model has been disposed and the last such call has returned. A call begun after
/// <see cref="Dispose"/> gets an <see cref="ObjectDisposedException"/>; a call already running finishes normally.
/// </summary>
/// <remarks>
/// The cost of a call is one compare-and-swap to enter and one decrement to leave; nothing is locked and nothing is
/// allocated (<see cref="Lease"/> is a struct). As with <see cref="System.Runtime.InteropServices.SafeHandle"/>, the
/// release runs on whichever thread drops the last reference: the disposing thread when no call is running, otherwise
/// the thread of the last call to return. Dispose therefore never blocks, and disposing from inside a call (a trace
/// callback, say) cannot deadlock.
/// </remarks>
internal sealed class ModelLifetime
{
    // in-flight calls, plus one for the owner until Dispose; 0 once released (and never again above 0)
    private int _references = 1;
    private int _disposed;
    private Action? _release;

    /// <summary>Whether <see cref="Dispose"/> has run (calls may still be finishing).</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>Whether the memory has been released: disposed, and no call running.</summary>
    public bool IsReleased => Volatile.Read(ref _references) == 0;

    /// <summary>Adds <paramref name="release"/> to what runs, in the order added, when the memory is released.</summary>
    public void OnRelease(Action release) => _release += release;

    /// <summary>Takes a reference for one call; dispose the lease when the call returns.</summary>
    /// <param name="owner">The object the caller called, named by the exception.</param>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public Lease Enter(object owner)
    {
        while (true)
        {
            int references = Volatile.Read(ref _references);
            // a disposed model takes no new call, even while earlier calls still hold it alive
            if (references == 0 || Volatile.Read(ref _disposed) != 0) ThrowDisposed(owner);
            if (Interlocked.CompareExchange(ref _references, references + 1, references) == references) return new Lease(this);
        }
    }

    /// <summary>
    /// Marks the model disposed (new calls fail) and drops the owner's reference: the memory is released now when no
    /// call is running, else when the last one returns. Later calls do nothing.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) Leave();
    }

    private void Leave()
    {
        if (Interlocked.Decrement(ref _references) == 0) Interlocked.Exchange(ref _release, null)?.Invoke();
    }

    [DoesNotReturn]
    private static void ThrowDisposed(object owner) =>
        throw new ObjectDisposedException(owner.GetType().FullName,
            $"this {owner.GetType().Name} has been disposed; its weights are released. Load the model again to use it.");

    /// <summary>One call's reference; <see cref="Dispose"/> it exactly once (a <c>using</c> declaration does).</summary>
    public readonly struct Lease(ModelLifetime lifetime) : IDisposable
    {
        /// <summary>Drops the reference; the last one out of a disposed model releases its memory.</summary>
        public void Dispose() => lifetime?.Leave();
    }
}
