using System.Collections.Concurrent;

namespace BigBirdSharp.Backends;

/// <summary>
/// A backend's pool of work-space buffers, by exact length: a call rents what it needs and returns it, so the next call
/// of the same shape allocates nothing. Idle buffers are kept up to <see cref="MaxIdleFloats"/> in all; a buffer
/// returned beyond that is freed, so inputs of ever-changing lengths cannot make the pool grow without bound.
/// Thread-safe.
/// </summary>
public sealed class WorkspacePool
{
    private readonly Func<int, DeviceBuffer> _allocate;
    private readonly ConcurrentDictionary<int, ConcurrentBag<DeviceBuffer>> _idle = new();
    private long _idleFloats;

    /// <summary>A pool that makes new buffers with <paramref name="allocate"/> and keeps at most <paramref name="maxIdleFloats"/> idle.</summary>
    public WorkspacePool(Func<int, DeviceBuffer> allocate, long maxIdleFloats = DefaultMaxIdleFloats)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxIdleFloats);
        _allocate = allocate;
        MaxIdleFloats = maxIdleFloats;
    }

    /// <summary>The default bound on idle buffers: 16 Mi floats (64 MiB).</summary>
    public const long DefaultMaxIdleFloats = 16L << 20;

    /// <summary>The most floats the pool keeps idle.</summary>
    public long MaxIdleFloats { get; }

    /// <summary>Floats held by idle buffers now.</summary>
    public long IdleFloats => Interlocked.Read(ref _idleFloats);

    /// <summary>A buffer of exactly <paramref name="length"/> floats; its contents are whatever the last user left.</summary>
    public DeviceBuffer Rent(int length)
    {
        if (_idle.TryGetValue(length, out var bag) && bag.TryTake(out var buffer))
        {
            Interlocked.Add(ref _idleFloats, -buffer.Length);
            return buffer;
        }
        return _allocate(length);
    }

    /// <summary>Gives a rented buffer back; it is freed instead when keeping it would pass <see cref="MaxIdleFloats"/>.</summary>
    public void Return(DeviceBuffer buffer)
    {
        if (buffer.IsDisposed) return;
        if (Interlocked.Add(ref _idleFloats, buffer.Length) > MaxIdleFloats)
        {
            Interlocked.Add(ref _idleFloats, -buffer.Length);
            buffer.Dispose();
            return;
        }
        _idle.GetOrAdd(buffer.Length, static _ => new ConcurrentBag<DeviceBuffer>()).Add(buffer);
    }

    /// <summary>Frees every idle buffer.</summary>
    public void Trim()
    {
        foreach (var bag in _idle.Values)
            while (bag.TryTake(out var buffer))
            {
                Interlocked.Add(ref _idleFloats, -buffer.Length);
                buffer.Dispose();
            }
    }
}
