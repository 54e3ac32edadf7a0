using System.Runtime.Intrinsics;

namespace BigBirdSharp.Kernels;

/// <summary>
/// Which implementation a hand-written kernel runs. <see cref="Auto"/> picks the widest accelerated
/// vector width; the others force one path so tests can compare every path with the scalar one.
/// </summary>
internal enum KernelPath
{
    /// <summary>Widest path the hardware accelerates.</summary>
    Auto,
    /// <summary>Plain scalar code.</summary>
    Scalar,
    /// <summary>128-bit vectors.</summary>
    Vector128,
    /// <summary>256-bit vectors.</summary>
    Vector256,
    /// <summary>512-bit vectors.</summary>
    Vector512,
}

/// <summary>Resolution of <see cref="KernelPath"/> values against the running hardware.</summary>
internal static class KernelPaths
{
    /// <summary>Whether <paramref name="path"/> is hardware accelerated here (scalar and auto always are).</summary>
    internal static bool IsAccelerated(KernelPath path) => path switch
    {
        KernelPath.Auto or KernelPath.Scalar => true,
        KernelPath.Vector128 => Vector128.IsHardwareAccelerated,
        KernelPath.Vector256 => Vector256.IsHardwareAccelerated,
        KernelPath.Vector512 => Vector512.IsHardwareAccelerated,
        _ => false,
    };

    /// <summary>
    /// Turns <see cref="KernelPath.Auto"/> into the widest accelerated path. A forced path is returned as is even
    /// when the hardware does not accelerate it: the System.Runtime.Intrinsics vector types then run their
    /// (slow, but exact) software fallback, which lets tests check the wide kernels on narrower machines.
    /// </summary>
    internal static KernelPath Resolve(KernelPath path)
    {
        if (path != KernelPath.Auto)
        {
            if (path is < KernelPath.Scalar or > KernelPath.Vector512)
            {
                throw new ArgumentOutOfRangeException(nameof(path), path, "Unknown kernel path.");
            }
            return path;
        }
        if (Vector512.IsHardwareAccelerated)
        {
            return KernelPath.Vector512;
        }
        if (Vector256.IsHardwareAccelerated)
        {
            return KernelPath.Vector256;
        }
        return Vector128.IsHardwareAccelerated ? KernelPath.Vector128 : KernelPath.Scalar;
    }
}
