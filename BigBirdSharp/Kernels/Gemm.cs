using System.Runtime.CompilerServices;

namespace BigBirdSharp.Kernels;

/// <summary>
/// Single-precision matrix multiplication for dense row-major matrices:
/// C[m, n] = alpha · A[m, k] · op(B) (+ C), where op(B) is B[k, n] or, with <c>transposeB</c>, B[n, k]ᵀ
/// (the <c>nn.Linear</c> weight layout), and the fused linear layer y = act(x · Wᵀ + bias) (+ y) over a
/// <see cref="PackedMatrix"/>. The algorithm is the classic packed one: B is in panels of NR columns (packed once
/// at load for weights, or per call into a per-thread buffer), blocks of A (MC × KC) are packed per work item
/// into panels of MR rows, and a register-blocked micro-kernel (6 rows × 2 vectors, FMA, fp32 accumulation)
/// sweeps them, finishing each tile with the bias and activation on the last K block (the epilogue). The work is
/// cut statically into row ranges (and, for few rows, column-panel ranges) that the <see cref="ComputePool"/>
/// threads claim; every output element is accumulated over K in the same order whatever the cut or the thread
/// count, so results are identical.
/// <para>
/// Blocking (per thread, row block → K block → B panel → 6-row tile): KC = 256 keeps one 256 × 16 B panel slice
/// (16 KiB) in L1 (32 KiB per core here) while every tile of the row block sweeps it; MC = 144 keeps the packed A
/// block (144 × 256 floats, 144 KiB) in L2 (512 KiB per core); one K block of B for N ≤ 3072 (3 MiB) stays in the
/// shared 8 MiB L3. Packed panels are 64-byte aligned.
/// </para>
/// </summary>
[SkipLocalsInit]
internal static unsafe class Gemm
{
    /// <summary>Largest depth of one K block (floats of K); K is cut into equal blocks no deeper than this.</summary>
    internal const int KC = 256;

    /// <summary>Largest number of rows of A in one packed block (a multiple of the micro-tile height 6).</summary>
    internal const int MC = 144;

    /// <summary>Below this many multiply-adds a call stays on the calling thread.</summary>
    internal const long ParallelThreshold = 1L << 21;

    [ThreadStatic]
    private static float[]? t_packA;

    [ThreadStatic]
    private static float[]? t_packB;

    [ThreadStatic]
    private static GemmWork? t_work;

    [ThreadStatic]
    private static PackWork? t_packWork;

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
    /// <paramref name="parallel"/> null decides by size, true uses the pool whenever there is more than one work
    /// item, false keeps everything on the calling thread. <paramref name="pool"/> null is <see cref="ComputePool.Current"/>.
    /// </summary>
    internal static void Multiply(Span<float> c, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
                                  int m, int n, int k, bool transposeB, float alpha, bool accumulate,
                                  KernelPath path, bool? parallel, ComputePool? pool = null)
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
        int nr = GemmMicroKernels.PanelWidth(resolved);
        int panels = (n + nr - 1) / nr;
        fixed (float* pc = c)
        fixed (float* pa = a)
        fixed (float* pb = b)
        {
            // B is packed into the calling thread's buffer (by the pool's threads too when the product is large);
            // the multiplication then only reads it.
            float* packB = PackBuffer(ref t_packB, (long)panels * nr * k);
            bool goParallel = parallel ?? ((long)m * n * k >= ParallelThreshold && !KernelThreading.InParallelWorker);
            ComputePool? packPool = goParallel ? pool ?? ComputePool.Current : null;
            int packParts = packPool is null ? 1 : Math.Min(panels, 4 * packPool.ThreadCount);
            PackWork packWork = t_packWork ??= new PackWork();
            packWork.Set(packB, pb, n, k, transposeB, nr, panels, packParts, resolved != KernelPath.Scalar);
            try
            {
                if (packPool is null || packParts == 1)
                {
                    packWork.Run(0);
                }
                else
                {
                    packPool.Run(packWork, packParts);
                }
            }
            finally
            {
                packWork.Clear();
            }
            Run(pc, pa, packB, m, n, k, resolved, alpha, accumulate, bias: null, ActivationKind.Linear, goParallel, pool);
        }
    }

    /// <summary>
    /// The fused linear layer y[m, N] = act(x[m, K] · Wᵀ + bias) (+ y when <paramref name="accumulate"/>) over a
    /// weight packed at load. The bias and the activation are applied by the micro-kernel's epilogue on the last K
    /// block while the tile is in registers (exact GELU, ReLU, GELU-10 and none) or in L1 (the other kinds, through
    /// <see cref="Activations.Apply"/> on the tile's rows). Summation order: the bias is added to the first K
    /// block's partial product and the later blocks are added to that, i.e. ((bias + p₁) + p₂) + …, the order of
    /// writing the bias into y and accumulating the product; with <paramref name="accumulate"/> and no activation
    /// the old y joins the bias, ((y + bias) + p₁) + …, and with an activation y + act(…) is added last (K then
    /// runs as one block). Allocates nothing after the first call on a thread.
    /// </summary>
    /// <param name="y">Output, row-major [m, w.N].</param>
    /// <param name="x">Input, row-major [m, w.K].</param>
    /// <param name="w">The packed weight.</param>
    /// <param name="bias">w.N floats, or empty for none.</param>
    /// <param name="m">Rows of x and y.</param>
    /// <param name="activation">Applied to x·Wᵀ + bias; <see cref="ActivationKind.Linear"/> for none.</param>
    /// <param name="accumulate">Add the result to the existing contents of <paramref name="y"/>.</param>
    /// <exception cref="ArgumentException">A span length does not match the shapes.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="activation"/> is not a defined kind.</exception>
    internal static void Linear(Span<float> y, ReadOnlySpan<float> x, PackedMatrix w, ReadOnlySpan<float> bias, int m,
                                ActivationKind activation = ActivationKind.Linear, bool accumulate = false)
        => Linear(y, x, w, bias, m, activation, accumulate, parallel: null, pool: null);

    /// <summary>As the other overload, with threading chosen as in <see cref="Multiply(Span{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, int, int, int, bool, float, bool, KernelPath, bool?, ComputePool?)"/>.</summary>
    internal static void Linear(Span<float> y, ReadOnlySpan<float> x, PackedMatrix w, ReadOnlySpan<float> bias, int m,
                                ActivationKind activation, bool accumulate, bool? parallel, ComputePool? pool)
    {
        ArgumentNullException.ThrowIfNull(w);
        if (m < 0)
        {
            throw new ArgumentException($"Linear row count must be non-negative, got m={m}.", nameof(m));
        }
        if (x.Length != (long)m * w.K)
        {
            throw new ArgumentException($"Linear input has {x.Length} elements but its shape [m={m}, k={w.K}] needs {(long)m * w.K}.", nameof(x));
        }
        if (y.Length != (long)m * w.N)
        {
            throw new ArgumentException($"Linear output has {y.Length} elements but its shape [m={m}, n={w.N}] needs {(long)m * w.N}.", nameof(y));
        }
        if (!bias.IsEmpty && bias.Length != w.N)
        {
            throw new ArgumentException($"Linear bias has {bias.Length} elements but n={w.N} (pass an empty span for no bias).", nameof(bias));
        }
        if (!Enum.IsDefined(activation))
        {
            throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown activation kind.");
        }
        if (m == 0 || w.N == 0)
        {
            return;
        }
        fixed (float* py = y)
        fixed (float* px = x)
        fixed (float* pbias = bias)
        {
            Run(py, px, w.Data, m, w.N, w.K, w.Path, 1f, accumulate, bias.IsEmpty ? null : pbias, activation, parallel, pool);
        }
        GC.KeepAlive(w);
    }

    /// <summary>The shared driver over B packed in panels of the path's NR (panel j at j·k·NR).</summary>
    private static void Run(float* c, float* a, float* packedB, int m, int n, int k, KernelPath path, float alpha,
                            bool accumulate, float* bias, ActivationKind activation, bool? parallel, ComputePool? pool)
    {
        bool goParallel = parallel ?? ((long)m * n * k >= ParallelThreshold && !KernelThreading.InParallelWorker);
        ComputePool? p = goParallel ? pool ?? ComputePool.Current : null;
        int threads = p?.ThreadCount ?? 1;
        GemmWork work = t_work ??= new GemmWork();
        work.Set(c, a, packedB, m, n, k, path, alpha, accumulate, bias, activation, threads);
        try
        {
            if (p is null || work.Parts == 1)
            {
                for (int part = 0; part < work.Parts; part++)
                {
                    work.Run(part);
                }
            }
            else
            {
                p.Run(work, work.Parts);
            }
        }
        finally
        {
            work.Clear();
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

    /// <summary>A per-thread packing buffer, allocated on the pinned heap when it must grow, 64-byte aligned.</summary>
    private static float* PackBuffer(ref float[]? slot, long floats)
    {
        float[]? buffer = slot;
        if (buffer is null || buffer.Length < floats + 16)
        {
            if (floats < 0 || floats + 16 > Array.MaxLength)
                throw new BigBirdException(
                    $"a GEMM packing buffer of {floats} floats is more than the {Array.MaxLength} one buffer can hold (Array.MaxLength); " +
                    "use a shorter input or fewer rows per call.");
            buffer = GC.AllocateUninitializedArray<float>((int)floats + 16, pinned: true);
            slot = buffer;
        }
        return (float*)(((nint)Unsafe.AsPointer(ref buffer[0]) + 63) & ~(nint)63);
    }

    /// <summary>Packing of op(B) into panels, cut into ranges of panels; reused per calling thread.</summary>
    private sealed class PackWork : IComputeWork
    {
        private float* _dst, _b;
        private int _n, _k, _nr, _panels, _parts;
        private bool _transposed, _vectorized;

        internal void Set(float* dst, float* b, int n, int k, bool transposed, int nr, int panels, int parts, bool vectorized)
        {
            _dst = dst; _b = b; _n = n; _k = k; _transposed = transposed; _nr = nr; _panels = panels; _parts = parts;
            _vectorized = vectorized;
        }

        internal void Clear() => _dst = _b = null;

        public void Run(int part)
        {
            int p0 = (int)((long)_panels * part / _parts), p1 = (int)((long)_panels * (part + 1) / _parts);
            PackedMatrix.PackPanels(_dst, _b, _n, _k, _transposed, _nr, p0, p1, _vectorized);
        }
    }

    /// <summary>
    /// One multiplication cut into parts: part = (row range, panel range). Row ranges split the MR-row tiles evenly
    /// (at least ⌈m / MC⌉ of them, and 2 per thread when there are enough tiles); when rows alone give fewer than 2
    /// parts per thread, the panels are split too. Reused per calling thread, so a call allocates nothing.
    /// </summary>
    private sealed class GemmWork : IComputeWork
    {
        private float* _c, _a, _b, _bias;
        private int _m, _n, _k, _nr, _kcBlock, _mParts, _nParts, _tilesM, _panels;
        private KernelPath _path;
        private float _alpha;
        private bool _accumulate;
        private ActivationKind _activation;

        internal int Parts { get; private set; }

        internal void Set(float* c, float* a, float* b, int m, int n, int k, KernelPath path, float alpha,
                          bool accumulate, float* bias, ActivationKind activation, int threads)
        {
            const int mr = GemmMicroKernels.MR;
            _c = c; _a = a; _b = b; _bias = bias;
            _m = m; _n = n; _k = k; _path = path; _alpha = alpha;
            _accumulate = accumulate; _activation = activation;
            _nr = GemmMicroKernels.PanelWidth(path);
            // With accumulate into an activated result the whole sum must stay in registers: one K block.
            int kBlocks = accumulate && !GemmEpilogue.IsLinear(activation) ? 1 : Math.Max(1, (k + KC - 1) / KC);
            _kcBlock = Math.Max(1, (k + kBlocks - 1) / kBlocks);
            _tilesM = (m + mr - 1) / mr;
            _panels = (n + _nr - 1) / _nr;
            int wanted = threads > 1 ? 2 * threads : 1;
            int mParts = Math.Max((m + MC - 1) / MC, wanted);
            if (threads > 1)
            {
                mParts = (mParts + threads - 1) / threads * threads;
            }
            _mParts = Math.Min(_tilesM, mParts);
            _nParts = _mParts >= wanted ? 1 : Math.Min(_panels, (wanted + _mParts - 1) / _mParts);
            Parts = _mParts * _nParts;
        }

        internal void Clear()
        {
            _c = _a = _b = _bias = null;
        }

        public void Run(int part)
        {
            const int mr = GemmMicroKernels.MR;
            int mp = part / _nParts, np = part % _nParts;
            int r0 = (int)((long)_tilesM * mp / _mParts) * mr;
            int r1 = Math.Min(_m, (int)((long)_tilesM * (mp + 1) / _mParts) * mr);
            int p0 = (int)((long)_panels * np / _nParts);
            int p1 = (int)((long)_panels * (np + 1) / _nParts);
            int nr = _nr, k = _k, ldc = _n;
            bool linear = GemmEpilogue.IsLinear(_activation);
            // Always MC rows of the largest K block, so a thread's buffer reaches its final size on its first call
            // whatever part it happens to claim.
            float* packA = PackBuffer(ref t_packA, (long)MC * Math.Max(KC, _kcBlock));
            for (int ic = r0; ic < r1; ic += MC)
            {
                int mc = Math.Min(MC, r1 - ic);
                int pc = 0;
                do
                {
                    int kc = Math.Min(_kcBlock, k - pc);
                    bool first = pc == 0, last = pc + kc >= k;
                    PackA(packA, ic, mc, pc, kc);
                    var ep = new GemmEpilogue
                    {
                        Alpha = _alpha,
                        LoadC = !first || (_accumulate && linear),
                        Activation = last ? _activation : ActivationKind.Linear,
                        AddAfter = _accumulate && !linear,
                    };
                    for (int jp = p0; jp < p1; jp++)
                    {
                        int column = jp * nr;
                        float* pb = _b + (long)jp * k * nr + (long)pc * nr;
                        int nrEff = Math.Min(nr, _n - column);
                        ep.Bias = first && _bias != null ? _bias + column : null;
                        float* cPanel = _c + (long)ic * ldc + column;
                        for (int ir = 0; ir < mc; ir += mr)
                        {
                            GemmMicroKernels.Run(_path, kc, packA + (long)ir * kc, pb, cPanel + (long)ir * ldc, ldc,
                                                 in ep, Math.Min(mr, mc - ir), nrEff);
                        }
                    }
                    pc += kc;
                }
                while (pc < k);
            }
        }

        /// <summary>Packs A[ic.., pc..] into panels of MR rows: panel r holds kc groups of MR consecutive row values (zero past m).</summary>
        private void PackA(float* dst, int ic, int mc, int pc, int kc) =>
            AttentionKernels.PackRows(dst, _a + (long)ic * _k + pc, mc, kc, _k);
    }
}

/// <summary>
/// The straightforward triple loop with double accumulation: the reference the optimized <see cref="Gemm"/> is
/// tested against and the baseline it is benchmarked against.
/// </summary>
internal static class GemmReference
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
