namespace BigBirdSharp.Gpu;

/// <summary>The ILGPU accelerator a <see cref="GpuBackend"/> runs on.</summary>
public enum GpuDevice
{
    /// <summary>The first CUDA device (an NVIDIA GPU and its driver). ILGPU writes the PTX itself; no CUDA toolkit is needed.</summary>
    Cuda,
    /// <summary>ILGPU's CPU accelerator: the same kernels run on CPU threads that simulate a GPU. Needs no GPU; slow, for tests and CI.</summary>
    IlgpuCpu,
}
