using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BigBirdSharp.Kernels;

/// <summary>
/// An <c>nn.Linear</c> weight W [out = N, in = K] packed once, at load, into the layout the GEMM micro-kernel
/// reads: B = Wᵀ cut into panels of NR columns (NR of the kernel path resolved at pack time), each panel K rows
/// of NR floats, contiguous. A K block [pc, pc + kc) of a panel is therefore the contiguous run of kc·NR floats
/// at pc·NR: every KC × NR panel of every NC block is read front to back. The last panel is zero-padded to NR
/// columns, so the copy is K·⌈N/NR⌉·NR floats (W plus at most one panel of padding), 64-byte aligned in a
/// pinned array. Immutable after construction and safe to share between threads.
/// </summary>
internal sealed unsafe class PackedMatrix
{
    private readonly float[] _storage;
    private readonly float* _panels;

    /// <summary>Packs W [n, k] (row-major, the nn.Linear layout) for the widest accelerated path.</summary>
    /// <param name="weight">W, n·k floats.</param>
    /// <param name="n">Output features (rows of W, columns of the product).</param>
    /// <param name="k">Input features (columns of W, the inner dimension).</param>
    /// <exception cref="ArgumentException">The length of <paramref name="weight"/> is not n·k, or a size is negative.</exception>
    public PackedMatrix(ReadOnlySpan<float> weight, int n, int k) : this(weight, n, k, KernelPath.Auto)
    {
    }

    /// <summary>Packs W [n, k] for the micro-kernel of <paramref name="path"/> (forced paths are for tests).</summary>
    internal PackedMatrix(ReadOnlySpan<float> weight, int n, int k, KernelPath path)
    {
        if (n < 0 || k < 0)
        {
            throw new ArgumentException($"Packed matrix sizes must be non-negative, got n={n}, k={k}.", nameof(weight));
        }
        if (weight.Length != (long)n * k)
        {
            throw new ArgumentException($"Weight has {weight.Length} elements but its shape [n={n}, k={k}] needs {(long)n * k}.", nameof(weight));
        }
        Path = KernelPaths.Resolve(path);
        NR = GemmMicroKernels.PanelWidth(Path);
        N = n;
        K = k;
        Panels = (n + NR - 1) / NR;
        long floats = (long)Panels * NR * k;
        if (floats + 16 > Array.MaxLength)
            throw new BigBirdException(
                $"a weight [{n}, {k}] packs into {floats} floats of GEMM panels, more than the {Array.MaxLength} one buffer can hold " +
                "(Array.MaxLength); this model's layers are too wide for BigBirdSharp.");
        _storage = GC.AllocateUninitializedArray<float>((int)floats + 16, pinned: true);
        _panels = (float*)(((nint)Unsafe.AsPointer(ref _storage[0]) + 63) & ~(nint)63);
        fixed (float* w = weight)
        {
            PackPanels(_panels, w, n, k, transposed: true, NR, 0, Panels, Path != KernelPath.Scalar);
        }
    }

    /// <summary>Output features: columns of the product, rows of W.</summary>
    public int N { get; }

    /// <summary>Input features: the inner dimension.</summary>
    public int K { get; }

    /// <summary>The kernel path resolved at pack time; <see cref="Gemm.Linear(Span{float}, ReadOnlySpan{float}, PackedMatrix, ReadOnlySpan{float}, int, ActivationKind, bool)"/> runs it.</summary>
    internal KernelPath Path { get; }

    /// <summary>Panel width (columns per panel) of <see cref="Path"/>.</summary>
    internal int NR { get; }

    /// <summary>Number of panels, ⌈N / NR⌉.</summary>
    internal int Panels { get; }

    /// <summary>Floats held by the packed copy (without the alignment slack).</summary>
    internal long PackedLength => (long)Panels * NR * K;

    /// <summary>The first panel, 64-byte aligned; valid while this object is alive.</summary>
    internal float* Data => _panels;

    /// <summary>W[row, col] read back from the packed layout (tests).</summary>
    internal float this[int row, int col] => _panels[(long)(row / NR) * NR * K + (long)col * NR + row % NR];

    /// <summary>
    /// Packs panels [panelStart, panelEnd) of op(B) into <paramref name="dst"/> (panel j at j·k·nr). With
    /// <paramref name="transposed"/>, <paramref name="b"/> is [n, k] (W) and column j of op(B) is row j of b;
    /// otherwise b is [k, n]. Columns past n are zero.
    /// </summary>
    internal static void PackPanels(float* dst, float* b, int n, int k, bool transposed, int nr,
                                    int panelStart, int panelEnd, bool vectorized)
    {
        for (int jp = panelStart; jp < panelEnd; jp++)
        {
            float* panel = dst + (long)jp * k * nr;
            int column = jp * nr;
            int valid = Math.Min(nr, n - column);
            if (transposed)
            {
                int p = 0;
                if (vectorized && Avx.IsSupported && valid == nr && nr % 8 == 0)
                {
                    for (; p + 8 <= k; p += 8)
                    {
                        for (int j0 = 0; j0 < nr; j0 += 8)
                        {
                            Transpose8x8(b + (long)(column + j0) * k + p, k, panel + (long)p * nr + j0, nr);
                        }
                    }
                }
                for (int j = 0; j < nr; j++)
                {
                    if (j < valid)
                    {
                        float* src = b + (long)(column + j) * k;
                        for (int q = p; q < k; q++)
                        {
                            panel[(long)q * nr + j] = src[q];
                        }
                    }
                    else
                    {
                        for (int q = p; q < k; q++)
                        {
                            panel[(long)q * nr + j] = 0f;
                        }
                    }
                }
            }
            else
            {
                for (int p = 0; p < k; p++)
                {
                    float* d = panel + (long)p * nr;
                    new ReadOnlySpan<float>(b + (long)p * n + column, valid).CopyTo(new Span<float>(d, valid));
                    if (valid < nr)
                    {
                        new Span<float>(d + valid, nr - valid).Clear();
                    }
                }
            }
        }
    }

    /// <summary>
    /// dst[p·ldd + j] = src[j·lds + p] for an 8×8 block, with AVX register transposes: a scalar gather writes one
    /// float per 64-byte row of the panel.
    /// </summary>
    private static void Transpose8x8(float* src, long lds, float* dst, int ldd)
    {
        Vector256<float> r0 = Avx.LoadVector256(src);
        Vector256<float> r1 = Avx.LoadVector256(src + lds);
        Vector256<float> r2 = Avx.LoadVector256(src + 2 * lds);
        Vector256<float> r3 = Avx.LoadVector256(src + 3 * lds);
        Vector256<float> r4 = Avx.LoadVector256(src + 4 * lds);
        Vector256<float> r5 = Avx.LoadVector256(src + 5 * lds);
        Vector256<float> r6 = Avx.LoadVector256(src + 6 * lds);
        Vector256<float> r7 = Avx.LoadVector256(src + 7 * lds);
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1);
        Vector256<float> t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5);
        Vector256<float> t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE);
        Vector256<float> u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE);
        Vector256<float> u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(dst + ldd, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 2 * ldd, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(dst + 3 * ldd, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 4 * ldd, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(dst + 5 * ldd, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 6 * ldd, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(dst + 7 * ldd, Avx.Permute2x128(u3, u7, 0x31));
    }
}
