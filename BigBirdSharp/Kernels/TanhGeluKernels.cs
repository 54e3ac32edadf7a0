using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace BigBirdSharp.Kernels;

/// <summary>
/// The tanh GELUs of HF's activations: <c>gelu_new</c> and <c>gelu_pytorch_tanh</c>, ½·x·(1 + tanh(β·(x + 0.044715·x³))),
/// and <c>gelu_fast</c>, ½·x·(1 + tanh(β·x·(1 + 0.044715·x²))), with β = √(2/π). They are evaluated through the identity
/// ½·(1 + tanh(u)) = 1 / (1 + exp(−2u)), so gelu(x) = x / (1 + exp(−2u)): one exp (<see cref="AttentionKernels"/>'
/// fp32 Cephes exp) and one division, which the GEMM's epilogue can run in registers. Unlike the tanh form it has no
/// 1 + tanh cancellation on the negative side, so it is at least as close to the exact value as PyTorch's own float
/// evaluation. Every path runs the same operations in the same order per element, so the paths give the same bits.
/// </summary>
internal static class TanhGeluKernels
{
    private const float Cubic = 0.044715f;

    /// <summary>−2β, β = √(2/π) in float (the value of torch's kBeta and of HF's math.sqrt(2/π) rounded to float).</summary>
    private const float NegTwoBeta = -2f * 0.7978845608f;

    /// <summary>gelu_new (and gelu_pytorch_tanh) of one value.</summary>
    /// <param name="x">The argument.</param>
    /// <returns>½·x·(1 + tanh(β·(x + 0.044715·x³))).</returns>
    public static float GeluNew(float x)
    {
        float x3 = x * x * x;
        float u = MathF.FusedMultiplyAdd(x3, Cubic, x);
        return x / (1f + AttentionKernels.ExpScalar(u * NegTwoBeta));
    }

    /// <summary>gelu_fast of one value.</summary>
    /// <param name="x">The argument.</param>
    /// <returns>½·x·(1 + tanh(β·x·(1 + 0.044715·x²))).</returns>
    public static float GeluFast(float x)
    {
        float u = x * MathF.FusedMultiplyAdd(x * x, Cubic, 1f);
        return x / (1f + AttentionKernels.ExpScalar(u * NegTwoBeta));
    }

    /// <summary>y[i] = gelu_new(x[i]). <paramref name="y"/> may be the same span as <paramref name="x"/>.</summary>
    /// <param name="x">Input.</param>
    /// <param name="y">Output, same length as <paramref name="x"/>.</param>
    /// <exception cref="ArgumentException">Lengths differ.</exception>
    public static void GeluNew(ReadOnlySpan<float> x, Span<float> y) => Run(x, y, KernelPath.Auto, fast: false);

    /// <summary>y[i] = gelu_fast(x[i]). <paramref name="y"/> may be the same span as <paramref name="x"/>.</summary>
    /// <param name="x">Input.</param>
    /// <param name="y">Output, same length as <paramref name="x"/>.</param>
    /// <exception cref="ArgumentException">Lengths differ.</exception>
    public static void GeluFast(ReadOnlySpan<float> x, Span<float> y) => Run(x, y, KernelPath.Auto, fast: true);

    /// <summary>As the public entries, with the path forced (tests compare the paths).</summary>
    internal static void Run(ReadOnlySpan<float> x, Span<float> y, KernelPath path, bool fast)
    {
        if (x.Length != y.Length)
        {
            throw new ArgumentException($"Input has {x.Length} elements but output has {y.Length}; they must match.", nameof(y));
        }
        int i = 0;
        ref float xs = ref MemoryMarshal.GetReference(x);
        ref float ys = ref MemoryMarshal.GetReference(y);
        switch (KernelPaths.Resolve(path))
        {
            case KernelPath.Vector512:
                for (; i <= x.Length - 16; i += 16)
                {
                    Vector512<float> v = Vector512.LoadUnsafe(ref xs, (nuint)i);
                    (fast ? GeluFast512(v) : GeluNew512(v)).StoreUnsafe(ref ys, (nuint)i);
                }
                break;
            case KernelPath.Vector256:
                for (; i <= x.Length - 8; i += 8)
                {
                    Vector256<float> v = Vector256.LoadUnsafe(ref xs, (nuint)i);
                    (fast ? GeluFast256(v) : GeluNew256(v)).StoreUnsafe(ref ys, (nuint)i);
                }
                break;
            case KernelPath.Vector128:
                for (; i <= x.Length - 4; i += 4)
                {
                    Vector128<float> v = Vector128.LoadUnsafe(ref xs, (nuint)i);
                    (fast ? GeluFast128(v) : GeluNew128(v)).StoreUnsafe(ref ys, (nuint)i);
                }
                break;
            default:
                break;
        }
        // the remainder (everything on the scalar path): the same operations in scalar form
        for (; i < x.Length; i++)
        {
            y[i] = fast ? GeluFast(x[i]) : GeluNew(x[i]);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> GeluNew512(Vector512<float> x)
    {
        Vector512<float> u = Vector512.FusedMultiplyAdd(x * x * x, Vector512.Create(Cubic), x);
        return x / (Vector512<float>.One + AttentionKernels.Exp512(u * Vector512.Create(NegTwoBeta)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> GeluFast512(Vector512<float> x)
    {
        Vector512<float> u = x * Vector512.FusedMultiplyAdd(x * x, Vector512.Create(Cubic), Vector512<float>.One);
        return x / (Vector512<float>.One + AttentionKernels.Exp512(u * Vector512.Create(NegTwoBeta)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> GeluNew256(Vector256<float> x)
    {
        Vector256<float> u = Vector256.FusedMultiplyAdd(x * x * x, Vector256.Create(Cubic), x);
        return x / (Vector256<float>.One + AttentionKernels.Exp256(u * Vector256.Create(NegTwoBeta)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> GeluFast256(Vector256<float> x)
    {
        Vector256<float> u = x * Vector256.FusedMultiplyAdd(x * x, Vector256.Create(Cubic), Vector256<float>.One);
        return x / (Vector256<float>.One + AttentionKernels.Exp256(u * Vector256.Create(NegTwoBeta)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> GeluNew128(Vector128<float> x)
    {
        Vector128<float> u = Vector128.FusedMultiplyAdd(x * x * x, Vector128.Create(Cubic), x);
        return x / (Vector128<float>.One + AttentionKernels.Exp128(u * Vector128.Create(NegTwoBeta)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> GeluFast128(Vector128<float> x)
    {
        Vector128<float> u = x * Vector128.FusedMultiplyAdd(x * x, Vector128.Create(Cubic), Vector128<float>.One);
        return x / (Vector128<float>.One + AttentionKernels.Exp128(u * Vector128.Create(NegTwoBeta)));
    }
}
