using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BigBirdSharp.Kernels;

/// <summary>
/// How a micro-kernel finishes its tile: v = acc·alpha, plus C (later K blocks, or accumulate into a linear
/// result), plus the bias (first K block), then the activation (last K block), then plus the old C when
/// accumulating into an activated result. The order is fixed so every path gives the same bits.
/// </summary>
internal unsafe struct GemmEpilogue
{
    /// <summary>Scale of the product.</summary>
    internal float Alpha;

    /// <summary>Add the current contents of C before the activation: v = acc·alpha + (C + bias).</summary>
    internal bool LoadC;

    /// <summary>Bias at the tile's first column, or null. Added only on the first K block.</summary>
    internal float* Bias;

    /// <summary>Applied on the last K block; <see cref="ActivationKind.Linear"/> is none.</summary>
    internal ActivationKind Activation;

    /// <summary>C = old C + act(v): accumulate into an activated result (only with a single K block).</summary>
    internal bool AddAfter;

    /// <summary>No bias, no activation, no add after it: the kernels store alpha·acc (+ C) straight from registers.</summary>
    internal readonly bool PlainStore
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => !AddAfter && Bias == null && Activation == ActivationKind.Linear;
    }

    /// <summary>Whether the vector kernels finish full tiles with their vector epilogue (the activations they evaluate themselves).</summary>
    internal readonly bool InRegisters
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Activation is ActivationKind.Linear or ActivationKind.Relu or ActivationKind.Gelu
            or ActivationKind.GeluPython or ActivationKind.Gelu10 or ActivationKind.GeluNew or ActivationKind.GeluPytorchTanh
            or ActivationKind.GeluFast;
    }

    /// <summary>Whether <paramref name="kind"/> is the identity.</summary>
    internal static bool IsLinear(ActivationKind kind) => kind == ActivationKind.Linear;
}

/// <summary>
/// Register-blocked GEMM micro-kernels: C[0..MR, 0..NR] from an A panel (kc groups of MR row values) and a B panel
/// (kc rows of NR values), accumulated with FMA in fp32 along k, then finished by a <see cref="GemmEpilogue"/> while
/// the tile is still in registers (or in a stack tile at the edges). One kernel per vector width; all accumulate
/// each output in the same order, so every path produces the same bits.
/// </summary>
[SkipLocalsInit]
internal static unsafe class GemmMicroKernels
{
    /// <summary>Rows of C in one register tile (all paths).</summary>
    internal const int MR = 6;

    /// <summary>NR of the micro-kernel of <paramref name="path"/> (a resolved path).</summary>
    internal static int PanelWidth(KernelPath path) => path switch
    {
        KernelPath.Vector512 => NR512,
        KernelPath.Vector256 => NR256,
        KernelPath.Vector128 => NR128,
        _ => NRScalar,
    };

    /// <summary>Runs the micro-kernel of <paramref name="path"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Run(KernelPath path, int kc, float* pa, float* pb, float* c, int ldc, in GemmEpilogue ep, int mr, int nr)
    {
        switch (path)
        {
            case KernelPath.Vector512:
                Kernel512(kc, pa, pb, c, ldc, in ep, mr, nr);
                break;
            case KernelPath.Vector256:
                Kernel256(kc, pa, pb, c, ldc, in ep, mr, nr);
                break;
            case KernelPath.Vector128:
                Kernel128(kc, pa, pb, c, ldc, in ep, mr, nr);
                break;
            default:
                KernelScalar(kc, pa, pb, c, ldc, in ep, mr, nr);
                break;
        }
    }

    /// <summary>Columns of C in one Vector512 register tile (two vectors).</summary>
    internal const int NR512 = 32;

    /// <summary>
    /// One MR×32 tile of C over kc steps of the packed panels (Vector512 FMA, fp32 accumulation), finished by
    /// <paramref name="ep"/> on the tile while it is in L1: full tiles with an activation evaluated in vector
    /// registers take the vector epilogue, edge tiles and other activations <see cref="EpilogueScalar"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel512(int kc, float* pa, float* pb, float* c, int ldc, in GemmEpilogue ep, int mr, int nr)
    {
        Vector512<float> c00 = default, c01 = default;
        Vector512<float> c10 = default, c11 = default;
        Vector512<float> c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default;
        Vector512<float> c50 = default, c51 = default;
        // Unrolled by two steps of k; an odd last step runs alone.
        int p = 0;
        for (; p + 2 <= kc; p += 2)
        {
            Vector512<float> b0 = Vector512.Load(pb);
            Vector512<float> b1 = Vector512.Load(pb + 16);
            Vector512<float> a0 = Vector512.Create(pa[0]);
            c00 = Vector512.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector512.FusedMultiplyAdd(a0, b1, c01);
            Vector512<float> a1 = Vector512.Create(pa[1]);
            c10 = Vector512.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector512.FusedMultiplyAdd(a1, b1, c11);
            Vector512<float> a2 = Vector512.Create(pa[2]);
            c20 = Vector512.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector512.FusedMultiplyAdd(a2, b1, c21);
            Vector512<float> a3 = Vector512.Create(pa[3]);
            c30 = Vector512.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector512.FusedMultiplyAdd(a3, b1, c31);
            Vector512<float> a4 = Vector512.Create(pa[4]);
            c40 = Vector512.FusedMultiplyAdd(a4, b0, c40);
            c41 = Vector512.FusedMultiplyAdd(a4, b1, c41);
            Vector512<float> a5 = Vector512.Create(pa[5]);
            c50 = Vector512.FusedMultiplyAdd(a5, b0, c50);
            c51 = Vector512.FusedMultiplyAdd(a5, b1, c51);
            b0 = Vector512.Load(pb + 32);
            b1 = Vector512.Load(pb + 32 + 16);
            a0 = Vector512.Create(pa[MR + 0]);
            c00 = Vector512.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector512.FusedMultiplyAdd(a0, b1, c01);
            a1 = Vector512.Create(pa[MR + 1]);
            c10 = Vector512.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector512.FusedMultiplyAdd(a1, b1, c11);
            a2 = Vector512.Create(pa[MR + 2]);
            c20 = Vector512.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector512.FusedMultiplyAdd(a2, b1, c21);
            a3 = Vector512.Create(pa[MR + 3]);
            c30 = Vector512.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector512.FusedMultiplyAdd(a3, b1, c31);
            a4 = Vector512.Create(pa[MR + 4]);
            c40 = Vector512.FusedMultiplyAdd(a4, b0, c40);
            c41 = Vector512.FusedMultiplyAdd(a4, b1, c41);
            a5 = Vector512.Create(pa[MR + 5]);
            c50 = Vector512.FusedMultiplyAdd(a5, b0, c50);
            c51 = Vector512.FusedMultiplyAdd(a5, b1, c51);
            pa += 2 * MR;
            pb += 2 * 32;
        }
        if (p < kc)
        {
            Vector512<float> b0 = Vector512.Load(pb);
            Vector512<float> b1 = Vector512.Load(pb + 16);
            Vector512<float> a0 = Vector512.Create(pa[0]);
            c00 = Vector512.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector512.FusedMultiplyAdd(a0, b1, c01);
            Vector512<float> a1 = Vector512.Create(pa[1]);
            c10 = Vector512.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector512.FusedMultiplyAdd(a1, b1, c11);
            Vector512<float> a2 = Vector512.Create(pa[2]);
            c20 = Vector512.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector512.FusedMultiplyAdd(a2, b1, c21);
            Vector512<float> a3 = Vector512.Create(pa[3]);
            c30 = Vector512.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector512.FusedMultiplyAdd(a3, b1, c31);
            Vector512<float> a4 = Vector512.Create(pa[4]);
            c40 = Vector512.FusedMultiplyAdd(a4, b0, c40);
            c41 = Vector512.FusedMultiplyAdd(a4, b1, c41);
            Vector512<float> a5 = Vector512.Create(pa[5]);
            c50 = Vector512.FusedMultiplyAdd(a5, b0, c50);
            c51 = Vector512.FusedMultiplyAdd(a5, b1, c51);
        }
        if (mr == MR && nr == 32 && ep.PlainStore)
        {
            // No bias or activation (attention products, later K blocks): scale, add C when asked, store.
            Vector512<float> va = Vector512.Create(ep.Alpha);
            if (ep.LoadC)
            {
                Vector512.FusedMultiplyAdd(c00, va, Vector512.Load(c)).Store(c);
                Vector512.FusedMultiplyAdd(c01, va, Vector512.Load(c + 16)).Store(c + 16);
                Vector512.FusedMultiplyAdd(c10, va, Vector512.Load(c + ldc)).Store(c + ldc);
                Vector512.FusedMultiplyAdd(c11, va, Vector512.Load(c + ldc + 16)).Store(c + ldc + 16);
                Vector512.FusedMultiplyAdd(c20, va, Vector512.Load(c + 2 * ldc)).Store(c + 2 * ldc);
                Vector512.FusedMultiplyAdd(c21, va, Vector512.Load(c + 2 * ldc + 16)).Store(c + 2 * ldc + 16);
                Vector512.FusedMultiplyAdd(c30, va, Vector512.Load(c + 3 * ldc)).Store(c + 3 * ldc);
                Vector512.FusedMultiplyAdd(c31, va, Vector512.Load(c + 3 * ldc + 16)).Store(c + 3 * ldc + 16);
                Vector512.FusedMultiplyAdd(c40, va, Vector512.Load(c + 4 * ldc)).Store(c + 4 * ldc);
                Vector512.FusedMultiplyAdd(c41, va, Vector512.Load(c + 4 * ldc + 16)).Store(c + 4 * ldc + 16);
                Vector512.FusedMultiplyAdd(c50, va, Vector512.Load(c + 5 * ldc)).Store(c + 5 * ldc);
                Vector512.FusedMultiplyAdd(c51, va, Vector512.Load(c + 5 * ldc + 16)).Store(c + 5 * ldc + 16);
            }
            else
            {
                (c00 * va).Store(c);
                (c01 * va).Store(c + 16);
                (c10 * va).Store(c + ldc);
                (c11 * va).Store(c + ldc + 16);
                (c20 * va).Store(c + 2 * ldc);
                (c21 * va).Store(c + 2 * ldc + 16);
                (c30 * va).Store(c + 3 * ldc);
                (c31 * va).Store(c + 3 * ldc + 16);
                (c40 * va).Store(c + 4 * ldc);
                (c41 * va).Store(c + 4 * ldc + 16);
                (c50 * va).Store(c + 5 * ldc);
                (c51 * va).Store(c + 5 * ldc + 16);
            }
            return;
        }
        // The accumulators leave registers right after the loop (12 stores into L1 per tile): keeping them live
        // into the epilogue made the JIT spill all twelve on every iteration of the loop.
        float* t = stackalloc float[MR * 32];
        c00.Store(t + 0 * 32); c01.Store(t + 0 * 32 + 16);
        c10.Store(t + 1 * 32); c11.Store(t + 1 * 32 + 16);
        c20.Store(t + 2 * 32); c21.Store(t + 2 * 32 + 16);
        c30.Store(t + 3 * 32); c31.Store(t + 3 * 32 + 16);
        c40.Store(t + 4 * 32); c41.Store(t + 4 * 32 + 16);
        c50.Store(t + 5 * 32); c51.Store(t + 5 * 32 + 16);
        if (mr == MR && nr == 32 && ep.InRegisters)
        {
            Epilogue512(t, c, ldc, in ep);
        }
        else
        {
            EpilogueScalar(t, 32, c, ldc, in ep, mr, nr);
        }
    }

    /// <summary>The vector epilogue of a full tile held in <paramref name="t"/> (MR rows of 32).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Epilogue512(float* t, float* c, int ldc, in GemmEpilogue ep)
    {
        Vector512<float> va = Vector512.Create(ep.Alpha);
        float* bias = ep.Bias;
        for (int i = 0; i < MR; i++)
        {
            Store512(c + (long)i * ldc, Vector512.Load(t + i * 32), Vector512.Load(t + i * 32 + 16), va, bias, in ep);
        }
    }

    /// <summary>The vector epilogue of one full tile row; the same operations, in the same order, as <see cref="EpilogueScalar"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store512(float* dst, Vector512<float> x0, Vector512<float> x1, Vector512<float> va, float* bias, in GemmEpilogue ep)
    {
        Vector512<float> v0, v1;
        if (ep.LoadC)
        {
            Vector512<float> s0 = Vector512.Load(dst);
            Vector512<float> s1 = Vector512.Load(dst + 16);
            if (bias != null)
            {
                s0 += Vector512.Load(bias);
                s1 += Vector512.Load(bias + 16);
            }
            v0 = Vector512.FusedMultiplyAdd(x0, va, s0);
            v1 = Vector512.FusedMultiplyAdd(x1, va, s1);
        }
        else if (bias != null)
        {
            v0 = Vector512.FusedMultiplyAdd(x0, va, Vector512.Load(bias));
            v1 = Vector512.FusedMultiplyAdd(x1, va, Vector512.Load(bias + 16));
        }
        else
        {
            v0 = x0 * va;
            v1 = x1 * va;
        }
        switch (ep.Activation)
        {
            case ActivationKind.Relu:
                v0 = Vector512.Max(v0, Vector512<float>.Zero);
                v1 = Vector512.Max(v1, Vector512<float>.Zero);
                break;
            case ActivationKind.Gelu:
            case ActivationKind.GeluPython:
                v0 = ErfKernels.Gelu512(v0);
                v1 = ErfKernels.Gelu512(v1);
                break;
            case ActivationKind.Gelu10:
                v0 = Vector512.Min(Vector512.Max(ErfKernels.Gelu512(v0), Vector512.Create(-10f)), Vector512.Create(10f));
                v1 = Vector512.Min(Vector512.Max(ErfKernels.Gelu512(v1), Vector512.Create(-10f)), Vector512.Create(10f));
                break;
            case ActivationKind.GeluNew:
            case ActivationKind.GeluPytorchTanh:
                v0 = TanhGeluKernels.GeluNew512(v0);
                v1 = TanhGeluKernels.GeluNew512(v1);
                break;
            case ActivationKind.GeluFast:
                v0 = TanhGeluKernels.GeluFast512(v0);
                v1 = TanhGeluKernels.GeluFast512(v1);
                break;
            default:
                break;
        }
        if (ep.AddAfter)
        {
            v0 = Vector512.Load(dst) + v0;
            v1 = Vector512.Load(dst + 16) + v1;
        }
        v0.Store(dst);
        v1.Store(dst + 16);
    }

    /// <summary>Columns of C in one Vector256 register tile (two vectors).</summary>
    internal const int NR256 = 16;

    /// <summary>
    /// One MR×16 tile of C over kc steps of the packed panels (Vector256 FMA, fp32 accumulation), finished by
    /// <paramref name="ep"/> on the tile while it is in L1: full tiles with an activation evaluated in vector
    /// registers take the vector epilogue, edge tiles and other activations <see cref="EpilogueScalar"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel256(int kc, float* pa, float* pb, float* c, int ldc, in GemmEpilogue ep, int mr, int nr)
    {
        Vector256<float> c00 = default, c01 = default;
        Vector256<float> c10 = default, c11 = default;
        Vector256<float> c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default;
        Vector256<float> c40 = default, c41 = default;
        Vector256<float> c50 = default, c51 = default;
        // Unrolled by two steps of k; an odd last step runs alone.
        int p = 0;
        for (; p + 2 <= kc; p += 2)
        {
            Vector256<float> b0 = Vector256.Load(pb);
            Vector256<float> b1 = Vector256.Load(pb + 8);
            Vector256<float> a0 = Vector256.Create(pa[0]);
            c00 = Vector256.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(a0, b1, c01);
            Vector256<float> a1 = Vector256.Create(pa[1]);
            c10 = Vector256.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(a1, b1, c11);
            Vector256<float> a2 = Vector256.Create(pa[2]);
            c20 = Vector256.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(a2, b1, c21);
            Vector256<float> a3 = Vector256.Create(pa[3]);
            c30 = Vector256.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(a3, b1, c31);
            Vector256<float> a4 = Vector256.Create(pa[4]);
            c40 = Vector256.FusedMultiplyAdd(a4, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(a4, b1, c41);
            Vector256<float> a5 = Vector256.Create(pa[5]);
            c50 = Vector256.FusedMultiplyAdd(a5, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(a5, b1, c51);
            b0 = Vector256.Load(pb + 16);
            b1 = Vector256.Load(pb + 16 + 8);
            a0 = Vector256.Create(pa[MR + 0]);
            c00 = Vector256.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(a0, b1, c01);
            a1 = Vector256.Create(pa[MR + 1]);
            c10 = Vector256.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(a1, b1, c11);
            a2 = Vector256.Create(pa[MR + 2]);
            c20 = Vector256.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(a2, b1, c21);
            a3 = Vector256.Create(pa[MR + 3]);
            c30 = Vector256.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(a3, b1, c31);
            a4 = Vector256.Create(pa[MR + 4]);
            c40 = Vector256.FusedMultiplyAdd(a4, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(a4, b1, c41);
            a5 = Vector256.Create(pa[MR + 5]);
            c50 = Vector256.FusedMultiplyAdd(a5, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(a5, b1, c51);
            pa += 2 * MR;
            pb += 2 * 16;
        }
        if (p < kc)
        {
            Vector256<float> b0 = Vector256.Load(pb);
            Vector256<float> b1 = Vector256.Load(pb + 8);
            Vector256<float> a0 = Vector256.Create(pa[0]);
            c00 = Vector256.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(a0, b1, c01);
            Vector256<float> a1 = Vector256.Create(pa[1]);
            c10 = Vector256.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(a1, b1, c11);
            Vector256<float> a2 = Vector256.Create(pa[2]);
            c20 = Vector256.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(a2, b1, c21);
            Vector256<float> a3 = Vector256.Create(pa[3]);
            c30 = Vector256.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(a3, b1, c31);
            Vector256<float> a4 = Vector256.Create(pa[4]);
            c40 = Vector256.FusedMultiplyAdd(a4, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(a4, b1, c41);
            Vector256<float> a5 = Vector256.Create(pa[5]);
            c50 = Vector256.FusedMultiplyAdd(a5, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(a5, b1, c51);
        }
        if (mr == MR && nr == 16 && ep.PlainStore)
        {
            // No bias or activation (attention products, later K blocks): scale, add C when asked, store.
            Vector256<float> va = Vector256.Create(ep.Alpha);
            if (ep.LoadC)
            {
                Vector256.FusedMultiplyAdd(c00, va, Vector256.Load(c)).Store(c);
                Vector256.FusedMultiplyAdd(c01, va, Vector256.Load(c + 8)).Store(c + 8);
                Vector256.FusedMultiplyAdd(c10, va, Vector256.Load(c + ldc)).Store(c + ldc);
                Vector256.FusedMultiplyAdd(c11, va, Vector256.Load(c + ldc + 8)).Store(c + ldc + 8);
                Vector256.FusedMultiplyAdd(c20, va, Vector256.Load(c + 2 * ldc)).Store(c + 2 * ldc);
                Vector256.FusedMultiplyAdd(c21, va, Vector256.Load(c + 2 * ldc + 8)).Store(c + 2 * ldc + 8);
                Vector256.FusedMultiplyAdd(c30, va, Vector256.Load(c + 3 * ldc)).Store(c + 3 * ldc);
                Vector256.FusedMultiplyAdd(c31, va, Vector256.Load(c + 3 * ldc + 8)).Store(c + 3 * ldc + 8);
                Vector256.FusedMultiplyAdd(c40, va, Vector256.Load(c + 4 * ldc)).Store(c + 4 * ldc);
                Vector256.FusedMultiplyAdd(c41, va, Vector256.Load(c + 4 * ldc + 8)).Store(c + 4 * ldc + 8);
                Vector256.FusedMultiplyAdd(c50, va, Vector256.Load(c + 5 * ldc)).Store(c + 5 * ldc);
                Vector256.FusedMultiplyAdd(c51, va, Vector256.Load(c + 5 * ldc + 8)).Store(c + 5 * ldc + 8);
            }
            else
            {
                (c00 * va).Store(c);
                (c01 * va).Store(c + 8);
                (c10 * va).Store(c + ldc);
                (c11 * va).Store(c + ldc + 8);
                (c20 * va).Store(c + 2 * ldc);
                (c21 * va).Store(c + 2 * ldc + 8);
                (c30 * va).Store(c + 3 * ldc);
                (c31 * va).Store(c + 3 * ldc + 8);
                (c40 * va).Store(c + 4 * ldc);
                (c41 * va).Store(c + 4 * ldc + 8);
                (c50 * va).Store(c + 5 * ldc);
                (c51 * va).Store(c + 5 * ldc + 8);
            }
            return;
        }
        // The accumulators leave registers right after the loop (12 stores into L1 per tile): keeping them live
        // into the epilogue made the JIT spill all twelve on every iteration of the loop.
        float* t = stackalloc float[MR * 16];
        c00.Store(t + 0 * 16); c01.Store(t + 0 * 16 + 8);
        c10.Store(t + 1 * 16); c11.Store(t + 1 * 16 + 8);
        c20.Store(t + 2 * 16); c21.Store(t + 2 * 16 + 8);
        c30.Store(t + 3 * 16); c31.Store(t + 3 * 16 + 8);
        c40.Store(t + 4 * 16); c41.Store(t + 4 * 16 + 8);
        c50.Store(t + 5 * 16); c51.Store(t + 5 * 16 + 8);
        if (mr == MR && nr == 16 && ep.InRegisters)
        {
            Epilogue256(t, c, ldc, in ep);
        }
        else
        {
            EpilogueScalar(t, 16, c, ldc, in ep, mr, nr);
        }
    }

    /// <summary>The vector epilogue of a full tile held in <paramref name="t"/> (MR rows of 16).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Epilogue256(float* t, float* c, int ldc, in GemmEpilogue ep)
    {
        Vector256<float> va = Vector256.Create(ep.Alpha);
        float* bias = ep.Bias;
        for (int i = 0; i < MR; i++)
        {
            Store256(c + (long)i * ldc, Vector256.Load(t + i * 16), Vector256.Load(t + i * 16 + 8), va, bias, in ep);
        }
    }

    /// <summary>The vector epilogue of one full tile row; the same operations, in the same order, as <see cref="EpilogueScalar"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store256(float* dst, Vector256<float> x0, Vector256<float> x1, Vector256<float> va, float* bias, in GemmEpilogue ep)
    {
        Vector256<float> v0, v1;
        if (ep.LoadC)
        {
            Vector256<float> s0 = Vector256.Load(dst);
            Vector256<float> s1 = Vector256.Load(dst + 8);
            if (bias != null)
            {
                s0 += Vector256.Load(bias);
                s1 += Vector256.Load(bias + 8);
            }
            v0 = Vector256.FusedMultiplyAdd(x0, va, s0);
            v1 = Vector256.FusedMultiplyAdd(x1, va, s1);
        }
        else if (bias != null)
        {
            v0 = Vector256.FusedMultiplyAdd(x0, va, Vector256.Load(bias));
            v1 = Vector256.FusedMultiplyAdd(x1, va, Vector256.Load(bias + 8));
        }
        else
        {
            v0 = x0 * va;
            v1 = x1 * va;
        }
        switch (ep.Activation)
        {
            case ActivationKind.Relu:
                v0 = Vector256.Max(v0, Vector256<float>.Zero);
                v1 = Vector256.Max(v1, Vector256<float>.Zero);
                break;
            case ActivationKind.Gelu:
            case ActivationKind.GeluPython:
                v0 = ErfKernels.Gelu256(v0);
                v1 = ErfKernels.Gelu256(v1);
                break;
            case ActivationKind.Gelu10:
                v0 = Vector256.Min(Vector256.Max(ErfKernels.Gelu256(v0), Vector256.Create(-10f)), Vector256.Create(10f));
                v1 = Vector256.Min(Vector256.Max(ErfKernels.Gelu256(v1), Vector256.Create(-10f)), Vector256.Create(10f));
                break;
            case ActivationKind.GeluNew:
            case ActivationKind.GeluPytorchTanh:
                v0 = TanhGeluKernels.GeluNew256(v0);
                v1 = TanhGeluKernels.GeluNew256(v1);
                break;
            case ActivationKind.GeluFast:
                v0 = TanhGeluKernels.GeluFast256(v0);
                v1 = TanhGeluKernels.GeluFast256(v1);
                break;
            default:
                break;
        }
        if (ep.AddAfter)
        {
            v0 = Vector256.Load(dst) + v0;
            v1 = Vector256.Load(dst + 8) + v1;
        }
        v0.Store(dst);
        v1.Store(dst + 8);
    }

    /// <summary>Columns of C in one Vector128 register tile (two vectors).</summary>
    internal const int NR128 = 8;

    /// <summary>
    /// One MR×8 tile of C over kc steps of the packed panels (Vector128 FMA, fp32 accumulation), finished by
    /// <paramref name="ep"/> on the tile while it is in L1: full tiles with an activation evaluated in vector
    /// registers take the vector epilogue, edge tiles and other activations <see cref="EpilogueScalar"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel128(int kc, float* pa, float* pb, float* c, int ldc, in GemmEpilogue ep, int mr, int nr)
    {
        Vector128<float> c00 = default, c01 = default;
        Vector128<float> c10 = default, c11 = default;
        Vector128<float> c20 = default, c21 = default;
        Vector128<float> c30 = default, c31 = default;
        Vector128<float> c40 = default, c41 = default;
        Vector128<float> c50 = default, c51 = default;
        // Unrolled by two steps of k; an odd last step runs alone.
        int p = 0;
        for (; p + 2 <= kc; p += 2)
        {
            Vector128<float> b0 = Vector128.Load(pb);
            Vector128<float> b1 = Vector128.Load(pb + 4);
            Vector128<float> a0 = Vector128.Create(pa[0]);
            c00 = Vector128.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector128.FusedMultiplyAdd(a0, b1, c01);
            Vector128<float> a1 = Vector128.Create(pa[1]);
            c10 = Vector128.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector128.FusedMultiplyAdd(a1, b1, c11);
            Vector128<float> a2 = Vector128.Create(pa[2]);
            c20 = Vector128.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector128.FusedMultiplyAdd(a2, b1, c21);
            Vector128<float> a3 = Vector128.Create(pa[3]);
            c30 = Vector128.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector128.FusedMultiplyAdd(a3, b1, c31);
            Vector128<float> a4 = Vector128.Create(pa[4]);
            c40 = Vector128.FusedMultiplyAdd(a4, b0, c40);
            c41 = Vector128.FusedMultiplyAdd(a4, b1, c41);
            Vector128<float> a5 = Vector128.Create(pa[5]);
            c50 = Vector128.FusedMultiplyAdd(a5, b0, c50);
            c51 = Vector128.FusedMultiplyAdd(a5, b1, c51);
            b0 = Vector128.Load(pb + 8);
            b1 = Vector128.Load(pb + 8 + 4);
            a0 = Vector128.Create(pa[MR + 0]);
            c00 = Vector128.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector128.FusedMultiplyAdd(a0, b1, c01);
            a1 = Vector128.Create(pa[MR + 1]);
            c10 = Vector128.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector128.FusedMultiplyAdd(a1, b1, c11);
            a2 = Vector128.Create(pa[MR + 2]);
            c20 = Vector128.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector128.FusedMultiplyAdd(a2, b1, c21);
            a3 = Vector128.Create(pa[MR + 3]);
            c30 = Vector128.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector128.FusedMultiplyAdd(a3, b1, c31);
            a4 = Vector128.Create(pa[MR + 4]);
            c40 = Vector128.FusedMultiplyAdd(a4, b0, c40);
            c41 = Vector128.FusedMultiplyAdd(a4, b1, c41);
            a5 = Vector128.Create(pa[MR + 5]);
            c50 = Vector128.FusedMultiplyAdd(a5, b0, c50);
            c51 = Vector128.FusedMultiplyAdd(a5, b1, c51);
            pa += 2 * MR;
            pb += 2 * 8;
        }
        if (p < kc)
        {
            Vector128<float> b0 = Vector128.Load(pb);
            Vector128<float> b1 = Vector128.Load(pb + 4);
            Vector128<float> a0 = Vector128.Create(pa[0]);
            c00 = Vector128.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector128.FusedMultiplyAdd(a0, b1, c01);
            Vector128<float> a1 = Vector128.Create(pa[1]);
            c10 = Vector128.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector128.FusedMultiplyAdd(a1, b1, c11);
            Vector128<float> a2 = Vector128.Create(pa[2]);
            c20 = Vector128.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector128.FusedMultiplyAdd(a2, b1, c21);
            Vector128<float> a3 = Vector128.Create(pa[3]);
            c30 = Vector128.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector128.FusedMultiplyAdd(a3, b1, c31);
            Vector128<float> a4 = Vector128.Create(pa[4]);
            c40 = Vector128.FusedMultiplyAdd(a4, b0, c40);
            c41 = Vector128.FusedMultiplyAdd(a4, b1, c41);
            Vector128<float> a5 = Vector128.Create(pa[5]);
            c50 = Vector128.FusedMultiplyAdd(a5, b0, c50);
            c51 = Vector128.FusedMultiplyAdd(a5, b1, c51);
        }
        if (mr == MR && nr == 8 && ep.PlainStore)
        {
            // No bias or activation (attention products, later K blocks): scale, add C when asked, store.
            Vector128<float> va = Vector128.Create(ep.Alpha);
            if (ep.LoadC)
            {
                Vector128.FusedMultiplyAdd(c00, va, Vector128.Load(c)).Store(c);
                Vector128.FusedMultiplyAdd(c01, va, Vector128.Load(c + 4)).Store(c + 4);
                Vector128.FusedMultiplyAdd(c10, va, Vector128.Load(c + ldc)).Store(c + ldc);
                Vector128.FusedMultiplyAdd(c11, va, Vector128.Load(c + ldc + 4)).Store(c + ldc + 4);
                Vector128.FusedMultiplyAdd(c20, va, Vector128.Load(c + 2 * ldc)).Store(c + 2 * ldc);
                Vector128.FusedMultiplyAdd(c21, va, Vector128.Load(c + 2 * ldc + 4)).Store(c + 2 * ldc + 4);
                Vector128.FusedMultiplyAdd(c30, va, Vector128.Load(c + 3 * ldc)).Store(c + 3 * ldc);
                Vector128.FusedMultiplyAdd(c31, va, Vector128.Load(c + 3 * ldc + 4)).Store(c + 3 * ldc + 4);
                Vector128.FusedMultiplyAdd(c40, va, Vector128.Load(c + 4 * ldc)).Store(c + 4 * ldc);
                Vector128.FusedMultiplyAdd(c41, va, Vector128.Load(c + 4 * ldc + 4)).Store(c + 4 * ldc + 4);
                Vector128.FusedMultiplyAdd(c50, va, Vector128.Load(c + 5 * ldc)).Store(c + 5 * ldc);
                Vector128.FusedMultiplyAdd(c51, va, Vector128.Load(c + 5 * ldc + 4)).Store(c + 5 * ldc + 4);
            }
            else
            {
                (c00 * va).Store(c);
                (c01 * va).Store(c + 4);
                (c10 * va).Store(c + ldc);
                (c11 * va).Store(c + ldc + 4);
                (c20 * va).Store(c + 2 * ldc);
                (c21 * va).Store(c + 2 * ldc + 4);
                (c30 * va).Store(c + 3 * ldc);
                (c31 * va).Store(c + 3 * ldc + 4);
                (c40 * va).Store(c + 4 * ldc);
                (c41 * va).Store(c + 4 * ldc + 4);
                (c50 * va).Store(c + 5 * ldc);
                (c51 * va).Store(c + 5 * ldc + 4);
            }
            return;
        }
        // The accumulators leave registers right after the loop (12 stores into L1 per tile): keeping them live
        // into the epilogue made the JIT spill all twelve on every iteration of the loop.
        float* t = stackalloc float[MR * 8];
        c00.Store(t + 0 * 8); c01.Store(t + 0 * 8 + 4);
        c10.Store(t + 1 * 8); c11.Store(t + 1 * 8 + 4);
        c20.Store(t + 2 * 8); c21.Store(t + 2 * 8 + 4);
        c30.Store(t + 3 * 8); c31.Store(t + 3 * 8 + 4);
        c40.Store(t + 4 * 8); c41.Store(t + 4 * 8 + 4);
        c50.Store(t + 5 * 8); c51.Store(t + 5 * 8 + 4);
        if (mr == MR && nr == 8 && ep.InRegisters)
        {
            Epilogue128(t, c, ldc, in ep);
        }
        else
        {
            EpilogueScalar(t, 8, c, ldc, in ep, mr, nr);
        }
    }

    /// <summary>The vector epilogue of a full tile held in <paramref name="t"/> (MR rows of 8).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Epilogue128(float* t, float* c, int ldc, in GemmEpilogue ep)
    {
        Vector128<float> va = Vector128.Create(ep.Alpha);
        float* bias = ep.Bias;
        for (int i = 0; i < MR; i++)
        {
            Store128(c + (long)i * ldc, Vector128.Load(t + i * 8), Vector128.Load(t + i * 8 + 4), va, bias, in ep);
        }
    }

    /// <summary>The vector epilogue of one full tile row; the same operations, in the same order, as <see cref="EpilogueScalar"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store128(float* dst, Vector128<float> x0, Vector128<float> x1, Vector128<float> va, float* bias, in GemmEpilogue ep)
    {
        Vector128<float> v0, v1;
        if (ep.LoadC)
        {
            Vector128<float> s0 = Vector128.Load(dst);
            Vector128<float> s1 = Vector128.Load(dst + 4);
            if (bias != null)
            {
                s0 += Vector128.Load(bias);
                s1 += Vector128.Load(bias + 4);
            }
            v0 = Vector128.FusedMultiplyAdd(x0, va, s0);
            v1 = Vector128.FusedMultiplyAdd(x1, va, s1);
        }
        else if (bias != null)
        {
            v0 = Vector128.FusedMultiplyAdd(x0, va, Vector128.Load(bias));
            v1 = Vector128.FusedMultiplyAdd(x1, va, Vector128.Load(bias + 4));
        }
        else
        {
            v0 = x0 * va;
            v1 = x1 * va;
        }
        switch (ep.Activation)
        {
            case ActivationKind.Relu:
                v0 = Vector128.Max(v0, Vector128<float>.Zero);
                v1 = Vector128.Max(v1, Vector128<float>.Zero);
                break;
            case ActivationKind.Gelu:
            case ActivationKind.GeluPython:
                v0 = ErfKernels.Gelu128(v0);
                v1 = ErfKernels.Gelu128(v1);
                break;
            case ActivationKind.Gelu10:
                v0 = Vector128.Min(Vector128.Max(ErfKernels.Gelu128(v0), Vector128.Create(-10f)), Vector128.Create(10f));
                v1 = Vector128.Min(Vector128.Max(ErfKernels.Gelu128(v1), Vector128.Create(-10f)), Vector128.Create(10f));
                break;
            case ActivationKind.GeluNew:
            case ActivationKind.GeluPytorchTanh:
                v0 = TanhGeluKernels.GeluNew128(v0);
                v1 = TanhGeluKernels.GeluNew128(v1);
                break;
            case ActivationKind.GeluFast:
                v0 = TanhGeluKernels.GeluFast128(v0);
                v1 = TanhGeluKernels.GeluFast128(v1);
                break;
            default:
                break;
        }
        if (ep.AddAfter)
        {
            v0 = Vector128.Load(dst) + v0;
            v1 = Vector128.Load(dst + 4) + v1;
        }
        v0.Store(dst);
        v1.Store(dst + 4);
    }

    /// <summary>Columns of C in one scalar tile.</summary>
    internal const int NRScalar = 8;

    /// <summary>Scalar version of the micro-kernel (the reference path of the packed algorithm).</summary>
    internal static void KernelScalar(int kc, float* pa, float* pb, float* c, int ldc, in GemmEpilogue ep, int mr, int nr)
    {
        float* t = stackalloc float[MR * NRScalar];
        for (int i = 0; i < MR * NRScalar; i++)
        {
            t[i] = 0f;
        }
        for (int p = 0; p < kc; p++)
        {
            for (int i = 0; i < MR; i++)
            {
                float ai = pa[i];
                for (int j = 0; j < NRScalar; j++)
                {
                    t[i * NRScalar + j] = MathF.FusedMultiplyAdd(ai, pb[j], t[i * NRScalar + j]);
                }
            }
            pa += MR;
            pb += NRScalar;
        }
        EpilogueScalar(t, NRScalar, c, ldc, in ep, mr, nr);
    }

    /// <summary>
    /// The epilogue element by element, for edge tiles, the scalar path and activations the vector kernels do not
    /// evaluate in registers (those run <see cref="Activations.Apply"/> on the tile row while it is in L1).
    /// <c>t</c> is the accumulated tile, <c>ldt</c> floats per row, and is overwritten; the valid part is mr × nr.
    /// </summary>
    private static void EpilogueScalar(float* t, int ldt, float* c, int ldc, in GemmEpilogue ep, int mr, int nr)
    {
        float alpha = ep.Alpha;
        float* bias = ep.Bias;
        for (int i = 0; i < mr; i++)
        {
            float* crow = c + (long)i * ldc;
            float* trow = t + i * ldt;
            for (int j = 0; j < nr; j++)
            {
                float acc = trow[j];
                float v;
                if (ep.LoadC)
                {
                    float s = crow[j];
                    if (bias != null)
                    {
                        s += bias[j];
                    }
                    v = MathF.FusedMultiplyAdd(acc, alpha, s);
                }
                else if (bias != null)
                {
                    v = MathF.FusedMultiplyAdd(acc, alpha, bias[j]);
                }
                else
                {
                    v = acc * alpha;
                }
                trow[j] = v;
            }
            Span<float> row = new(trow, nr);
            switch (ep.Activation)
            {
                case ActivationKind.Linear:
                    break;
                case ActivationKind.Relu:
                    for (int j = 0; j < nr; j++)
                    {
                        trow[j] = MathF.Max(trow[j], 0f);
                    }
                    break;
                case ActivationKind.Gelu:
                case ActivationKind.GeluPython:
                    for (int j = 0; j < nr; j++)
                    {
                        trow[j] = ErfKernels.Gelu(trow[j]);
                    }
                    break;
                case ActivationKind.Gelu10:
                    for (int j = 0; j < nr; j++)
                    {
                        trow[j] = MathF.Min(MathF.Max(ErfKernels.Gelu(trow[j]), -10f), 10f);
                    }
                    break;
                case ActivationKind.GeluNew:
                case ActivationKind.GeluPytorchTanh:
                    for (int j = 0; j < nr; j++)
                    {
                        trow[j] = TanhGeluKernels.GeluNew(trow[j]);
                    }
                    break;
                case ActivationKind.GeluFast:
                    for (int j = 0; j < nr; j++)
                    {
                        trow[j] = TanhGeluKernels.GeluFast(trow[j]);
                    }
                    break;
                default:
                    Activations.Apply(row, ep.Activation);
                    break;
            }
            if (ep.AddAfter)
            {
                for (int j = 0; j < nr; j++)
                {
                    crow[j] = crow[j] + trow[j];
                }
            }
            else
            {
                row.CopyTo(new Span<float>(crow, nr));
            }
        }
    }
}
