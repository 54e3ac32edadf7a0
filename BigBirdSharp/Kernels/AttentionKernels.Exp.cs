using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BigBirdSharp.Kernels;

/// <summary>
/// exp(x − max) over a score row with the row sum in the same pass. Hand-written because TensorPrimitives.Exp on
/// float widens to double (AOCL's algorithm) and then needs separate subtract and sum passes; attention spends a third
/// of its time there. The fp32 Cephes exp (range reduction by ln 2 in two parts, degree-5 polynomial) is within 1–2 ulp
/// of exp (its reductions and Horner steps are fused multiply-adds); arguments below −87.3365 (exp under float's smallest normal) give exactly 0, as masked keys should.
/// Every path runs the same operations in the same order per element, so the paths give the same bits.
/// </summary>
internal static unsafe partial class AttentionKernels
{
    private const float ExpLow = -87.33654f, ExpHigh = 88.72283f, Log2E = 1.44269504088896341f;
    private const float ExpC1 = 0.693359375f, ExpC2 = -2.12194440e-4f;
    private const float ExpP0 = 1.9875691500e-4f, ExpP1 = 1.3981999507e-3f, ExpP2 = 8.3334519073e-3f;
    private const float ExpP3 = 4.1665795894e-2f, ExpP4 = 1.6666665459e-1f, ExpP5 = 5.0000001201e-1f;

    /// <summary>row[j] = exp(row[j] − max) for j &lt; cols; returns Σ row[j] (summed in vector lanes, then across them).</summary>
    internal static float ExpSubtractSum(float* row, int cols, float max, KernelPath path)
    {
        int j = 0;
        float sum = 0f;
        if (path == KernelPath.Vector512 && cols >= 16)
        {
            Vector512<float> vmax = Vector512.Create(max), acc = Vector512<float>.Zero;
            for (; j + 16 <= cols; j += 16)
            {
                Vector512<float> e = Exp512(Vector512.Load(row + j) - vmax);
                e.Store(row + j);
                acc += e;
            }
            sum = Vector512.Sum(acc);
        }
        else if ((path == KernelPath.Vector256 || path == KernelPath.Vector512) && cols >= 8)
        {
            Vector256<float> vmax = Vector256.Create(max), acc = Vector256<float>.Zero;
            for (; j + 8 <= cols; j += 8)
            {
                Vector256<float> e = Exp256(Vector256.Load(row + j) - vmax);
                e.Store(row + j);
                acc += e;
            }
            sum = Vector256.Sum(acc);
        }
        else if (path != KernelPath.Scalar && cols >= 4)
        {
            Vector128<float> vmax = Vector128.Create(max), acc = Vector128<float>.Zero;
            for (; j + 4 <= cols; j += 4)
            {
                Vector128<float> e = Exp128(Vector128.Load(row + j) - vmax);
                e.Store(row + j);
                acc += e;
            }
            sum = Vector128.Sum(acc);
        }
        // remainder (and the scalar path)
        for (; j < cols; j++)
        {
            float e = ExpScalar(row[j] - max);
            row[j] = e;
            sum += e;
        }
        return sum;
    }

    /// <summary>The scalar reference of the vector exps: the same operations per element.</summary>
    internal static float ExpScalar(float x)
    {
        if (x < ExpLow) return 0f;
        x = MathF.Min(x, ExpHigh);
        float fx = MathF.Floor(MathF.FusedMultiplyAdd(x, Log2E, 0.5f));
        x = MathF.FusedMultiplyAdd(fx, -ExpC1, x);
        x = MathF.FusedMultiplyAdd(fx, -ExpC2, x);
        float z = x * x;
        float y = MathF.FusedMultiplyAdd(ExpP0, x, ExpP1);
        y = MathF.FusedMultiplyAdd(y, x, ExpP2);
        y = MathF.FusedMultiplyAdd(y, x, ExpP3);
        y = MathF.FusedMultiplyAdd(y, x, ExpP4);
        y = MathF.FusedMultiplyAdd(y, x, ExpP5);
        y = MathF.FusedMultiplyAdd(y, z, x) + 1f;
        return y * BitConverter.Int32BitsToSingle(((int)fx + 127) << 23);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Exp256(Vector256<float> x)
    {
        Vector256<float> tooSmall = Vector256.LessThan(x, Vector256.Create(ExpLow));
        x = Vector256.Min(Vector256.Max(x, Vector256.Create(ExpLow)), Vector256.Create(ExpHigh));
        Vector256<float> fx = Vector256.Floor(Vector256.FusedMultiplyAdd(x, Vector256.Create(Log2E), Vector256.Create(0.5f)));
        x = Vector256.FusedMultiplyAdd(fx, Vector256.Create(-ExpC1), x);
        x = Vector256.FusedMultiplyAdd(fx, Vector256.Create(-ExpC2), x);
        Vector256<float> z = x * x;
        Vector256<float> y = Vector256.FusedMultiplyAdd(Vector256.Create(ExpP0), x, Vector256.Create(ExpP1));
        y = Vector256.FusedMultiplyAdd(y, x, Vector256.Create(ExpP2));
        y = Vector256.FusedMultiplyAdd(y, x, Vector256.Create(ExpP3));
        y = Vector256.FusedMultiplyAdd(y, x, Vector256.Create(ExpP4));
        y = Vector256.FusedMultiplyAdd(y, x, Vector256.Create(ExpP5));
        y = Vector256.FusedMultiplyAdd(y, z, x) + Vector256<float>.One;
        Vector256<float> pow2 = Vector256.ShiftLeft(Vector256.ConvertToInt32(fx) + Vector256.Create(127), 23).AsSingle();
        return Vector256.AndNot(y * pow2, tooSmall);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> Exp128(Vector128<float> x)
    {
        Vector128<float> tooSmall = Vector128.LessThan(x, Vector128.Create(ExpLow));
        x = Vector128.Min(Vector128.Max(x, Vector128.Create(ExpLow)), Vector128.Create(ExpHigh));
        Vector128<float> fx = Vector128.Floor(Vector128.FusedMultiplyAdd(x, Vector128.Create(Log2E), Vector128.Create(0.5f)));
        x = Vector128.FusedMultiplyAdd(fx, Vector128.Create(-ExpC1), x);
        x = Vector128.FusedMultiplyAdd(fx, Vector128.Create(-ExpC2), x);
        Vector128<float> z = x * x;
        Vector128<float> y = Vector128.FusedMultiplyAdd(Vector128.Create(ExpP0), x, Vector128.Create(ExpP1));
        y = Vector128.FusedMultiplyAdd(y, x, Vector128.Create(ExpP2));
        y = Vector128.FusedMultiplyAdd(y, x, Vector128.Create(ExpP3));
        y = Vector128.FusedMultiplyAdd(y, x, Vector128.Create(ExpP4));
        y = Vector128.FusedMultiplyAdd(y, x, Vector128.Create(ExpP5));
        y = Vector128.FusedMultiplyAdd(y, z, x) + Vector128<float>.One;
        Vector128<float> pow2 = Vector128.ShiftLeft(Vector128.ConvertToInt32(fx) + Vector128.Create(127), 23).AsSingle();
        return Vector128.AndNot(y * pow2, tooSmall);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Exp512(Vector512<float> x)
    {
        Vector512<float> tooSmall = Vector512.LessThan(x, Vector512.Create(ExpLow));
        x = Vector512.Min(Vector512.Max(x, Vector512.Create(ExpLow)), Vector512.Create(ExpHigh));
        Vector512<float> fx = Vector512.Floor(Vector512.FusedMultiplyAdd(x, Vector512.Create(Log2E), Vector512.Create(0.5f)));
        x = Vector512.FusedMultiplyAdd(fx, Vector512.Create(-ExpC1), x);
        x = Vector512.FusedMultiplyAdd(fx, Vector512.Create(-ExpC2), x);
        Vector512<float> z = x * x;
        Vector512<float> y = Vector512.FusedMultiplyAdd(Vector512.Create(ExpP0), x, Vector512.Create(ExpP1));
        y = Vector512.FusedMultiplyAdd(y, x, Vector512.Create(ExpP2));
        y = Vector512.FusedMultiplyAdd(y, x, Vector512.Create(ExpP3));
        y = Vector512.FusedMultiplyAdd(y, x, Vector512.Create(ExpP4));
        y = Vector512.FusedMultiplyAdd(y, x, Vector512.Create(ExpP5));
        y = Vector512.FusedMultiplyAdd(y, z, x) + Vector512<float>.One;
        Vector512<float> pow2 = Vector512.ShiftLeft(Vector512.ConvertToInt32(fx) + Vector512.Create(127), 23).AsSingle();
        return Vector512.AndNot(y * pow2, tooSmall);
    }
}
