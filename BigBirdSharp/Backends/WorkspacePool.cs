using System.Collections.Concurrent;

namespace BigBirdSharp.Backends;

/// <summary>
/// A backend's pool of work-space buffers, by exact length: a forward call rents what it needs and returns it, so a
/// second call at the same (batch, length) allocates nothing. Thread-safe. Idle buffers are kept until <see cref="Trim"/>.
/// </summary>
public sealed class WorkspacePool
{
    private readonly Func<int, DeviceBuffer> _allocate;
    private readonly ConcurrentDictionary<int, ConcurrentBag<DeviceBuffer>> _idle = new();

    /// <summary>A pool that makes new buffers with <paramref name="allocate"/>.</summary>
    public WorkspacePool(Func<int, DeviceBuffer> allocate) => _allocate = allocate;

    /// <summary>A buffer of exactly <paramref name="length"/> floats; its contents are whatever the last user left.</summary>
    public DeviceBuffer Rent(int length)
    {
        if (_idle.TryGetValue(length, out var bag) && bag.TryTake(out var buffer)) return buffer;
        return _allocate(length);
    }

    /// <summary>Gives a rented buffer back.</summary>
    public void Return(DeviceBuffer buffer)
    {
        if (buffer.IsDisposed) return;
        _idle.GetOrAdd(buffer.Length, static _ => new ConcurrentBag<DeviceBuffer>()).Add(buffer);
    }

    /// <summary>Frees every idle buffer.</summary>
    public void Trim()
    {
        foreach (var bag in _idle.Values)
            while (bag.TryTake(out var buffer)) buffer.Dispose();
    }
}
