using BigBirdSharp.Backends;

namespace BigBirdSharp.Tests.Backends;

/// <summary>The conformance suite on the managed CPU backend, the default and the reference.</summary>
public sealed class CpuBackendConformanceTests : BackendConformanceTests
{
    protected override IComputeBackend Backend => CpuBackend.Instance;

    [Fact]
    public void Is_the_shared_cpu_instance()
    {
        Assert.Equal("cpu", Backend.Name);
        Assert.Same(CpuBackend.Instance, CpuBackend.Instance);
    }
}
