using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BigBirdSharp.Kernels;

/// <summary>
/// The products of gathered block attention over operands packed once per (batch, head): keys as Kᵀ panels of NR keys
/// per key block (so any block's panels are one contiguous run), values as panels of NR head columns over all key rows
/// (so any run of consecutive key blocks is one contiguous K range of each panel), and the query rows or the
/// probabilities as MR-row panels. The products then run the GEMM micro-kernels straight over the selected blocks'
/// panels: no gather copies and no repacking per query block. Hand-written because the gathered block product is not
/// a TensorPrimitives operation. Every path accumulates each output over k in the same order (see
/// <see cref="GemmMicroKernels"/>), so the paths differ only where the vector epilogues round differently (they do not).
/// </summary>
[SkipLocalsInit]
internal static unsafe partial class AttentionKernels
{
    /// <summary>Rows of one A panel (the micro-kernel's MR).</summary>
    internal const int MR = GemmMicroKernels.MR;

    /// <summary>Kᵀ panels per key block of <paramref name="block"/> keys for panel width <paramref name="nr"/>.</summary>
    internal static int PanelsPerBlock(int block, int nr) => (block + nr - 1) / nr;

    /// <summary>Floats of <see cref="PackKeys"/>'s output: blocks · ⌈block / nr⌉ · nr · d.</summary>
    internal static long PackedKeysLength(int blocks, int block, int d, int nr) => (long)blocks * PanelsPerBlock(block, nr) * nr * d;

    /// <summary>Floats of <see cref="PackValues"/>'s output: ⌈d / nr⌉ · nr · keys.</summary>
    internal static long PackedValuesLength(int keys, int d, int nr) => (long)((d + nr - 1) / nr) * nr * keys;

    /// <summary>Floats of <see cref="PackRows"/>'s output: ⌈rows / MR⌉ · MR · cols.</summary>
    internal static long PackedRowsLength(int rows, int cols) => (long)((rows + MR - 1) / MR) * MR * cols;

    /// <summary>
    /// Packs keys [blocks·block, d] (row-major) as Kᵀ panels, block by block: block kb's ⌈block / nr⌉ panels start at
    /// kb·⌈block / nr⌉·nr·d, each d rows of nr keys, the last zero-padded.
    /// </summary>
    internal static void PackKeys(float* dst, float* keys, int blocks, int block, int d, KernelPath path)
    {
        int nr = GemmMicroKernels.PanelWidth(path), ppb = PanelsPerBlock(block, nr);
        for (int kb = 0; kb < blocks; kb++)
        {
            PackedMatrix.PackPanels(dst + (long)kb * ppb * nr * d, keys + (long)kb * block * d, block, d, transposed: true, nr, 0, ppb,
                                    path != KernelPath.Scalar);
        }
    }

    /// <summary>Packs values [keys, d] (row-major) as panels of nr head columns: panel j at j·keys·nr, key row r at r·nr within it.</summary>
    internal static void PackValues(float* dst, float* values, int keys, int d, KernelPath path)
    {
        int nr = GemmMicroKernels.PanelWidth(path);
        PackedMatrix.PackPanels(dst, values, d, keys, transposed: false, nr, 0, (d + nr - 1) / nr, path != KernelPath.Scalar);
    }

    /// <summary>
    /// Packs rows [rows, cols] (leading dimension <paramref name="lda"/>) as MR-row A panels: panel i at i·MR·cols holds
    /// cols groups of MR values (rows past <paramref name="rows"/> are zero).
    /// </summary>
    internal static void PackRows(float* dst, float* a, int rows, int cols, int lda)
    {
        for (int r0 = 0; r0 < rows; r0 += MR)
        {
            int valid = Math.Min(MR, rows - r0);
            float* panel = dst + (long)r0 * cols;
            if (valid == MR)
            {
                float* a0 = a + (long)r0 * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda, a4 = a3 + lda, a5 = a4 + lda;
                int p = Avx.IsSupported ? PackSixRows8(panel, a0, a1, a2, a3, a4, a5, cols) : 0;
                for (; p < cols; p++)
                {
                    float* g = panel + (long)p * MR;
                    g[0] = a0[p]; g[1] = a1[p]; g[2] = a2[p]; g[3] = a3[p]; g[4] = a4[p]; g[5] = a5[p];
                }
            }
            else
            {
                for (int p = 0; p < cols; p++)
                {
                    float* g = panel + (long)p * MR;
                    for (int i = 0; i < MR; i++)
                    {
                        g[i] = i < valid ? a[(long)(r0 + i) * lda + p] : 0f;
                    }
                }
            }
        }
    }

    /// <summary>
    /// The AVX part of packing six full rows: eight columns at a time, an 8 × 8 transpose of the six rows (and two zero
    /// rows) stored as eight groups of six. Each group's store is eight floats wide; its two extra floats land on the next
    /// group, which is stored after it, so the loop stops while at least one column is left for the scalar tail and
    /// nothing is written past the panel. Returns the first column not packed.
    /// </summary>
    private static int PackSixRows8(float* panel, float* a0, float* a1, float* a2, float* a3, float* a4, float* a5, int cols)
    {
        int p = 0;
        Vector256<float> zero = Vector256<float>.Zero;
        for (; p + 8 < cols; p += 8)
        {
            Vector256<float> t0 = Avx.UnpackLow(Avx.LoadVector256(a0 + p), Avx.LoadVector256(a1 + p));
            Vector256<float> t1 = Avx.UnpackHigh(Avx.LoadVector256(a0 + p), Avx.LoadVector256(a1 + p));
            Vector256<float> t2 = Avx.UnpackLow(Avx.LoadVector256(a2 + p), Avx.LoadVector256(a3 + p));
            Vector256<float> t3 = Avx.UnpackHigh(Avx.LoadVector256(a2 + p), Avx.LoadVector256(a3 + p));
            Vector256<float> t4 = Avx.UnpackLow(Avx.LoadVector256(a4 + p), Avx.LoadVector256(a5 + p));
            Vector256<float> t5 = Avx.UnpackHigh(Avx.LoadVector256(a4 + p), Avx.LoadVector256(a5 + p));
            // per 128-bit lane: u0 = rows 0–3 of columns 0 | 4, u1 of 1 | 5, u2 of 2 | 6, u3 of 3 | 7; u4..u7 rows 4–5 (and zeros)
            Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE);
            Vector256<float> u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE);
            Vector256<float> u4 = Avx.Shuffle(t4, zero, 0x44), u5 = Avx.Shuffle(t4, zero, 0xEE);
            Vector256<float> u6 = Avx.Shuffle(t5, zero, 0x44), u7 = Avx.Shuffle(t5, zero, 0xEE);
            float* g = panel + (long)p * MR;
            // in address order: each store's last two floats are overwritten by the next
            Avx.Store(g, Avx.Permute2x128(u0, u4, 0x20));
            Avx.Store(g + 6, Avx.Permute2x128(u1, u5, 0x20));
            Avx.Store(g + 12, Avx.Permute2x128(u2, u6, 0x20));
            Avx.Store(g + 18, Avx.Permute2x128(u3, u7, 0x20));
            Avx.Store(g + 24, Avx.Permute2x128(u0, u4, 0x31));
            Avx.Store(g + 30, Avx.Permute2x128(u1, u5, 0x31));
            Avx.Store(g + 36, Avx.Permute2x128(u2, u6, 0x31));
            Avx.Store(g + 42, Avx.Permute2x128(u3, u7, 0x31));
        }
        return p;
    }

    /// <summary>
    /// C[rows, block] = A · Bᵀ for one key block: <paramref name="packedA"/> from <see cref="PackRows"/> with cols = d,
    /// <paramref name="keyBlock"/> the block's first Kᵀ panel from <see cref="PackKeys"/>; C has leading dimension ldc.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void ScoreBlock(float* c, int ldc, float* packedA, int rows, int d, float* keyBlock, int block, KernelPath path)
    {
        int nr = GemmMicroKernels.PanelWidth(path);
        GemmEpilogue ep = default;
        ep.Alpha = 1f;
        ep.Activation = ActivationKind.Linear; // the default kind is not the identity
        for (int j0 = 0, jp = 0; j0 < block; j0 += nr, jp++)
        {
            int cols = Math.Min(nr, block - j0);
            float* pb = keyBlock + (long)jp * nr * d;
            for (int r0 = 0; r0 < rows; r0 += MR)
            {
                GemmMicroKernels.Run(path, d, packedA + (long)r0 * d, pb, c + (long)r0 * ldc + j0, ldc, in ep, Math.Min(MR, rows - r0), cols);
            }
        }
    }

    /// <summary>
    /// C[rows, d] (+)= P[:, p0 .. p0 + kc) · V[v0 .. v0 + kc, :]: <paramref name="packedP"/> from <see cref="PackRows"/> with
    /// cols = <paramref name="pCols"/>, <paramref name="packedV"/> from <see cref="PackValues"/> over <paramref name="keys"/>
    /// rows. With <paramref name="accumulate"/> the product is added to C (leading dimension d).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void AccumulateValues(float* c, float* packedP, int rows, int pCols, int p0, float* packedV, int keys, int v0, int kc,
                                          int d, bool accumulate, KernelPath path)
    {
        int nr = GemmMicroKernels.PanelWidth(path);
        GemmEpilogue ep = default;
        ep.Alpha = 1f;
        ep.Activation = ActivationKind.Linear; // the default kind is not the identity
        ep.LoadC = accumulate;
        for (int j0 = 0, jp = 0; j0 < d; j0 += nr, jp++)
        {
            int cols = Math.Min(nr, d - j0);
            float* pb = packedV + (long)jp * keys * nr + (long)v0 * nr;
            for (int r0 = 0; r0 < rows; r0 += MR)
            {
                GemmMicroKernels.Run(path, kc, packedP + (long)r0 * pCols + (long)p0 * MR, pb, c + (long)r0 * d + j0, d, in ep,
                                     Math.Min(MR, rows - r0), cols);
            }
        }
    }

    /// <summary>
    /// softmax(scores·scale + mask) over each of <paramref name="rows"/> rows of <paramref name="cols"/> (leading dimension
    /// cols), packed straight into MR-row A panels (<see cref="PackRows"/>'s layout) for the value product: the scale, the
    /// mask and the running max are one pass, exp and the sum another (<see cref="ExpSubtractSum"/>), and the division by the sum happens
    /// while packing. Row i takes <paramref name="closed"/> where <paramref name="from"/>[i] is 0 (when given), else
    /// <paramref name="open"/>. With <paramref name="normalizeRows"/> the rows are also left normalised in place (the
    /// returned probabilities); otherwise they hold the unnormalised exponentials. A row masked everywhere with
    /// float.MinValue becomes uniform, as in <see cref="Normalization.SoftmaxRow"/>.
    /// </summary>
    internal static void SoftmaxPackRows(float* packed, float* scores, int rows, int cols, float scale, ReadOnlySpan<float> open,
                                         ReadOnlySpan<float> closed, ReadOnlySpan<float> from, bool normalizeRows, KernelPath path)
    {
        if (open.Length != cols || (!closed.IsEmpty && closed.Length != cols) || (!from.IsEmpty && from.Length < rows))
        {
            throw new ArgumentException($"Softmax masks have {open.Length} and {closed.Length} elements (from {from.Length}) for {rows} rows of {cols}.");
        }
        float* inv = stackalloc float[MR];
        fixed (float* pOpen = open, pClosed = closed)
        {
            for (int r0 = 0; r0 < rows; r0 += MR)
            {
                int valid = Math.Min(MR, rows - r0);
                for (int i = 0; i < valid; i++)
                {
                    float* row = scores + (long)(r0 + i) * cols;
                    float* mask = !from.IsEmpty && from[r0 + i] == 0f ? pClosed : pOpen;
                    var span = new Span<float>(row, cols);
                    float max = ScaleAddMax(row, cols, scale, mask, path);
                    inv[i] = 1f / ExpSubtractSum(row, cols, max, path);
                    if (normalizeRows)
                    {
                        TensorPrimitives.Multiply(span, inv[i], span);
                        inv[i] = 1f;
                    }
                }
                PackPanel(packed + (long)r0 * cols, scores + (long)r0 * cols, valid, cols, cols, inv);
            }
        }
    }

    /// <summary>row[j] = row[j]·scale + mask[j] (a product, then a sum, as TensorPrimitives.MultiplyAdd), returning the row's max.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ScaleAddMax(float* row, int cols, float scale, float* mask, KernelPath path)
    {
        int j = 0;
        float max = float.NegativeInfinity;
        if (path == KernelPath.Vector512 && cols >= 16)
        {
            Vector512<float> vs = Vector512.Create(scale), vmax = Vector512.Create(float.NegativeInfinity);
            for (; j + 16 <= cols; j += 16)
            {
                Vector512<float> x = Vector512.Load(row + j) * vs + Vector512.Load(mask + j);
                x.Store(row + j);
                vmax = Vector512.Max(vmax, x);
            }
            for (int t = 0; t < 16; t++) max = MathF.Max(max, vmax.GetElement(t));
        }
        else if ((path == KernelPath.Vector256 || path == KernelPath.Vector512) && cols >= 8)
        {
            Vector256<float> vs = Vector256.Create(scale), vmax = Vector256.Create(float.NegativeInfinity);
            for (; j + 8 <= cols; j += 8)
            {
                Vector256<float> x = Vector256.Load(row + j) * vs + Vector256.Load(mask + j);
                x.Store(row + j);
                vmax = Vector256.Max(vmax, x);
            }
            for (int t = 0; t < 8; t++) max = MathF.Max(max, vmax.GetElement(t));
        }
        else if (path != KernelPath.Scalar && cols >= 4)
        {
            Vector128<float> vs = Vector128.Create(scale), vmax = Vector128.Create(float.NegativeInfinity);
            for (; j + 4 <= cols; j += 4)
            {
                Vector128<float> x = Vector128.Load(row + j) * vs + Vector128.Load(mask + j);
                x.Store(row + j);
                vmax = Vector128.Max(vmax, x);
            }
            for (int t = 0; t < 4; t++) max = MathF.Max(max, vmax.GetElement(t));
        }
        // remainder
        for (; j < cols; j++)
        {
            float x = row[j] * scale + mask[j];
            row[j] = x;
            max = MathF.Max(max, x);
        }
        return max;
    }

    /// <summary>One MR-row A panel of <paramref name="valid"/> rows (leading dimension lda), row i multiplied by inv[i]; missing rows are zero.</summary>
    private static void PackPanel(float* panel, float* a, int valid, int cols, int lda, float* inv)
    {
        if (valid == MR)
        {
            float* a0 = a, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda, a4 = a3 + lda, a5 = a4 + lda;
            float i0 = inv[0], i1 = inv[1], i2 = inv[2], i3 = inv[3], i4 = inv[4], i5 = inv[5];
            for (int p = 0; p < cols; p++)
            {
                float* g = panel + (long)p * MR;
                g[0] = a0[p] * i0; g[1] = a1[p] * i1; g[2] = a2[p] * i2; g[3] = a3[p] * i3; g[4] = a4[p] * i4; g[5] = a5[p] * i5;
            }
            return;
        }
        for (int p = 0; p < cols; p++)
        {
            float* g = panel + (long)p * MR;
            for (int i = 0; i < MR; i++)
            {
                g[i] = i < valid ? a[(long)i * lda + p] * inv[i] : 0f;
            }
        }
    }
}
