using BigBirdSharp.Backends;
using BigBirdSharp.Gpu;
using ILGPU.Runtime.Cuda;

namespace BigBirdSharp.Tests.Gpu;

/// <summary>Choosing the GPU backend: the typed error where no CUDA device exists, and the kernels' PTX without a device.</summary>
public sealed class GpuBackendCreateTests
{
    /// <summary>Whether this machine has a CUDA device (the test machines have none; on one that has, the error path cannot be reached).</summary>
    private static bool HasCudaDevice()
    {
        using var context = ILGPU.Context.Create(builder => builder.Cuda());
        return context.GetCudaDevices().Count > 0;
    }

    [Fact]
    public void Cuda_without_a_device_is_a_typed_error_that_says_what_to_install_or_pass()
    {
        if (HasCudaDevice())
        {
            // a machine with a GPU: the backend starts and names itself instead
            using var backend = GpuBackend.Create(GpuDevice.Cuda);
            Assert.Equal("cuda", backend.Name);
            return;
        }
        var e = Assert.Throws<GpuDeviceUnavailableException>(() => GpuBackend.Create(GpuDevice.Cuda));
        Assert.IsAssignableFrom<BigBirdException>(e);
        Assert.Equal(GpuDevice.Cuda, e.Device);
        Assert.Contains("no CUDA device", e.Message);
        Assert.Contains("NVIDIA driver", e.Message);
        Assert.Contains("--backend cpu", e.Message);
        Assert.Contains("ilgpu-cpu", e.Message);
    }

    [Fact]
    public void Create_refuses_an_undefined_device_kind()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => GpuBackend.Create((GpuDevice)7));
        Assert.Equal("device", e.ParamName);
    }

    [Fact]
    public void The_ilgpu_cpu_backend_can_be_disposed_and_then_refuses_its_buffers()
    {
        var backend = GpuBackend.Create(GpuDevice.IlgpuCpu);
        var buffer = backend.Allocate(4);
        backend.Upload(buffer.All, [1f, 2f, 3f, 4f]);
        var host = new float[4];
        backend.Download(buffer.All, host);
        Assert.Equal([1f, 2f, 3f, 4f], host);
        backend.Dispose();
        backend.Dispose(); // a second dispose does nothing
        Assert.Throws<ObjectDisposedException>(() => backend.Download(buffer.All, host));
        buffer.Dispose();  // freeing a buffer after its backend is a no-op, not a crash
    }

    [Fact]
    public void Every_kernel_compiles_to_ptx_without_a_device()
    {
        // ILGPU's PTX backend runs without a GPU: every kernel must lower completely (each intrinsic, each math call)
        var kernels = PtxCompiler.CompileAll(CudaArchitecture.SM_90, CudaInstructionSet.ISA_80);
        Assert.Equal(9, kernels.Count);
        foreach (var (kernel, ptx) in kernels)
        {
            Assert.Contains(".target sm_", ptx); // ILGPU 1.5.3 writes sm_80 code (PTX ISA 8.0) for Hopper, which runs it
            Assert.Contains(".entry", ptx);
            Assert.True(ptx.Length > 500, $"{kernel}: {ptx.Length} characters of PTX");
        }
        // the GEMM and the row kernels synchronise their groups and use shared memory
        Assert.Contains("bar.sync", kernels.Single(k => k.Kernel == "Linear").Ptx);
        Assert.Contains(".shared", kernels.Single(k => k.Kernel == "BlockSparseAttention").Ptx);
    }
}
