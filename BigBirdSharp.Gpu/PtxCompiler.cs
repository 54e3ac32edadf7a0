using System.Reflection;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace BigBirdSharp.Gpu;

/// <summary>
/// Compiles every kernel of <see cref="GpuKernels"/> to PTX without a GPU, with ILGPU's PTX backend and the same context
/// settings <see cref="GpuBackend.Create"/> uses for CUDA. A machine without a GPU can thus check that each kernel is
/// accepted by the CUDA code generator (every intrinsic lowered, no managed construct left); loading and running the
/// PTX still needs a device.
/// </summary>
internal static class PtxCompiler
{
    /// <summary>The kernels as the backend loads them: explicitly grouped, or auto-grouped over an Index1D.</summary>
    private static readonly (string Name, bool Grouped)[] s_kernels =
    [
        (nameof(GpuKernels.Linear), true),
        (nameof(GpuKernels.LayerNorm), true),
        (nameof(GpuKernels.FullAttention), true),
        (nameof(GpuKernels.BlockSparseAttention), true),
        (nameof(GpuKernels.Activate), false),
        (nameof(GpuKernels.Add), false),
        (nameof(GpuKernels.Copy), false),
        (nameof(GpuKernels.Heads), false),
        (nameof(GpuKernels.EmbeddingSum), false),
    ];

    /// <summary>Every kernel's PTX for <paramref name="architecture"/>, by kernel name.</summary>
    public static IReadOnlyList<(string Kernel, string Ptx)> CompileAll(CudaArchitecture architecture, CudaInstructionSet instructionSet)
    {
        using var context = Context.Create(builder => builder.Cuda().EnableAlgorithms().Math(MathMode.Default));
        using var backend = new PTXBackend(context, architecture, instructionSet, null!);
        var result = new List<(string, string)>();
        foreach (var (name, grouped) in s_kernels)
        {
            var method = typeof(GpuKernels).GetMethod(name, BindingFlags.Public | BindingFlags.Static)
                         ?? throw new InvalidOperationException($"kernel {name} not found");
            var entry = grouped ? EntryPointDescription.FromExplicitlyGroupedKernel(method) : EntryPointDescription.FromImplicitlyGroupedKernel(method);
            var compiled = (PTXCompiledKernel)backend.Compile(entry, default(KernelSpecialization));
            result.Add((name, compiled.PTXAssembly));
        }
        return result;
    }
}
