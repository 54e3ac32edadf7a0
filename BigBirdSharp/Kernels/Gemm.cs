using System.Runtime.CompilerServices;

namespace BigBirdSharp.Kernels;

/// <summary>
/// Single-precision matrix multiplication for dense row-major matrices:
/// C[m, n] = alpha · A[m, k] · op(B) (+ C), where op(B) is B[k, n] or, with <c>transposeB</c>, B[n, k]ᵀ
/// (the <c>nn.Linear</c> weight layout). The algorithm is the classic packed one: blocks of B (KC × NC) and
/// A (MC × KC) are copied into contiguous panels, then a register-blocked micro-kernel (6 rows × 2 vectors,
/// FMA, fp32 accumulation) sweeps them. Large problems are split into independent (M-block, N-block) jobs
/// that run in parallel; each job accumulates over K in the same order, so results do not depend on threading.
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
    private static float[]? t_packBuffer;

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
            var job = new GemmJob(pc, pa, pb, m, n, k, transposeB, alpha, accumulate, resolved);
            int jobs = job.JobCount;
            bool goParallel = parallel ?? ((long)m * n * k >= ParallelThreshold && Environment.ProcessorCount > 1);
            if (goParallel && jobs > 1)
            {
                // The only allocations of a call: the runner and Parallel.For's own bookkeeping, for large problems.
                Parallel.For(0, jobs, new ParallelRunner(job).Run);
            }
            else
            {
                for (int j = 0; j < jobs; j++)
                {
                    job.Run(j);
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

    /// <summary>A per-thread packing buffer, allocated once per thread on the pinned heap and then reused.</summary>
    private static float* PackBuffer(int floats)
    {
        float[]? buffer = t_packBuffer;
        if (buffer is null || buffer.Length < floats)
        {
            buffer = GC.AllocateUninitializedArray<float>(floats, pinned: true);
            t_packBuffer = buffer;
        }
        return (float*)Unsafe.AsPointer(ref buffer[0]);
    }

    /// <summary>Carries a <see cref="GemmJob"/> into the thread pool.</summary>
    private sealed class ParallelRunner(GemmJob job)
    {
        internal void Run(int index) => job.Run(index);
    }

    /// <summary>The shared description of one multiplication; job i covers one (M-block, N-block) of C.</summary>
    private readonly struct GemmJob
    {
        private readonly float* _c;
        private readonly float* _a;
        private readonly float* _b;
        private readonly int _m, _n, _k;
        private readonly bool _transposeB, _accumulate;
        private readonly float _alpha;
        private readonly KernelPath _path;
        private readonly int _nr;
        private readonly int _mBlocks;
        private readonly int _nBlocks;

        internal GemmJob(float* c, float* a, float* b, int m, int n, int k, bool transposeB, float alpha,
                         bool accumulate, KernelPath path)
        {
            _c = c; _a = a; _b = b; _m = m; _n = n; _k = k;
            _transposeB = transposeB; _alpha = alpha; _accumulate = accumulate; _path = path;
            _nr = path switch
            {
                KernelPath.Vector512 => GemmMicroKernels.NR512,
                KernelPath.Vector256 => GemmMicroKernels.NR256,
                KernelPath.Vector128 => GemmMicroKernels.NR128,
                _ => GemmMicroKernels.NRScalar,
            };
            _mBlocks = (m + MC - 1) / MC;
            _nBlocks = (n + NC - 1) / NC;
        }

        internal int JobCount => _mBlocks * _nBlocks;

        internal void Run(int job)
        {
            // N-block outer so consecutive jobs on one thread tend to share the same columns of B.
            int ic = (job % _mBlocks) * MC;
            int jc = (job / _mBlocks) * NC;
            int mc = Math.Min(MC, _m - ic);
            int nc = Math.Min(NC, _n - jc);
            const int mr = GemmMicroKernels.MR;
            int nr = _nr;
            int mcPadded = (mc + mr - 1) / mr * mr;
            int ncPadded = (nc + nr - 1) / nr * nr;
            // 16 floats of slack keep the B panel 64-byte aligned after the A panel.
            float* buffer = PackBuffer(MC * KC + KC * NC + 32);
            float* packA = buffer;
            float* packB = (float*)(((nint)(buffer + MC * KC) + 63) & ~(nint)63);

            for (int pc = 0; pc < _k; pc += KC)
            {
                int kc = Math.Min(KC, _k - pc);
                PackB(packB, pc, kc, jc, nc, ncPadded, nr);
                PackA(packA, ic, mc, mcPadded, pc, kc);
                bool addC = _accumulate || pc > 0;
                for (int jr = 0; jr < nc; jr += nr)
                {
                    float* pbPanel = packB + (long)jr * kc;
                    int nrEff = Math.Min(nr, nc - jr);
                    for (int ir = 0; ir < mc; ir += mr)
                    {
                        float* paPanel = packA + (long)ir * kc;
                        float* cTile = _c + (long)(ic + ir) * _n + jc + jr;
                        int mrEff = Math.Min(mr, mc - ir);
                        switch (_path)
                        {
                            case KernelPath.Vector512:
                                GemmMicroKernels.Kernel512(kc, paPanel, pbPanel, cTile, _n, _alpha, addC, mrEff, nrEff);
                                break;
                            case KernelPath.Vector256:
                                GemmMicroKernels.Kernel256(kc, paPanel, pbPanel, cTile, _n, _alpha, addC, mrEff, nrEff);
                                break;
                            case KernelPath.Vector128:
                                GemmMicroKernels.Kernel128(kc, paPanel, pbPanel, cTile, _n, _alpha, addC, mrEff, nrEff);
                                break;
                            default:
                                GemmMicroKernels.KernelScalar(kc, paPanel, pbPanel, cTile, _n, _alpha, addC, mrEff, nrEff);
                                break;
                        }
                    }
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
        private void PackB(float* dst, int pc, int kc, int jc, int nc, int ncPadded, int nr)
        {
            for (int jr = 0; jr < ncPadded; jr += nr)
            {
                float* panel = dst + (long)jr * kc;
                int valid = Math.Max(0, Math.Min(nr, nc - jr));
                if (_transposeB)
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
