using System.Runtime.InteropServices;

namespace BigBirdSharp.Backends;

/// <summary>The CPU backend's memory: a managed array, or a read-only view of host memory (memory-mapped weights, inputs).</summary>
internal sealed class CpuBuffer : DeviceBuffer
{
    private readonly Memory<float> _memory;

    /// <summary>Whether the buffer views host memory it must not write (<see cref="IComputeBackend.Upload(ReadOnlyMemory{float})"/>).</summary>
    public bool ReadOnly { get; }

    public CpuBuffer(CpuBackend backend, float[] array) : base(backend, array.Length) => _memory = array;

    public CpuBuffer(CpuBackend backend, ReadOnlyMemory<float> view) : base(backend, view.Length)
    {
        _memory = MemoryMarshal.AsMemory(view);
        ReadOnly = true;
    }

    public Span<float> Span => Memory.Span;

    public Memory<float> Memory
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsDisposed, this);
            return _memory;
        }
    }

    // The array goes back to the GC; a view's memory belongs to whoever made it.
    protected override void Release() { }
}
