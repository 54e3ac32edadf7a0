using System.Runtime.Intrinsics.X86;

namespace BigBirdSharp.Kernels;

/// <summary>What the kernels run on here, for benchmark records: the SIMD path and the pool's thread count.</summary>
internal static class KernelInfo
{
    /// <summary>
    /// The kernel path the GEMM and row kernels take on this processor and the instruction sets behind it, e.g.
    /// <c>Vector256 (AVX2, FMA)</c> or <c>Vector512 (AVX-512F)</c>.
    /// </summary>
    public static string Describe()
    {
        var path = KernelPaths.Resolve(KernelPath.Auto);
        var isa = new List<string>();
        if (Avx512F.IsSupported) isa.Add("AVX-512F");
        if (Avx2.IsSupported) isa.Add("AVX2");
        if (Fma.IsSupported) isa.Add("FMA");
        if (System.Runtime.Intrinsics.Arm.AdvSimd.IsSupported) isa.Add("AdvSimd");
        return isa.Count == 0 ? path.ToString() : $"{path} ({string.Join(", ", isa)})";
    }

    /// <summary>Threads the compute pool runs on (the caller included).</summary>
    public static int Threads => ComputePool.Shared.ThreadCount;
}
