using System.Buffers;

namespace BigBirdSharp.IO;

/// <summary>
/// A <see cref="MemoryManager{T}"/> over float32 elements that live in a memory-mapped file.
/// It owns nothing: the reader that created it keeps the mapping alive, and memory obtained from it
/// must not be used after that reader is disposed.
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

    /// <summary>Wraps <paramref name="length"/> floats starting at <paramref name="pointer"/>.</summary>
    public MappedFloatMemory(byte* pointer, int length)
    {
        _pointer = pointer;
        _length = length;
    }

    /// <inheritdoc />
    public override Span<float> GetSpan() => new(_pointer, _length);

    /// <inheritdoc />
    public override MemoryHandle Pin(int elementIndex = 0)
    {
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
