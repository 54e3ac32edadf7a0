using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BigBirdSharp.Kernels;

/// <summary>
/// Single-precision matrix multiplication for dense row-major matrices:
/// C[m, n] = alpha · A[m, k] · op(B) (+ C), where op(B) is B[k, n] or, with <c>transposeB</c>, B[n, k]ᵀ
/// (the <c>nn.Linear</c> weight layout). The algorithm is the classic packed one: blocks of B (KC × NC) and
/// A (MC × KC) are copied into contiguous panels, then a register-blocked micro-kernel (6 rows × 2 vectors,
/// FMA, fp32 accumulation) sweeps them. The calling thread packs each B block once; for large problems the
/// (M-block × column-chunk) work items on that block then run in parallel, each packing its own A block. Every
/// output element is accumulated over K in the same order whatever the threading, so results are identical.
/// </summary>
[SkipLocalsInit]
public static unsafe class Gemm
{
    /// <summary>Depth of one packed block (floats of K).</summary>
    internal const int KC = 256;

    /// <summary>Rows of A in one packed block (a multiple of the micro-tile height 6).</summary>
    internal const int MC = 96;

    /// <summary>Columns of B in one packed block (a multiple of every micro-tile width).</summary>
    internal const int NC = 256;

    /// <summary>Below this many multiply-adds a call stays on the calling thread.</summary>
    internal const long ParallelThreshold = 1L << 21;

    [ThreadStatic]
    private static float[]? t_packA;

    [ThreadStatic]
    private static float[]? t_packB;

    /// <summary>
    /// C = alpha · A · op(B) (+ C when <paramref name="accumulate"/>). Span lengths must equal the shapes exactly:
    /// <c>a</c> is m·k, <c>b</c> is k·n (n·k when transposed, either way the same count) and <c>c</c> is m·n.
    /// </summary>
    /// <param name="c">Output, row-major [m, n]. Read only when <paramref name="accumulate"/> is set.</param>
    /// <param name="a">Left operand, row-major [m, k].</param>
    /// <param name="b">Right operand, row-major [k, n], or [n, k] when <paramref name="transposeB"/>.</param>
    /// <param name="m">Rows of A and C.</param>
    /// <param name="n">Columns of C.</param>
    /// <param name="k">Inner dimension.</param>
    /// <param name="transposeB">Whether <paramref name="b"/> is stored [n, k] and used transposed.</param>
    /// <param name="alpha">Scale applied to the product.</param>
    /// <param name="accumulate">Add the scaled product to the existing contents of <paramref name="c"/>.</param>
    /// <exception cref="ArgumentException">A span length does not match the shapes, or a dimension is negative.</exception>
    public static void Multiply(Span<float> c, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
                                int m, int n, int k, bool transposeB, float alpha = 1f, bool accumulate = false)
        => Multiply(c, a, b, m, n, k, transposeB, alpha, accumulate, KernelPath.Auto, parallel: null);

    /// <summary>
    /// As the public overload, with the micro-kernel path forced and threading chosen:
    /// <paramref name="parallel"/> null decides by size, true forces jobs onto the thread pool whenever there
    /// is more than one, false keeps everything on the calling thread.
    /// </summary>
    internal static void Multiply(Span<float> c, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
                                  int m, int n, int k, bool transposeB, float alpha, bool accumulate,
                                  KernelPath path, bool? parallel)
    {
        Validate(c.Length, a.Length, b.Length, m, n, k, transposeB);
        KernelPath resolved = KernelPaths.Resolve(path);
        if (m == 0 || n == 0)
        {
            return;
        }
        if (k == 0)
        {
            if (!accumulate)
            {
                c.Clear();
            }
            return;
        }

        fixed (float* pc = c)
        fixed (float* pa = a)
        fixed (float* pb = b)
        {
            var job = new GemmJob(pc, pa, pb, m, n, k, transposeB, alpha, resolved);
            bool goParallel = parallel ?? ((long)m * n * k >= ParallelThreshold && Environment.ProcessorCount > 1
                                             && !KernelThreading.InParallelWorker);
            // The calling thread owns this buffer for the whole call; workers only read it.
            float* packB = PackBuffer(ref t_packB, KC * NC);
            for (int jc = 0; jc < n; jc += NC)
            {
                int nc = Math.Min(NC, n - jc);
                for (int kb = 0; kb < k; kb += KC)
                {
                    int kc = Math.Min(KC, k - kb);
                    job.PackB(packB, kb, kc, jc, nc);
                    var block = new BlockStep(packB, jc, nc, kb, kc, accumulate || kb > 0, job.ColumnChunks(nc, goParallel));
                    int items = job.MBlocks * block.Chunks;
                    if (goParallel && items > 1)
                    {
                        // The only allocations of a call, and only for large problems: the runner and
                        // Parallel.For's own bookkeeping.
                        Parallel.For(0, items, new ParallelRunner(job, block).Run);
                    }
                    else
                    {
                        for (int item = 0; item < items; item++)
                        {
                            job.Compute(block, item);
                        }
                    }
                }
            }
        }
    }

    internal static void Validate(int cLength, int aLength, int bLength, int m, int n, int k, bool transposeB)
    {
        if (m < 0 || n < 0 || k < 0)
        {
            throw new ArgumentException($"GEMM dimensions must be non-negative, got m={m}, n={n}, k={k}.");
        }
        if (aLength != (long)m * k)
        {
            throw new ArgumentException($"GEMM operand A has {aLength} elements but its shape [m={m}, k={k}] needs {(long)m * k}.", "a");
        }
        if (bLength != (long)k * n)
        {
            string shape = transposeB ? $"[n={n}, k={k}]" : $"[k={k}, n={n}]";
            throw new ArgumentException($"GEMM operand B has {bLength} elements but its shape {shape} needs {(long)k * n}.", "b");
        }
        if (cLength != (long)m * n)
        {
            throw new ArgumentException($"GEMM output C has {cLength} elements but its shape [m={m}, n={n}] needs {(long)m * n}.", "c");
        }
    }

    /// <summary>A per-thread packing buffer, allocated once per thread on the pinned heap, 64-byte aligned.</summary>
    private static float* PackBuffer(ref float[]? slot, int floats)
    {
        float[]? buffer = slot;
        if (buffer is null || buffer.Length < floats + 16)
        {
            buffer = GC.AllocateUninitializedArray<float>(floats + 16, pinned: true);
            slot = buffer;
        }
        return (float*)(((nint)Unsafe.AsPointer(ref buffer[0]) + 63) & ~(nint)63);
    }

    /// <summary>One packed (K-block, N-block) of B and how its columns are split into work chunks.</summary>
    private readonly struct BlockStep(float* packB, int jc, int nc, int kb, int kc, bool addC, int chunks)
    {
        internal readonly float* PackB = packB;
        internal readonly int Jc = jc, Nc = nc, Kb = kb, Kc = kc, Chunks = chunks;
        internal readonly bool AddC = addC;
    }

    /// <summary>Carries a <see cref="GemmJob"/> and the current B block into the thread pool.</summary>
    private sealed class ParallelRunner(GemmJob job, BlockStep block)
    {
        internal void Run(int item) => job.Compute(block, item);
    }

    /// <summary>The shared description of one multiplication.</summary>
    private readonly struct GemmJob
    {
        private readonly float* _c;
        private readonly float* _a;
        private readonly float* _b;
        private readonly int _m, _n, _k;
        private readonly bool _transposeB;
        private readonly float _alpha;
        private readonly KernelPath _path;
        private readonly int _nr;

        internal GemmJob(float* c, float* a, float* b, int m, int n, int k, bool transposeB, float alpha,
                         KernelPath path)
        {
            _c = c; _a = a; _b = b; _m = m; _n = n; _k = k;
            _transposeB = transposeB; _alpha = alpha; _path = path;
            _nr = path switch
            {
                KernelPath.Vector512 => GemmMicroKernels.NR512,
                KernelPath.Vector256 => GemmMicroKernels.NR256,
                KernelPath.Vector128 => GemmMicroKernels.NR128,
                _ => GemmMicroKernels.NRScalar,
            };
            MBlocks = (m + MC - 1) / MC;
        }

        internal int MBlocks { get; }

        /// <summary>
        /// How many column chunks to cut an N-block into: one when there are enough M blocks to share out,
        /// otherwise up to one per micro-panel pair so short, wide problems still use every core.
        /// </summary>
        internal int ColumnChunks(int nc, bool parallel)
        {
            if (!parallel || MBlocks >= 2 * Environment.ProcessorCount)
            {
                return 1;
            }
            int panels = (nc + _nr - 1) / _nr;
            return Math.Max(1, Math.Min((panels + 1) / 2, 2 * Environment.ProcessorCount));
        }

        /// <summary>Work item: M-block item / chunks, column chunk item % chunks, of the packed B block.</summary>
        internal void Compute(BlockStep block, int item)
        {
            const int mr = GemmMicroKernels.MR;
            int nr = _nr;
            int ib = item / block.Chunks;
            int chunk = item % block.Chunks;
            int panels = (block.Nc + nr - 1) / nr;
            int panelsPerChunk = (panels + block.Chunks - 1) / block.Chunks;
            int jStart = chunk * panelsPerChunk * nr;
            int jEnd = Math.Min(block.Nc, jStart + panelsPerChunk * nr);
            if (jStart >= jEnd)
            {
                return;
            }
            int ic = ib * MC;
            int mc = Math.Min(MC, _m - ic);
            int mcPadded = (mc + mr - 1) / mr * mr;
            int kc = block.Kc;
            float* packA = PackBuffer(ref t_packA, MC * KC);
            PackA(packA, ic, mc, mcPadded, block.Kb, kc);
            for (int jr = jStart; jr < jEnd; jr += nr)
            {
                float* pbPanel = block.PackB + (long)jr * kc;
                int nrEff = Math.Min(nr, block.Nc - jr);
                for (int ir = 0; ir < mc; ir += mr)
                {
                    float* paPanel = packA + (long)ir * kc;
                    float* cTile = _c + (long)(ic + ir) * _n + block.Jc + jr;
                    int mrEff = Math.Min(mr, mc - ir);
                    switch (_path)
                    {
                        case KernelPath.Vector512:
                            GemmMicroKernels.Kernel512(kc, paPanel, pbPanel, cTile, _n, _alpha, block.AddC, mrEff, nrEff);
                            break;
                        case KernelPath.Vector256:
                            GemmMicroKernels.Kernel256(kc, paPanel, pbPanel, cTile, _n, _alpha, block.AddC, mrEff, nrEff);
                            break;
                        case KernelPath.Vector128:
                            GemmMicroKernels.Kernel128(kc, paPanel, pbPanel, cTile, _n, _alpha, block.AddC, mrEff, nrEff);
                            break;
                        default:
                            GemmMicroKernels.KernelScalar(kc, paPanel, pbPanel, cTile, _n, _alpha, block.AddC, mrEff, nrEff);
                            break;
                    }
                }
            }
        }

        /// <summary>
        /// Packs a full panel of nr columns of a transposed B ([n, k]) with 8×8 AVX register transposes: the
        /// scalar gather writes one float per 64-byte row of the panel, which made the nn.Linear layout about
        /// 20% slower than the plain one. Leftover depth (kc mod 8) is copied element by element.
        /// </summary>
        private void PackTransposedAvx(float* panel, int pc, int kc, int column, int nr)
        {
            long ld = _k;
            int p = 0;
            for (; p + 8 <= kc; p += 8)
            {
                for (int j0 = 0; j0 < nr; j0 += 8)
                {
                    float* src = _b + (column + j0) * ld + pc + p;
                    Vector256<float> r0 = Avx.LoadVector256(src);
                    Vector256<float> r1 = Avx.LoadVector256(src + ld);
                    Vector256<float> r2 = Avx.LoadVector256(src + 2 * ld);
                    Vector256<float> r3 = Avx.LoadVector256(src + 3 * ld);
                    Vector256<float> r4 = Avx.LoadVector256(src + 4 * ld);
                    Vector256<float> r5 = Avx.LoadVector256(src + 5 * ld);
                    Vector256<float> r6 = Avx.LoadVector256(src + 6 * ld);
                    Vector256<float> r7 = Avx.LoadVector256(src + 7 * ld);
                    Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1);
                    Vector256<float> t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
                    Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5);
                    Vector256<float> t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
                    Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE);
                    Vector256<float> u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE);
                    Vector256<float> u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE);
                    Vector256<float> u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7, 0xEE);
                    float* dst = panel + p * nr + j0;
                    Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
                    Avx.Store(dst + nr, Avx.Permute2x128(u1, u5, 0x20));
                    Avx.Store(dst + 2 * nr, Avx.Permute2x128(u2, u6, 0x20));
                    Avx.Store(dst + 3 * nr, Avx.Permute2x128(u3, u7, 0x20));
                    Avx.Store(dst + 4 * nr, Avx.Permute2x128(u0, u4, 0x31));
                    Avx.Store(dst + 5 * nr, Avx.Permute2x128(u1, u5, 0x31));
                    Avx.Store(dst + 6 * nr, Avx.Permute2x128(u2, u6, 0x31));
                    Avx.Store(dst + 7 * nr, Avx.Permute2x128(u3, u7, 0x31));
                }
            }
            for (; p < kc; p++)
            {
                for (int j = 0; j < nr; j++)
                {
                    panel[p * nr + j] = _b[(column + j) * ld + pc + p];
                }
            }
        }

        /// <summary>Packs A[ic.., pc..] into panels of 6 rows: panel r holds kc groups of 6 consecutive row values.</summary>
        private void PackA(float* dst, int ic, int mc, int mcPadded, int pc, int kc)
        {
            const int mr = GemmMicroKernels.MR;
            for (int ir = 0; ir < mcPadded; ir += mr)
            {
                float* panel = dst + (long)ir * kc;
                for (int i = 0; i < mr; i++)
                {
                    int row = ir + i;
                    if (row < mc)
                    {
                        float* src = _a + (long)(ic + row) * _k + pc;
                        for (int p = 0; p < kc; p++)
                        {
                            panel[p * mr + i] = src[p];
                        }
                    }
                    else
                    {
                        for (int p = 0; p < kc; p++)
                        {
                            panel[p * mr + i] = 0f;
                        }
                    }
                }
            }
        }

        /// <summary>Packs op(B)[pc.., jc..] into panels of nr columns: panel j holds kc rows of nr values.</summary>
        internal void PackB(float* dst, int pc, int kc, int jc, int nc)
        {
            int nr = _nr;
            int ncPadded = (nc + nr - 1) / nr * nr;
            for (int jr = 0; jr < ncPadded; jr += nr)
            {
                float* panel = dst + (long)jr * kc;
                int valid = Math.Max(0, Math.Min(nr, nc - jr));
                if (_transposeB && valid == nr && _path != KernelPath.Scalar && Avx.IsSupported)
                {
                    PackTransposedAvx(panel, pc, kc, jc + jr, nr);
                }
                else if (_transposeB)
                {
                    // B is [n, k]: each output column is a contiguous run of a row of B.
                    for (int j = 0; j < valid; j++)
                    {
                        float* src = _b + (long)(jc + jr + j) * _k + pc;
                        for (int p = 0; p < kc; p++)
                        {
                            panel[p * nr + j] = src[p];
                        }
                    }
                    for (int j = valid; j < nr; j++)
                    {
                        for (int p = 0; p < kc; p++)
                        {
                            panel[p * nr + j] = 0f;
                        }
                    }
                }
                else
                {
                    // B is [k, n]: each packed row is a contiguous slice of a row of B.
                    for (int p = 0; p < kc; p++)
                    {
                        float* src = _b + (long)(pc + p) * _n + jc + jr;
                        float* d = panel + p * nr;
                        new ReadOnlySpan<float>(src, valid).CopyTo(new Span<float>(d, valid));
                        if (valid < nr)
                        {
                            new Span<float>(d + valid, nr - valid).Clear();
                        }
                    }
                }
            }
        }
    }
}

/// <summary>
/// The straightforward triple loop with double accumulation: the reference the optimized <see cref="Gemm"/> is
/// tested against and the baseline it is benchmarked against.
/// </summary>
public static class GemmReference
{
    /// <summary>C = alpha · A · op(B) (+ C when <paramref name="accumulate"/>), same contract as <see cref="Gemm.Multiply(Span{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, int, int, int, bool, float, bool)"/>.</summary>
    /// <param name="c">Output, row-major [m, n].</param>
    /// <param name="a">Left operand, row-major [m, k].</param>
    /// <param name="b">Right operand, row-major [k, n], or [n, k] when <paramref name="transposeB"/>.</param>
    /// <param name="m">Rows of A and C.</param>
    /// <param name="n">Columns of C.</param>
    /// <param name="k">Inner dimension.</param>
    /// <param name="transposeB">Whether <paramref name="b"/> is stored [n, k].</param>
    /// <param name="alpha">Scale applied to the product.</param>
    /// <param name="accumulate">Add to the existing contents of <paramref name="c"/>.</param>
    /// <exception cref="ArgumentException">A span length does not match the shapes.</exception>
    public static void Multiply(Span<float> c, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
                                int m, int n, int k, bool transposeB, float alpha = 1f, bool accumulate = false)
    {
        Gemm.Validate(c.Length, a.Length, b.Length, m, n, k, transposeB);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++)
                {
                    float bv = transposeB ? b[j * k + p] : b[p * n + j];
                    sum += (double)a[i * k + p] * bv;
                }
                double result = alpha * sum;
                if (accumulate)
                {
                    result += c[i * n + j];
                }
                c[i * n + j] = (float)result;
            }
        }
    }
}
