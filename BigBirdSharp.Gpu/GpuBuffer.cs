using BigBirdSharp.Backends;
using ILGPU;
using ILGPU.Runtime;

namespace BigBirdSharp.Gpu;

/// <summary>A <see cref="GpuBackend"/>'s memory: one ILGPU buffer of floats on the accelerator (none for length 0).</summary>
internal sealed class GpuBuffer : DeviceBuffer
{
    private readonly GpuBackend _backend;
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? _memory;

    public GpuBuffer(GpuBackend backend, MemoryBuffer1D<float, Stride1D.Dense>? memory, int length, bool readOnly) : base(backend, length)
    {
        _backend = backend;
        _memory = memory;
        ReadOnly = readOnly;
    }

    /// <summary>Whether the buffer holds uploaded weights or inputs, which no operation may write.</summary>
    public bool ReadOnly { get; }

    /// <summary><paramref name="length"/> floats from <paramref name="offset"/> as a device view.</summary>
    public ArrayView<float> View(int offset, int length)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        return _memory is null || length == 0 ? _backend.Dummy : _memory.View.SubView(offset, length);
    }

    // queued kernels may still read the memory: the backend waits for them before it frees it
    protected override void Release() => _backend.Free(_memory);
}
