using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using BenchmarkDotNet.Attributes;
using BigBirdSharp.Kernels;

namespace BigBirdSharp.Bench;

/// <summary>A GEMM problem size; shown as MxNxK in the results.</summary>
public sealed record GemmShape(int M, int N, int K)
{
    /// <summary>Floating-point operations of one multiplication (a multiply and an add per term).</summary>
    public double Flops => 2.0 * M * N * K;

    /// <inheritdoc />
    public override string ToString() => $"{M}x{N}x{K}";
}

/// <summary>
/// The model's projections, y = x·Wᵀ (+ bias, + activation) in the nn.Linear layout, before and after pre-packing, in
/// one run: <see cref="Before"/> is the GEMM of commit 851492b (B packed per call, Parallel.For; kept below as
/// <see cref="BaselineGemm"/>), <see cref="Multiply"/> today's <see cref="Gemm.Multiply(Span{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, int, int, int, bool, float, bool)"/>
/// (B packed per call, pool), <see cref="Linear"/> and <see cref="LinearGelu"/> <see cref="Gemm.Linear(Span{float}, ReadOnlySpan{float}, PackedMatrix, ReadOnlySpan{float}, int, ActivationKind, bool)"/>
/// over W packed once (bias, and exact GELU, fused), <see cref="LinearOneThread"/> the same on the calling thread only.
/// </summary>
[Config(typeof(GemmConfig))]
public class GemmBenchmarks
{
    private sealed class GemmConfig : BenchmarkDotNet.Configs.ManualConfig
    {
        public GemmConfig() => AddColumn(new GflopsColumn());
    }

    private float[] _a = [];
    private float[] _b = [];
    private float[] _bias = [];
    private float[] _c = [];
    private PackedMatrix? _packed;

    /// <summary>M ∈ {1024, 4096, 511, 4097} × (N, K) ∈ {(768, 768), (3072, 768), (768, 3072)}: BERT-base attention projections, FFN up and down.</summary>
    public static IEnumerable<GemmShape> Shapes()
    {
        foreach (int m in new[] { 1024, 4096, 511, 4097 })
        {
            yield return new(m, 768, 768);
            yield return new(m, 3072, 768);
            yield return new(m, 768, 3072);
        }
    }

    /// <summary>The problem size.</summary>
    [ParamsSource(nameof(Shapes))]
    public GemmShape Shape { get; set; } = new(1, 1, 1);

    /// <summary>Random operands; W packed once, as at model load.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var rng = new System.Random(1);
        _a = Enumerable.Range(0, Shape.M * Shape.K).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        _b = Enumerable.Range(0, Shape.N * Shape.K).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        _bias = Enumerable.Range(0, Shape.N).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        _c = new float[Shape.M * Shape.N];
        _packed = new PackedMatrix(_b, Shape.N, Shape.K);
    }

    /// <summary>Before: the GEMM of commit 851492b, C = A·Bᵀ (B packed per call, Parallel.For).</summary>
    [Benchmark(Baseline = true)]
    public void Before() => BaselineGemm.Multiply(_c, _a, _b, Shape.M, Shape.N, Shape.K, transposeB: true);

    /// <summary>After, unpacked B: C = A·Bᵀ with B packed per call into a per-thread buffer, on the pool.</summary>
    [Benchmark]
    public void Multiply() => Gemm.Multiply(_c, _a, _b, Shape.M, Shape.N, Shape.K, transposeB: true);

    /// <summary>After, pre-packed W: y = x·Wᵀ + bias, the bias fused into the epilogue.</summary>
    [Benchmark]
    public void Linear() => Gemm.Linear(_c, _a, _packed!, _bias, Shape.M);

    /// <summary>After, pre-packed W: y = gelu(x·Wᵀ + bias), exact GELU fused into the epilogue.</summary>
    [Benchmark]
    public void LinearGelu() => Gemm.Linear(_c, _a, _packed!, _bias, Shape.M, ActivationKind.Gelu);

    /// <summary>After, pre-packed W, bias fused, kept on the calling thread (kernel speed without parallel scaling).</summary>
    [Benchmark]
    public void LinearOneThread()
        => Gemm.Linear(_c, _a, _packed!, _bias, Shape.M, ActivationKind.Linear, accumulate: false, parallel: false, pool: null);
}

/// <summary>
/// The attention products, before and after: scores = Q·Kᵀ ([64×64]·[512×64]ᵀ) and context = P·V ([64×512]·[512×64]),
/// on the calling thread as the attention workers run them.
/// </summary>
[Config(typeof(AttentionGemmConfig))]
public class AttentionGemmBenchmarks
{
    private sealed class AttentionGemmConfig : BenchmarkDotNet.Configs.ManualConfig
    {
        public AttentionGemmConfig() => AddColumn(new GflopsColumn());
    }

    private float[] _a = [];
    private float[] _b = [];
    private float[] _c = [];

    /// <summary>Q·Kᵀ is 64x512x64 with B transposed, P·V is 64x64x512 with B plain.</summary>
    public static IEnumerable<GemmShape> Shapes() => [new(64, 512, 64), new(64, 64, 512)];

    /// <summary>The problem size.</summary>
    [ParamsSource(nameof(Shapes))]
    public GemmShape Shape { get; set; } = new(1, 1, 1);

    private bool TransposeB => Shape.K == 64;

    /// <summary>Random operands.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var rng = new System.Random(2);
        _a = Enumerable.Range(0, Shape.M * Shape.K).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        _b = Enumerable.Range(0, Shape.N * Shape.K).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        _c = new float[Shape.M * Shape.N];
    }

    /// <summary>Before: the GEMM of commit 851492b on the calling thread.</summary>
    [Benchmark(Baseline = true)]
    public void Before() => BaselineGemm.Multiply(_c, _a, _b, Shape.M, Shape.N, Shape.K, TransposeB, 1f, false, KernelPath.Auto, parallel: false);

    /// <summary>After: B packed into the per-thread buffer, then the same kernels as the projections.</summary>
    [Benchmark]
    public void After() => Gemm.Multiply(_c, _a, _b, Shape.M, Shape.N, Shape.K, TransposeB, 1f, false, KernelPath.Auto, parallel: false);
}

// ---------------------------------------------------------------------------------------------------------------
// The GEMM of commit 851492b, unchanged but for the class names: the "before" of the benchmarks above.
// ---------------------------------------------------------------------------------------------------------------

[SkipLocalsInit]
internal static unsafe class BaselineGemm
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
    internal static void Multiply(Span<float> c, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
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
                KernelPath.Vector512 => BaselineMicroKernels.NR512,
                KernelPath.Vector256 => BaselineMicroKernels.NR256,
                KernelPath.Vector128 => BaselineMicroKernels.NR128,
                _ => BaselineMicroKernels.NRScalar,
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
            const int mr = BaselineMicroKernels.MR;
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
                            BaselineMicroKernels.Kernel512(kc, paPanel, pbPanel, cTile, _n, _alpha, block.AddC, mrEff, nrEff);
                            break;
                        case KernelPath.Vector256:
                            BaselineMicroKernels.Kernel256(kc, paPanel, pbPanel, cTile, _n, _alpha, block.AddC, mrEff, nrEff);
                            break;
                        case KernelPath.Vector128:
                            BaselineMicroKernels.Kernel128(kc, paPanel, pbPanel, cTile, _n, _alpha, block.AddC, mrEff, nrEff);
                            break;
                        default:
                            BaselineMicroKernels.KernelScalar(kc, paPanel, pbPanel, cTile, _n, _alpha, block.AddC, mrEff, nrEff);
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
            const int mr = BaselineMicroKernels.MR;
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

[SkipLocalsInit]
internal static unsafe class BaselineMicroKernels
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
