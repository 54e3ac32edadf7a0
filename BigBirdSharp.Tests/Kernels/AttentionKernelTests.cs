using FsCheck;
using FsCheck.Xunit;
using BigBirdSharp.Backends;
using BigBirdSharp.Kernels;
using BigBirdSharp.RandomAttention;
using static BigBirdSharp.Tests.Kernels.KernelTestData;

namespace BigBirdSharp.Tests.Kernels;

/// <summary>
/// <see cref="AttentionKernels"/> (packed-panel products over selected key blocks) against double references on every
/// path, and the attention ops built on them (<see cref="CpuAttention.BlockSparse(Memory{float}, Memory{float}, Memory{float}, Memory{float}, Memory{float}, Memory{float}, in BlockSparseAttentionArgs, KernelPath)"/>,
/// <see cref="CpuAttention.Full(Memory{float}, Memory{float}, Memory{float}, Memory{float}, Memory{float}, Memory{float}, in FullAttentionArgs, KernelPath)"/>)
/// on the scalar path and each vector path against the previous gather-and-GEMM kernels, at odd sizes.
/// </summary>
public unsafe class AttentionKernelTests
{
    private static readonly KernelPath[] AllPaths = [KernelPath.Scalar, .. VectorPaths];

    /// <summary>
    /// fp32 dot products of n terms in [-1, 1] against double: Higham's γ_n·Σ|a·b| ≤ n²·2⁻²⁴, doubled; a wrong panel,
    /// offset or edge tile is off by O(1).
    /// </summary>
    private static double DotTolerance(int n) => 2.0 * (n + 2) * n * Math.Pow(2, -24) + 1e-7;

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(5, 7, 3)]
    [InlineData(6, 16, 16)]
    [InlineData(13, 17, 8)]
    [InlineData(64, 64, 64)]
    [InlineData(7, 33, 17)]
    [InlineData(12, 9, 33)]
    public void Scores_over_packed_key_blocks_match_a_double_reference(int rows, int d, int block)
    {
        var rng = new System.Random(rows * 100 + d * 10 + block);
        const int blocks = 3;
        int[] order = [2, 0, 2]; // a repeated block, as a plan may list
        float[] q = Uniform(rng, rows * d, -1f, 1f), k = Uniform(rng, blocks * block * d, -1f, 1f);
        int ldc = order.Length * block + 3;
        foreach (KernelPath path in AllPaths)
        {
            int nr = GemmMicroKernels.PanelWidth(path);
            var packedK = new float[AttentionKernels.PackedKeysLength(blocks, block, d, nr)];
            var packedQ = new float[AttentionKernels.PackedRowsLength(rows, d)];
            var c = new float[rows * ldc];
            Array.Fill(c, float.NaN);
            fixed (float* pk = k, pq = q, ppk = packedK, ppq = packedQ, pc = c)
            {
                AttentionKernels.PackKeys(ppk, pk, blocks, block, d, path);
                AttentionKernels.PackRows(ppq, pq, rows, d, d);
                for (int s = 0; s < order.Length; s++)
                    AttentionKernels.ScoreBlock(pc + s * block, ldc, ppq, rows, d, ppk + order[s] * AttentionKernels.PackedKeysLength(1, block, d, nr), block, path);
            }
            for (int i = 0; i < rows; i++)
            {
                for (int s = 0; s < order.Length; s++)
                    for (int j = 0; j < block; j++)
                    {
                        double sum = 0;
                        for (int p = 0; p < d; p++) sum += (double)q[i * d + p] * k[(order[s] * block + j) * d + p];
                        float got = c[i * ldc + s * block + j];
                        Assert.True(Math.Abs(got - sum) <= DotTolerance(d), $"{path} rows={rows} d={d} block={block}: C[{i}, {s}·{block}+{j}] = {got}, expected {sum}");
                    }
                for (int j = order.Length * block; j < ldc; j++)
                    Assert.True(float.IsNaN(c[i * ldc + j]), $"{path}: wrote past the scored columns");
            }
        }
    }

    [Theory]
    [InlineData(1, 1, 1, 1)]
    [InlineData(5, 7, 3, 2)]
    [InlineData(13, 17, 8, 3)]
    [InlineData(64, 64, 64, 2)]
    [InlineData(7, 33, 9, 3)]
    [InlineData(6, 16, 16, 1)]
    public void Probabilities_times_value_runs_match_a_double_reference(int rows, int d, int block, int runs)
    {
        var rng = new System.Random(rows * 100 + d * 10 + block + runs);
        int keys = 6 * block;
        // runs of consecutive value blocks, as the band gives: (first P column block, first V block, blocks)
        var plan = new (int p, int v, int n)[] { (0, 4, 2), (2, 0, 1), (3, 2, 3) }[..runs];
        int pCols = plan.Sum(x => x.n) * block + 1;
        float[] pm = Uniform(rng, rows * pCols, 0f, 1f), v = Uniform(rng, keys * d, -1f, 1f);
        foreach (KernelPath path in AllPaths)
        {
            int nr = GemmMicroKernels.PanelWidth(path);
            var packedV = new float[AttentionKernels.PackedValuesLength(keys, d, nr)];
            var packedP = new float[AttentionKernels.PackedRowsLength(rows, pCols)];
            var c = new float[rows * d];
            Array.Fill(c, float.NaN);
            fixed (float* pv = v, pp = pm, ppv = packedV, ppp = packedP, pc = c)
            {
                AttentionKernels.PackValues(ppv, pv, keys, d, path);
                AttentionKernels.PackRows(ppp, pp, rows, pCols, pCols);
                for (int x = 0; x < plan.Length; x++)
                    AttentionKernels.AccumulateValues(pc, ppp, rows, pCols, plan[x].p * block, ppv, keys, plan[x].v * block, plan[x].n * block, d,
                                                      accumulate: x > 0, path);
            }
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < d; j++)
                {
                    double sum = 0;
                    foreach (var (p0, v0, n) in plan)
                        for (int t = 0; t < n * block; t++) sum += (double)pm[i * pCols + p0 * block + t] * v[(v0 * block + t) * d + j];
                    float got = c[i * d + j];
                    Assert.True(Math.Abs(got - sum) <= DotTolerance(pCols), $"{path} rows={rows} d={d} block={block}: C[{i}, {j}] = {got}, expected {sum}");
                }
        }
    }

    /// <summary>
    /// exp(x − max) with the sum: within 4 ulp (5e-7 relative) of double exp of the fp32 difference on every path, exactly 0 below float's
    /// normal range (masked keys), the same bits on every path element by element, and the sum within n·2⁻²³ relative.
    /// </summary>
    [Fact]
    public void Exp_subtract_sum_matches_double_exp_on_every_path()
    {
        var rng = new System.Random(11);
        foreach (int n in Lengths)
        {
            float[] x = Uniform(rng, n, -100f, 5f);
            for (int i = 0; i < n; i += 7) x[i] = i % 2 == 0 ? -10000f : float.MinValue;
            const float max = 3f;
            float[]? reference = null;
            foreach (KernelPath path in AllPaths)
            {
                var row = (float[])x.Clone();
                float sum;
                fixed (float* p = row) sum = AttentionKernels.ExpSubtractSum(p, n, max, path);
                double expectedSum = 0;
                for (int i = 0; i < n; i++)
                {
                    double arg = x[i] - max; // the fp32 difference the kernel exponentiates
                    double e = arg < -87.33654 ? 0 : Math.Exp(arg);
                    expectedSum += e;
                    Assert.True(Math.Abs(row[i] - e) <= 5e-7 * e, $"{path} n={n}: exp({x[i]} − {max}) = {row[i]}, expected {e}");
                }
                Assert.True(Math.Abs(sum - expectedSum) <= (n + 4) * 1.2e-7 * expectedSum + 1e-30, $"{path} n={n}: sum {sum}, expected {expectedSum}");
                if (reference is null) reference = row;
                else AssertSameFloats(reference, row, $"{path} n={n} against the scalar path");
            }
        }
    }

    /// <summary>
    /// The fused softmax-and-pack against a double softmax: a probability's fp32 error is a few ulp of the exponent
    /// argument (|x| ≤ 20 here) plus the sum's rounding, well under 1e-6 + 1e-5·|p|. Rows whose from value is 0 take the
    /// closed mask; a row masked everywhere with float.MinValue is uniform; packed rows past <c>rows</c> are zero.
    /// </summary>
    [Theory]
    [InlineData(1, 1)]
    [InlineData(5, 7)]
    [InlineData(6, 16)]
    [InlineData(13, 33)]
    [InlineData(64, 129)]
    [InlineData(7, 257)]
    public void Softmax_pack_rows_matches_a_double_softmax(int rows, int cols)
    {
        var rng = new System.Random(rows * 1000 + cols);
        float[] scores = Uniform(rng, rows * cols, -20f, 20f), open = new float[cols], closed = new float[cols], from = new float[rows];
        for (int j = 0; j < cols; j++)
        {
            open[j] = rng.NextDouble() < 0.2 ? -10000f : 0f;
            closed[j] = rng.NextDouble() < 0.5 ? float.MinValue : open[j];
        }
        for (int i = 0; i < rows; i++) from[i] = i % 3 == 1 ? 0f : 1f;
        if (rows > 4) Array.Fill(closed, float.MinValue); // rows taking the closed mask are masked everywhere
        const float scale = 0.37f;
        foreach (KernelPath path in AllPaths)
            foreach (bool normalize in new[] { false, true })
            {
                var s = (float[])scores.Clone();
                var packed = new float[AttentionKernels.PackedRowsLength(rows, cols)];
                Array.Fill(packed, float.NaN);
                fixed (float* ps = s, pp = packed)
                    AttentionKernels.SoftmaxPackRows(pp, ps, rows, cols, scale, open, closed, from, normalize, path);
                for (int i = 0; i < AttentionKernels.PackedRowsLength(rows, cols) / (AttentionKernels.MR * cols) * AttentionKernels.MR; i++)
                {
                    float[] mask = from.Length > i && from[i] == 0f ? closed : open;
                    double[] x = new double[cols];
                    for (int j = 0; j < cols; j++) x[j] = i < rows ? (double)scores[i * cols + j] * scale + mask[j] : 0;
                    double max = x.Max(), sum = x.Sum(t => Math.Exp(t - max));
                    for (int j = 0; j < cols; j++)
                    {
                        double expected = i < rows ? Math.Exp(x[j] - max) / sum : 0;
                        float got = packed[(i / AttentionKernels.MR * cols + j) * AttentionKernels.MR + i % AttentionKernels.MR];
                        Assert.True(Tolerance.Close(got, (float)expected, 1e-6, 1e-5), $"{path} normalize={normalize} rows={rows} cols={cols}: P[{i}, {j}] = {got}, expected {expected}");
                        if (normalize && i < rows)
                            Assert.True(Tolerance.Close(s[i * cols + j], (float)expected, 1e-6, 1e-5), $"{path}: row {i} not normalised in place");
                    }
                }
            }
    }

    /// <summary>
    /// Same inputs through the baseline (gathered blocks, <see cref="Gemm"/>) and the packed kernel: the scores are the
    /// same fp32 sums and only the value product's grouping of K differs, so both agree far inside the conformance
    /// suite's 2e-5 + 1e-4·|b| for context and 1e-6 + 1e-4·|b| for probabilities.
    /// </summary>
    [Theory]
    [InlineData(1, 1, 8, 1, 1, 1)]
    [InlineData(2, 2, 10, 3, 8, 2)]
    [InlineData(1, 3, 12, 8, 7, 3)]
    [InlineData(2, 1, 9, 17, 33, 1)]
    [InlineData(1, 2, 13, 16, 16, 0)]
    [InlineData(1, 2, 12, 64, 64, 3)]
    public void Block_sparse_matches_the_baseline_kernel_on_every_path(int batch, int heads, int numBlocks, int block, int d, int r)
    {
        int seq = numBlocks * block, n = batch * heads * seq * d;
        var rng = new System.Random(seq * 7 + d + r);
        float[] q = Uniform(rng, n, -1f, 1f), k = Uniform(rng, n, -1f, 1f), v = Uniform(rng, n, -1f, 1f);
        var mask = new float[batch * seq];
        for (int i = 0; i < mask.Length; i++) mask[i] = i % seq == 0 || rng.NextDouble() >= 0.3 ? 1f : 0f;
        if (batch > 1) Array.Fill(mask, 1f, seq, seq); // one unpadded row takes the one-softmax-per-block path
        int[] randAttn = BigBirdRandomAttention.GetRandAttn(RandomAttentionSemantics.Seeded, 1, seq, seq, block, block, r, heads, Math.Max(seq, 64));
        var args = new BlockSparseAttentionArgs
        {
            Batch = batch, Heads = heads, Seq = seq, HeadDim = d, Plan = AttentionPlan.BlockSparse(block, r, randAttn),
        };
        var expectedContext = new float[n];
        var expectedProbs = new float[batch * heads * seq * seq];
        CpuAttention.BaselineBlockSparse(expectedContext, q, k, v, mask, expectedProbs, args);
        foreach (KernelPath path in AllPaths)
        {
            var context = new float[n];
            var probs = new float[expectedProbs.Length];
            Array.Fill(context, float.NaN);
            Array.Fill(probs, float.NaN);
            CpuAttention.BlockSparse(context, q, k, v, mask, probs, args, path);
            Tolerance.AssertAllClose(context, expectedContext, $"{path} block-sparse context", 2e-6, 1e-5);
            Tolerance.AssertAllClose(probs, expectedProbs, $"{path} block-sparse probabilities", 1e-7, 1e-5);
            // without probabilities: the same context
            Array.Fill(context, float.NaN);
            CpuAttention.BlockSparse(context, q, k, v, mask, Memory<float>.Empty, args, path);
            Tolerance.AssertAllClose(context, expectedContext, $"{path} block-sparse context without probabilities", 2e-6, 1e-5);
        }
    }

    [Theory]
    // batch, heads, seq, head_dim, keys, key_stride, causal_offset, head_mask
    [InlineData(1, 1, 1, 1, 1, 1, -1, false)]
    [InlineData(2, 3, 7, 8, 7, 7, -1, false)]
    [InlineData(2, 2, 9, 17, 9, 9, 0, false)]
    [InlineData(1, 2, 3, 5, 8, 11, 5, true)]
    [InlineData(1, 2, 65, 33, 65, 65, -1, true)]
    [InlineData(1, 2, 130, 64, 131, 140, 1, false)]
    public void Full_matches_the_baseline_kernel_on_every_path(int batch, int heads, int seq, int d, int keys, int keyStride, int causalOffset, bool headMask)
    {
        var rng = new System.Random(seq * 7 + d + keys);
        int n = batch * heads * seq * d, stored = batch * heads * keyStride * d;
        float[] q = Uniform(rng, n, -1f, 1f), k = Uniform(rng, stored, -1f, 1f), v = Uniform(rng, stored, -1f, 1f);
        var mask = new float[batch * keys];
        for (int i = 0; i < mask.Length; i++) mask[i] = rng.NextDouble() < 0.3 ? float.MinValue : 0f;
        var args = new FullAttentionArgs
        {
            Batch = batch, Heads = heads, Seq = seq, HeadDim = d, Keys = keys, KeyStride = keyStride, CausalOffset = causalOffset,
            HeadMask = headMask ? Enumerable.Range(0, heads).Select(h => h % 2 == 0 ? 0.5f : 1.25f).ToArray() : ReadOnlyMemory<float>.Empty,
        };
        var expectedContext = new float[n];
        var expectedProbs = new float[batch * heads * seq * keys];
        CpuAttention.BaselineFull(expectedContext, q, k, v, mask, expectedProbs, args);
        foreach (KernelPath path in AllPaths)
        {
            var context = new float[n];
            var probs = new float[expectedProbs.Length];
            Array.Fill(context, float.NaN);
            CpuAttention.Full(context, q, k, v, mask, probs, args, path);
            Tolerance.AssertAllClose(context, expectedContext, $"{path} full context", 2e-6, 1e-5);
            Tolerance.AssertAllClose(probs, expectedProbs, $"{path} full probabilities", 1e-7, 1e-5);
        }
    }

    [Property(MaxTest = 80)]
    public void PackRows_lays_out_MR_row_panels_and_writes_nothing_past_them(PositiveInt rowsSeed, PositiveInt colsSeed, NonNegativeInt padSeed)
    {
        // rows and cols cover partial panels and every tail of the eight-column AVX transpose (cols ≡ 0..7 mod 8)
        int rows = 1 + rowsSeed.Get % 20, cols = 1 + colsSeed.Get % 70, lda = cols + padSeed.Get % 5;
        var rng = new Random(rows * 1000 + cols * 10 + lda);
        var a = new float[rows * lda];
        for (int i = 0; i < a.Length; i++) a[i] = (float)rng.NextDouble() - 0.5f;
        long packed = AttentionKernels.PackedRowsLength(rows, cols);
        const int guard = 16;
        var dst = new float[packed + guard];
        Array.Fill(dst, float.NaN);
        fixed (float* pa = a, pd = dst) AttentionKernels.PackRows(pd, pa, rows, cols, lda);
        for (int panel = 0; panel * AttentionKernels.MR < rows; panel++)
            for (int p = 0; p < cols; p++)
                for (int i = 0; i < AttentionKernels.MR; i++)
                {
                    int row = panel * AttentionKernels.MR + i;
                    float expected = row < rows ? a[row * lda + p] : 0f;
                    Assert.Equal(expected, dst[(long)panel * AttentionKernels.MR * cols + p * AttentionKernels.MR + i]);
                }
        for (int g = 0; g < guard; g++)
            Assert.True(float.IsNaN(dst[packed + g]), $"PackRows wrote past its {packed} floats (rows {rows}, cols {cols})");
    }
}
