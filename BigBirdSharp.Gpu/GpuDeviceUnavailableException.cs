namespace BigBirdSharp.Gpu;

/// <summary>
/// The accelerator asked of <see cref="GpuBackend.Create"/> is not there (no CUDA device, no NVIDIA driver), or ILGPU
/// could not start it. The message says what to install or which backend to pass instead.
/// </summary>
public sealed class GpuDeviceUnavailableException : BigBirdException
{
    /// <summary>An error about <paramref name="device"/>.</summary>
    public GpuDeviceUnavailableException(GpuDevice device, string message) : base(message) => Device = device;

    /// <summary>An error about <paramref name="device"/> caused by <paramref name="inner"/>.</summary>
    public GpuDeviceUnavailableException(GpuDevice device, string message, Exception inner) : base(message, inner) => Device = device;

    /// <summary>The accelerator that was asked for.</summary>
    public GpuDevice Device { get; }
}
