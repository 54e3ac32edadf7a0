namespace BigBirdSharp.Backends;

/// <summary>
/// Memory owned by a backend (ggml-backend's <c>ggml_backend_buffer</c>): host arrays for the CPU backend, device
/// memory for an accelerator. Made by <see cref="IComputeBackend.Allocate"/>, <see cref="IComputeBackend.Upload(ReadOnlyMemory{float})"/>
/// or a <see cref="WorkspacePool"/>; read and written only through the backend's operations, <see cref="IComputeBackend.Upload(DeviceSpan, ReadOnlySpan{float})"/>
/// and <see cref="IComputeBackend.Download"/>.
/// </summary>
public abstract class DeviceBuffer : IDisposable
{
    private int _disposed;

    /// <summary>A buffer of <paramref name="length"/> floats belonging to <paramref name="backend"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The length is negative.</exception>
    protected DeviceBuffer(IComputeBackend backend, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Backend = backend;
        Length = length;
    }

    /// <summary>The backend that owns this memory; only its operations may touch it.</summary>
    public IComputeBackend Backend { get; }

    /// <summary>Number of floats.</summary>
    public int Length { get; }

    /// <summary>Whether <see cref="Dispose"/> has run.</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>The whole buffer as a view.</summary>
    public DeviceSpan All => new(this, 0, Length);

    /// <summary>A view of <paramref name="length"/> floats from <paramref name="offset"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is outside the buffer.</exception>
    public DeviceSpan Slice(int offset, int length) => All.Slice(offset, length);

    /// <summary>Frees the memory (once; later calls do nothing).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Release();
        }
        GC.SuppressFinalize(this);
    }

    /// <summary>Returns the memory to the backend.</summary>
    protected abstract void Release();
}

/// <summary>A view of part of a <see cref="DeviceBuffer"/>: the tensor argument of every backend operation.</summary>
public readonly struct DeviceSpan
{
    /// <summary>A view of <paramref name="length"/> floats of <paramref name="buffer"/> from <paramref name="offset"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is outside the buffer.</exception>
    public DeviceSpan(DeviceBuffer buffer, int offset, int length)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (offset < 0 || length < 0 || (long)offset + length > buffer.Length)
            throw new ArgumentOutOfRangeException(nameof(length),
                $"view [{offset}, {(long)offset + length}) is outside a buffer of {buffer.Length} floats.");
        Buffer = buffer;
        Offset = offset;
        Length = length;
    }

    /// <summary>The buffer viewed, or null for <see cref="Empty"/>.</summary>
    public DeviceBuffer? Buffer { get; }
    /// <summary>First float of the view.</summary>
    public int Offset { get; }
    /// <summary>Number of floats.</summary>
    public int Length { get; }
    /// <summary>Whether the view holds nothing.</summary>
    public bool IsEmpty => Length == 0;
    /// <summary>The empty view (an absent optional tensor).</summary>
    public static DeviceSpan Empty => default;

    /// <summary>A sub-view, relative to this one.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is outside this view.</exception>
    public DeviceSpan Slice(int offset, int length)
    {
        if (offset < 0 || length < 0 || (long)offset + length > Length)
            throw new ArgumentOutOfRangeException(nameof(length), $"slice [{offset}, {(long)offset + length}) is outside a view of {Length} floats.");
        return length == 0 && Buffer is null ? default : new DeviceSpan(Buffer!, Offset + offset, length);
    }

    /// <summary>A sub-view from <paramref name="offset"/> to the end.</summary>
    public DeviceSpan Slice(int offset) => Slice(offset, Length - offset);
}
