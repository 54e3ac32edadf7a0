// Register-blocked GEMM micro-kernels: a 6-row by 2-vector tile of C is held in registers while the
// packed A and B panels are streamed. One kernel per vector width; they differ only in the vector type.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BigBirdSharp.Kernels;

[SkipLocalsInit]
internal static unsafe class GemmMicroKernels
{
    /// <summary>Rows of C in one register tile (all paths).</summary>
    internal const int MR = 6;

    /// <summary>Columns of C in one Vector512 register tile.</summary>
    internal const int NR512 = 32;

    /// <summary>C[0..mr, 0..nr] = alpha·Ap·Bp (+ C when addC) for one packed 6x32 tile using Vector512 FMA.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel512(int kc, float* pa, float* pb, float* c, int ldc, float alpha, bool addC, int mr, int nr)
    {
        Vector512<float> c00 = default, c01 = default;
        Vector512<float> c10 = default, c11 = default;
        Vector512<float> c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default;
        Vector512<float> c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
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
            pa += 6;
            pb += 32;
        }
        Vector512<float> va = Vector512.Create(alpha);
        if (mr == 6 && nr == 32)
        {
            Store512(c + 0 * ldc, c00, c01, va, addC);
            Store512(c + 1 * ldc, c10, c11, va, addC);
            Store512(c + 2 * ldc, c20, c21, va, addC);
            Store512(c + 3 * ldc, c30, c31, va, addC);
            Store512(c + 4 * ldc, c40, c41, va, addC);
            Store512(c + 5 * ldc, c50, c51, va, addC);
            return;
        }
        float* t = stackalloc float[192];
        c00.Store(t + 0); c01.Store(t + 16);
        c10.Store(t + 32); c11.Store(t + 48);
        c20.Store(t + 64); c21.Store(t + 80);
        c30.Store(t + 96); c31.Store(t + 112);
        c40.Store(t + 128); c41.Store(t + 144);
        c50.Store(t + 160); c51.Store(t + 176);
        StoreEdge(t, 32, c, ldc, alpha, addC, mr, nr);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store512(float* dst, Vector512<float> x0, Vector512<float> x1, Vector512<float> va, bool addC)
    {
        if (addC)
        {
            Vector512.FusedMultiplyAdd(x0, va, Vector512.Load(dst)).Store(dst);
            Vector512.FusedMultiplyAdd(x1, va, Vector512.Load(dst + 16)).Store(dst + 16);
        }
        else
        {
            (x0 * va).Store(dst);
            (x1 * va).Store(dst + 16);
        }
    }

    /// <summary>Columns of C in one Vector256 register tile.</summary>
    internal const int NR256 = 16;

    /// <summary>C[0..mr, 0..nr] = alpha·Ap·Bp (+ C when addC) for one packed 6x16 tile using Vector256 FMA.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel256(int kc, float* pa, float* pb, float* c, int ldc, float alpha, bool addC, int mr, int nr)
    {
        Vector256<float> c00 = default, c01 = default;
        Vector256<float> c10 = default, c11 = default;
        Vector256<float> c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default;
        Vector256<float> c40 = default, c41 = default;
        Vector256<float> c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
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
            pa += 6;
            pb += 16;
        }
        Vector256<float> va = Vector256.Create(alpha);
        if (mr == 6 && nr == 16)
        {
            Store256(c + 0 * ldc, c00, c01, va, addC);
            Store256(c + 1 * ldc, c10, c11, va, addC);
            Store256(c + 2 * ldc, c20, c21, va, addC);
            Store256(c + 3 * ldc, c30, c31, va, addC);
            Store256(c + 4 * ldc, c40, c41, va, addC);
            Store256(c + 5 * ldc, c50, c51, va, addC);
            return;
        }
        float* t = stackalloc float[96];
        c00.Store(t + 0); c01.Store(t + 8);
        c10.Store(t + 16); c11.Store(t + 24);
        c20.Store(t + 32); c21.Store(t + 40);
        c30.Store(t + 48); c31.Store(t + 56);
        c40.Store(t + 64); c41.Store(t + 72);
        c50.Store(t + 80); c51.Store(t + 88);
        StoreEdge(t, 16, c, ldc, alpha, addC, mr, nr);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store256(float* dst, Vector256<float> x0, Vector256<float> x1, Vector256<float> va, bool addC)
    {
        if (addC)
        {
            Vector256.FusedMultiplyAdd(x0, va, Vector256.Load(dst)).Store(dst);
            Vector256.FusedMultiplyAdd(x1, va, Vector256.Load(dst + 8)).Store(dst + 8);
        }
        else
        {
            (x0 * va).Store(dst);
            (x1 * va).Store(dst + 8);
        }
    }

    /// <summary>Columns of C in one Vector128 register tile.</summary>
    internal const int NR128 = 8;

    /// <summary>C[0..mr, 0..nr] = alpha·Ap·Bp (+ C when addC) for one packed 6x8 tile using Vector128 FMA.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel128(int kc, float* pa, float* pb, float* c, int ldc, float alpha, bool addC, int mr, int nr)
    {
        Vector128<float> c00 = default, c01 = default;
        Vector128<float> c10 = default, c11 = default;
        Vector128<float> c20 = default, c21 = default;
        Vector128<float> c30 = default, c31 = default;
        Vector128<float> c40 = default, c41 = default;
        Vector128<float> c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
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
            pa += 6;
            pb += 8;
        }
        Vector128<float> va = Vector128.Create(alpha);
        if (mr == 6 && nr == 8)
        {
            Store128(c + 0 * ldc, c00, c01, va, addC);
            Store128(c + 1 * ldc, c10, c11, va, addC);
            Store128(c + 2 * ldc, c20, c21, va, addC);
            Store128(c + 3 * ldc, c30, c31, va, addC);
            Store128(c + 4 * ldc, c40, c41, va, addC);
            Store128(c + 5 * ldc, c50, c51, va, addC);
            return;
        }
        float* t = stackalloc float[48];
        c00.Store(t + 0); c01.Store(t + 4);
        c10.Store(t + 8); c11.Store(t + 12);
        c20.Store(t + 16); c21.Store(t + 20);
        c30.Store(t + 24); c31.Store(t + 28);
        c40.Store(t + 32); c41.Store(t + 36);
        c50.Store(t + 40); c51.Store(t + 44);
        StoreEdge(t, 8, c, ldc, alpha, addC, mr, nr);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store128(float* dst, Vector128<float> x0, Vector128<float> x1, Vector128<float> va, bool addC)
    {
        if (addC)
        {
            Vector128.FusedMultiplyAdd(x0, va, Vector128.Load(dst)).Store(dst);
            Vector128.FusedMultiplyAdd(x1, va, Vector128.Load(dst + 4)).Store(dst + 4);
        }
        else
        {
            (x0 * va).Store(dst);
            (x1 * va).Store(dst + 4);
        }
    }

    /// <summary>Columns of C in one scalar tile.</summary>
    internal const int NRScalar = 8;

    /// <summary>Scalar version of the micro-kernel (the reference path of the packed algorithm).</summary>
    internal static void KernelScalar(int kc, float* pa, float* pb, float* c, int ldc, float alpha, bool addC, int mr, int nr)
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
        StoreEdge(t, NRScalar, c, ldc, alpha, addC, mr, nr);
    }

    private static void StoreEdge(float* t, int ldt, float* c, int ldc, float alpha, bool addC, int mr, int nr)
    {
        for (int i = 0; i < mr; i++)
        {
            float* crow = c + (long)i * ldc;
            float* trow = t + i * ldt;
            if (addC)
            {
                for (int j = 0; j < nr; j++)
                {
                    crow[j] = MathF.FusedMultiplyAdd(trow[j], alpha, crow[j]);
                }
            }
            else
            {
                for (int j = 0; j < nr; j++)
                {
                    crow[j] = trow[j] * alpha;
                }
            }
        }
    }
}
