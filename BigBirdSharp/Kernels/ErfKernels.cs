using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BigBirdSharp.Kernels;

/// <summary>
/// Single-precision error function and the exact (erf) GELU built on it. TensorPrimitives has no erf, so this
/// is hand-written: three polynomial pieces fitted (least squares on dense grids, near-minimax) to erf:
/// |x| &lt; 1: x·P(x²); 1 ≤ |x| &lt; 2.5 and 2.5 ≤ |x| &lt; 3.95: 1 − Q(|x| − centre); beyond 3.95 erf rounds to ±1.
/// The fitted pieces are accurate to about 1e-8; with float evaluation the total error is below 2e-7 absolute.
/// </summary>
internal static class ErfKernels
{
    private const float Split1 = 1f;
    private const float Split2 = 2.5f;
    private const float Saturate = 3.95f;
    private const float CentreB = 1.75f;
    private const float CentreC = 3.225f;
    private const float InvSqrt2 = 0.70710678118654752f;

    /// <summary>erf(x) in single precision (max error below 2e-7).</summary>
    /// <param name="x">The argument.</param>
    /// <returns>erf(x); NaN for NaN, ±1 for ±∞.</returns>
    public static float Erf(float x)
    {
        float a = MathF.Abs(x);
        float r;
        if (a >= Saturate)
        {
            r = 1f;
        }
        else if (a < Split1)
        {
            float u = a * a;
            float p = MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(-9.809343283e-06f, u, 1.131314057e-04f), u, -8.490198525e-04f), u, 5.221423227e-03f), u, -2.686555870e-02f), u, 1.128378436e-01f), u, -3.761263788e-01f), u, 1.128379226e+00f);
            r = a * p;
        }
        else if (a < Split2)
        {
            float t = a - CentreB;
            r = 1f - MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(3.078834197e-05f, t, 3.397108230e-04f), t, -9.099934250e-04f), t, -6.695300108e-04f), t, 6.063641049e-03f), t, -8.979549631e-03f), t, -6.625103764e-03f), t, 4.810424149e-02f), t, -9.015723318e-02f), t, 9.235615283e-02f), t, -5.277499557e-02f), t, 1.332832966e-02f);
        }
        else
        {
            float t = a - CentreC;
            r = 1f - MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(-2.102683356e-05f, t, 8.724158397e-05f), t, -1.896724571e-04f), t, 2.951696515e-04f), t, -3.550222900e-04f), t, 3.282582038e-04f), t, -2.265663643e-04f), t, 1.106824202e-04f), t, -3.431661389e-05f), t, 5.094895641e-06f);
        }
        return MathF.CopySign(r, x);
    }

    /// <summary>Exact GELU of one value: x·½·(1 + erf(x/√2)), the formula of torch's CPU kernel.</summary>
    /// <param name="x">The argument.</param>
    /// <returns>gelu(x).</returns>
    public static float Gelu(float x) => x * 0.5f * (1f + Erf(x * InvSqrt2));

    /// <summary>y[i] = erf(x[i]). <paramref name="y"/> may be the same span as <paramref name="x"/>.</summary>
    /// <param name="x">Input.</param>
    /// <param name="y">Output, same length as <paramref name="x"/>.</param>
    /// <exception cref="ArgumentException">Lengths differ.</exception>
    public static void Erf(ReadOnlySpan<float> x, Span<float> y) => Erf(x, y, KernelPath.Auto);

    /// <summary>y[i] = gelu(x[i]) (exact erf form). <paramref name="y"/> may be the same span as <paramref name="x"/>.</summary>
    /// <param name="x">Input.</param>
    /// <param name="y">Output, same length as <paramref name="x"/>.</param>
    /// <exception cref="ArgumentException">Lengths differ.</exception>
    public static void Gelu(ReadOnlySpan<float> x, Span<float> y) => Gelu(x, y, KernelPath.Auto);

    internal static void Erf(ReadOnlySpan<float> x, Span<float> y, KernelPath path) => Run(x, y, path, gelu: false);

    internal static void Gelu(ReadOnlySpan<float> x, Span<float> y, KernelPath path) => Run(x, y, path, gelu: true);

    private static void Run(ReadOnlySpan<float> x, Span<float> y, KernelPath path, bool gelu)
    {
        if (x.Length != y.Length)
        {
            throw new ArgumentException($"Input has {x.Length} elements but output has {y.Length}; they must match.", nameof(y));
        }
        int i = 0;
        ref float xs = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
        ref float ys = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(y);
        switch (KernelPaths.Resolve(path))
        {
            case KernelPath.Vector512:
                for (; i <= x.Length - 16; i += 16)
                {
                    Vector512<float> v = Vector512.LoadUnsafe(ref xs, (nuint)i);
                    (gelu ? Gelu512(v) : Erf512(v)).StoreUnsafe(ref ys, (nuint)i);
                }
                break;
            case KernelPath.Vector256:
                for (; i <= x.Length - 8; i += 8)
                {
                    Vector256<float> v = Vector256.LoadUnsafe(ref xs, (nuint)i);
                    (gelu ? Gelu256(v) : Erf256(v)).StoreUnsafe(ref ys, (nuint)i);
                }
                break;
            case KernelPath.Vector128:
                for (; i <= x.Length - 4; i += 4)
                {
                    Vector128<float> v = Vector128.LoadUnsafe(ref xs, (nuint)i);
                    (gelu ? Gelu128(v) : Erf128(v)).StoreUnsafe(ref ys, (nuint)i);
                }
                break;
            default:
                break;
        }
        // Remainder (or everything, on the scalar path) element by element: the same polynomials in scalar form.
        for (; i < x.Length; i++)
        {
            y[i] = gelu ? Gelu(x[i]) : Erf(x[i]);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Gelu512(Vector512<float> x)
        => x * Vector512.Create(0.5f) * (Vector512<float>.One + Erf512(x * Vector512.Create(InvSqrt2)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Erf512(Vector512<float> x)
    {
        Vector512<float> a = Vector512.Abs(x);
        Vector512<float> u = a * a;
        Vector512<float> pa = Vector512.Create(-9.809343283e-06f);
        pa = Vector512.FusedMultiplyAdd(pa, u, Vector512.Create(1.131314057e-04f));
        pa = Vector512.FusedMultiplyAdd(pa, u, Vector512.Create(-8.490198525e-04f));
        pa = Vector512.FusedMultiplyAdd(pa, u, Vector512.Create(5.221423227e-03f));
        pa = Vector512.FusedMultiplyAdd(pa, u, Vector512.Create(-2.686555870e-02f));
        pa = Vector512.FusedMultiplyAdd(pa, u, Vector512.Create(1.128378436e-01f));
        pa = Vector512.FusedMultiplyAdd(pa, u, Vector512.Create(-3.761263788e-01f));
        pa = Vector512.FusedMultiplyAdd(pa, u, Vector512.Create(1.128379226e+00f));
        pa *= a;
        Vector512<float> tb = a - Vector512.Create(CentreB);
        Vector512<float> pb = Vector512.Create(3.078834197e-05f);
        pb = Vector512.FusedMultiplyAdd(pb, tb, Vector512.Create(3.397108230e-04f));
        pb = Vector512.FusedMultiplyAdd(pb, tb, Vector512.Create(-9.099934250e-04f));
        pb = Vector512.FusedMultiplyAdd(pb, tb, Vector512.Create(-6.695300108e-04f));
        pb = Vector512.FusedMultiplyAdd(pb, tb, Vector512.Create(6.063641049e-03f));
        pb = Vector512.FusedMultiplyAdd(pb, tb, Vector512.Create(-8.979549631e-03f));
        pb = Vector512.FusedMultiplyAdd(pb, tb, Vector512.Create(-6.625103764e-03f));
        pb = Vector512.FusedMultiplyAdd(pb, tb, Vector512.Create(4.810424149e-02f));
        pb = Vector512.FusedMultiplyAdd(pb, tb, Vector512.Create(-9.015723318e-02f));
        pb = Vector512.FusedMultiplyAdd(pb, tb, Vector512.Create(9.235615283e-02f));
        pb = Vector512.FusedMultiplyAdd(pb, tb, Vector512.Create(-5.277499557e-02f));
        pb = Vector512.FusedMultiplyAdd(pb, tb, Vector512.Create(1.332832966e-02f));
        Vector512<float> tc = a - Vector512.Create(CentreC);
        Vector512<float> pc = Vector512.Create(-2.102683356e-05f);
        pc = Vector512.FusedMultiplyAdd(pc, tc, Vector512.Create(8.724158397e-05f));
        pc = Vector512.FusedMultiplyAdd(pc, tc, Vector512.Create(-1.896724571e-04f));
        pc = Vector512.FusedMultiplyAdd(pc, tc, Vector512.Create(2.951696515e-04f));
        pc = Vector512.FusedMultiplyAdd(pc, tc, Vector512.Create(-3.550222900e-04f));
        pc = Vector512.FusedMultiplyAdd(pc, tc, Vector512.Create(3.282582038e-04f));
        pc = Vector512.FusedMultiplyAdd(pc, tc, Vector512.Create(-2.265663643e-04f));
        pc = Vector512.FusedMultiplyAdd(pc, tc, Vector512.Create(1.106824202e-04f));
        pc = Vector512.FusedMultiplyAdd(pc, tc, Vector512.Create(-3.431661389e-05f));
        pc = Vector512.FusedMultiplyAdd(pc, tc, Vector512.Create(5.094895641e-06f));
        // NaN fails every comparison and so keeps the third piece, which propagates it.
        Vector512<float> r = Vector512<float>.One - pc;
        r = Vector512.ConditionalSelect(Vector512.LessThan(a, Vector512.Create(Split2)), Vector512<float>.One - pb, r);
        r = Vector512.ConditionalSelect(Vector512.LessThan(a, Vector512.Create(Split1)), pa, r);
        r = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(a, Vector512.Create(Saturate)), Vector512<float>.One, r);
        return Vector512.CopySign(r, x);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Gelu256(Vector256<float> x)
        => x * Vector256.Create(0.5f) * (Vector256<float>.One + Erf256(x * Vector256.Create(InvSqrt2)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Erf256(Vector256<float> x)
    {
        Vector256<float> a = Vector256.Abs(x);
        Vector256<float> u = a * a;
        Vector256<float> pa = Vector256.Create(-9.809343283e-06f);
        pa = Vector256.FusedMultiplyAdd(pa, u, Vector256.Create(1.131314057e-04f));
        pa = Vector256.FusedMultiplyAdd(pa, u, Vector256.Create(-8.490198525e-04f));
        pa = Vector256.FusedMultiplyAdd(pa, u, Vector256.Create(5.221423227e-03f));
        pa = Vector256.FusedMultiplyAdd(pa, u, Vector256.Create(-2.686555870e-02f));
        pa = Vector256.FusedMultiplyAdd(pa, u, Vector256.Create(1.128378436e-01f));
        pa = Vector256.FusedMultiplyAdd(pa, u, Vector256.Create(-3.761263788e-01f));
        pa = Vector256.FusedMultiplyAdd(pa, u, Vector256.Create(1.128379226e+00f));
        pa *= a;
        Vector256<float> tb = a - Vector256.Create(CentreB);
        Vector256<float> pb = Vector256.Create(3.078834197e-05f);
        pb = Vector256.FusedMultiplyAdd(pb, tb, Vector256.Create(3.397108230e-04f));
        pb = Vector256.FusedMultiplyAdd(pb, tb, Vector256.Create(-9.099934250e-04f));
        pb = Vector256.FusedMultiplyAdd(pb, tb, Vector256.Create(-6.695300108e-04f));
        pb = Vector256.FusedMultiplyAdd(pb, tb, Vector256.Create(6.063641049e-03f));
        pb = Vector256.FusedMultiplyAdd(pb, tb, Vector256.Create(-8.979549631e-03f));
        pb = Vector256.FusedMultiplyAdd(pb, tb, Vector256.Create(-6.625103764e-03f));
        pb = Vector256.FusedMultiplyAdd(pb, tb, Vector256.Create(4.810424149e-02f));
        pb = Vector256.FusedMultiplyAdd(pb, tb, Vector256.Create(-9.015723318e-02f));
        pb = Vector256.FusedMultiplyAdd(pb, tb, Vector256.Create(9.235615283e-02f));
        pb = Vector256.FusedMultiplyAdd(pb, tb, Vector256.Create(-5.277499557e-02f));
        pb = Vector256.FusedMultiplyAdd(pb, tb, Vector256.Create(1.332832966e-02f));
        Vector256<float> tc = a - Vector256.Create(CentreC);
        Vector256<float> pc = Vector256.Create(-2.102683356e-05f);
        pc = Vector256.FusedMultiplyAdd(pc, tc, Vector256.Create(8.724158397e-05f));
        pc = Vector256.FusedMultiplyAdd(pc, tc, Vector256.Create(-1.896724571e-04f));
        pc = Vector256.FusedMultiplyAdd(pc, tc, Vector256.Create(2.951696515e-04f));
        pc = Vector256.FusedMultiplyAdd(pc, tc, Vector256.Create(-3.550222900e-04f));
        pc = Vector256.FusedMultiplyAdd(pc, tc, Vector256.Create(3.282582038e-04f));
        pc = Vector256.FusedMultiplyAdd(pc, tc, Vector256.Create(-2.265663643e-04f));
        pc = Vector256.FusedMultiplyAdd(pc, tc, Vector256.Create(1.106824202e-04f));
        pc = Vector256.FusedMultiplyAdd(pc, tc, Vector256.Create(-3.431661389e-05f));
        pc = Vector256.FusedMultiplyAdd(pc, tc, Vector256.Create(5.094895641e-06f));
        // NaN fails every comparison and so keeps the third piece, which propagates it.
        Vector256<float> r = Vector256<float>.One - pc;
        r = Vector256.ConditionalSelect(Vector256.LessThan(a, Vector256.Create(Split2)), Vector256<float>.One - pb, r);
        r = Vector256.ConditionalSelect(Vector256.LessThan(a, Vector256.Create(Split1)), pa, r);
        r = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(a, Vector256.Create(Saturate)), Vector256<float>.One, r);
        return Vector256.CopySign(r, x);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> Gelu128(Vector128<float> x)
        => x * Vector128.Create(0.5f) * (Vector128<float>.One + Erf128(x * Vector128.Create(InvSqrt2)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> Erf128(Vector128<float> x)
    {
        Vector128<float> a = Vector128.Abs(x);
        Vector128<float> u = a * a;
        Vector128<float> pa = Vector128.Create(-9.809343283e-06f);
        pa = Vector128.FusedMultiplyAdd(pa, u, Vector128.Create(1.131314057e-04f));
        pa = Vector128.FusedMultiplyAdd(pa, u, Vector128.Create(-8.490198525e-04f));
        pa = Vector128.FusedMultiplyAdd(pa, u, Vector128.Create(5.221423227e-03f));
        pa = Vector128.FusedMultiplyAdd(pa, u, Vector128.Create(-2.686555870e-02f));
        pa = Vector128.FusedMultiplyAdd(pa, u, Vector128.Create(1.128378436e-01f));
        pa = Vector128.FusedMultiplyAdd(pa, u, Vector128.Create(-3.761263788e-01f));
        pa = Vector128.FusedMultiplyAdd(pa, u, Vector128.Create(1.128379226e+00f));
        pa *= a;
        Vector128<float> tb = a - Vector128.Create(CentreB);
        Vector128<float> pb = Vector128.Create(3.078834197e-05f);
        pb = Vector128.FusedMultiplyAdd(pb, tb, Vector128.Create(3.397108230e-04f));
        pb = Vector128.FusedMultiplyAdd(pb, tb, Vector128.Create(-9.099934250e-04f));
        pb = Vector128.FusedMultiplyAdd(pb, tb, Vector128.Create(-6.695300108e-04f));
        pb = Vector128.FusedMultiplyAdd(pb, tb, Vector128.Create(6.063641049e-03f));
        pb = Vector128.FusedMultiplyAdd(pb, tb, Vector128.Create(-8.979549631e-03f));
        pb = Vector128.FusedMultiplyAdd(pb, tb, Vector128.Create(-6.625103764e-03f));
        pb = Vector128.FusedMultiplyAdd(pb, tb, Vector128.Create(4.810424149e-02f));
        pb = Vector128.FusedMultiplyAdd(pb, tb, Vector128.Create(-9.015723318e-02f));
        pb = Vector128.FusedMultiplyAdd(pb, tb, Vector128.Create(9.235615283e-02f));
        pb = Vector128.FusedMultiplyAdd(pb, tb, Vector128.Create(-5.277499557e-02f));
        pb = Vector128.FusedMultiplyAdd(pb, tb, Vector128.Create(1.332832966e-02f));
        Vector128<float> tc = a - Vector128.Create(CentreC);
        Vector128<float> pc = Vector128.Create(-2.102683356e-05f);
        pc = Vector128.FusedMultiplyAdd(pc, tc, Vector128.Create(8.724158397e-05f));
        pc = Vector128.FusedMultiplyAdd(pc, tc, Vector128.Create(-1.896724571e-04f));
        pc = Vector128.FusedMultiplyAdd(pc, tc, Vector128.Create(2.951696515e-04f));
        pc = Vector128.FusedMultiplyAdd(pc, tc, Vector128.Create(-3.550222900e-04f));
        pc = Vector128.FusedMultiplyAdd(pc, tc, Vector128.Create(3.282582038e-04f));
        pc = Vector128.FusedMultiplyAdd(pc, tc, Vector128.Create(-2.265663643e-04f));
        pc = Vector128.FusedMultiplyAdd(pc, tc, Vector128.Create(1.106824202e-04f));
        pc = Vector128.FusedMultiplyAdd(pc, tc, Vector128.Create(-3.431661389e-05f));
        pc = Vector128.FusedMultiplyAdd(pc, tc, Vector128.Create(5.094895641e-06f));
        // NaN fails every comparison and so keeps the third piece, which propagates it.
        Vector128<float> r = Vector128<float>.One - pc;
        r = Vector128.ConditionalSelect(Vector128.LessThan(a, Vector128.Create(Split2)), Vector128<float>.One - pb, r);
        r = Vector128.ConditionalSelect(Vector128.LessThan(a, Vector128.Create(Split1)), pa, r);
        r = Vector128.ConditionalSelect(Vector128.GreaterThanOrEqual(a, Vector128.Create(Saturate)), Vector128<float>.One, r);
        return Vector128.CopySign(r, x);
    }

}
