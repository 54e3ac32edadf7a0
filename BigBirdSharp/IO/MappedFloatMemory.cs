using System.Buffers;
using System.Runtime.InteropServices;

namespace BigBirdSharp.IO;

/// <summary>
/// A <see cref="MemoryManager{T}"/> over float32 elements that live in a memory-mapped file.
/// It owns nothing: the reader that created it keeps the mapping alive, and memory obtained from it
/// must not be used after that reader is disposed. Asking for its span once the mapping's handle is closed throws
/// <see cref="ObjectDisposedException"/> instead of handing out a dangling pointer; a span taken before then is only as
/// good as the mapping (the model's lifetime gate keeps the mapping alive under every call it admits).
/// </summary>
/// <remarks>
/// The pointer need not be 4-byte aligned (a safetensors header length is only padded to 8 bytes
/// by convention, not by rule). Unaligned float loads are legal and cheap on x64 and arm64, which are
/// the only targets .NET 10 supports for this library.
/// </remarks>
internal sealed unsafe class MappedFloatMemory : MemoryManager<float>
{
    private readonly byte* _pointer;
    private readonly int _length;
    private readonly SafeHandle? _mapping;

    /// <summary>Wraps <paramref name="length"/> floats starting at <paramref name="pointer"/>, inside the mapped view
    /// <paramref name="mapping"/> (checked on every access; null for memory that outlives this manager).</summary>
    public MappedFloatMemory(byte* pointer, int length, SafeHandle? mapping = null)
    {
        _pointer = pointer;
        _length = length;
        _mapping = mapping;
    }

    /// <inheritdoc />
    /// <exception cref="ObjectDisposedException">The reader that mapped the file has been disposed.</exception>
    public override Span<float> GetSpan()
    {
        if (_mapping is { IsClosed: true }) ThrowUnmapped();
        return new(_pointer, _length);
    }

    private static void ThrowUnmapped() =>
        throw new ObjectDisposedException(nameof(SafeTensorsReader),
            "the safetensors file these weights were mapped from has been closed (the model or reader was disposed).");

    /// <inheritdoc />
    public override MemoryHandle Pin(int elementIndex = 0)
    {
        if (_mapping is { IsClosed: true }) ThrowUnmapped();
        ArgumentOutOfRangeException.ThrowIfNegative(elementIndex);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(elementIndex, _length);
        return new MemoryHandle(_pointer + (long)elementIndex * sizeof(float));
    }

    /// <inheritdoc />
    public override void Unpin()
    {
        // The mapping never moves; there is nothing to release.
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        // The mapping belongs to the reader that created this manager.
    }
}
