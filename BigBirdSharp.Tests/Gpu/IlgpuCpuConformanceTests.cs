using BigBirdSharp.Backends;
using BigBirdSharp.Gpu;
using BigBirdSharp.Tests.Backends;

namespace BigBirdSharp.Tests.Gpu;

/// <summary>
/// The whole conformance suite (every operation against the scalar references, the model on the PyTorch fixtures) on
/// <see cref="GpuBackend"/> over ILGPU's CPU accelerator: the device kernels, compiled by ILGPU and run on simulated GPU
/// threads, with nothing but a CPU. One backend for the test process (starting an accelerator compiles every kernel).
/// </summary>
public sealed class IlgpuCpuConformanceTests : BackendConformanceTests
{
    internal static GpuBackend Shared { get; } = GpuBackend.Create(GpuDevice.IlgpuCpu);

    protected override IComputeBackend Backend => Shared;

    [Fact]
    public void Is_the_ilgpu_cpu_accelerator()
    {
        Assert.Equal("ilgpu-cpu", Backend.Name);
        Assert.Equal(GpuDevice.IlgpuCpu, Shared.Device);
        Assert.False(string.IsNullOrWhiteSpace(Shared.DeviceName));
    }
}
