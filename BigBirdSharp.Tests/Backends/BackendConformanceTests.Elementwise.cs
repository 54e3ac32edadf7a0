using BigBirdSharp.Backends;
using BigBirdSharp.Kernels;
using BigBirdSharp.Tests.Kernels;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace BigBirdSharp.Tests.Backends;

// LayerNorm(x + residual), EmbeddingSum, Copy and the head permutes against the scalar reference.
public abstract partial class BackendConformanceTests
{
    public static TheoryData<int> PositiveLengths() => new(Lengths.Where(n => n > 0));

    /// <summary>
    /// LayerNorm(x [+ residual]) on rows of <paramref name="cols"/>. The residual sum is formed in fp32 first, as torch
    /// does. Tolerance from NormalizationTests: the normalised value carries a few ulp of max(|z|, 1) from the mean and
    /// variance roundings, gamma scales it and beta adds an ulp of itself: 1e-6·(2|gamma| + |beta|) + 1e-6·|expected|.
    /// </summary>
    private void CheckLayerNorm(int rows, int cols, bool withResidual, bool inPlace, float eps, double mean, double std, int seed,
                                bool intoResidual = false)
    {
        var rng = new System.Random(seed);
        float[] x = KernelTestData.Normal(rng, rows * cols, mean, std);
        float[] residual = withResidual ? KernelTestData.Normal(rng, rows * cols, 0, std) : [];
        float[] gamma = KernelTestData.Normal(rng, cols, 1, 0.5);
        float[] beta = KernelTestData.Normal(rng, cols, 0, 0.5);
        float[] sum = withResidual ? x.Zip(residual, (a, b) => a + b).ToArray() : x;
        double[] expected = ScalarReference.LayerNorm(sum, gamma, beta, rows, cols, eps);

        using var xBuffer = Writable(x);
        using var residualBuffer = intoResidual ? Writable(residual) : Backend.Upload(residual);
        using var gammaBuffer = Backend.Upload(gamma);
        using var betaBuffer = Backend.Upload(beta);
        using var yBuffer = Filled(rows * cols, float.NaN);
        var y = intoResidual ? residualBuffer.All : inPlace ? xBuffer.All : yBuffer.All;
        Backend.LayerNorm(y, xBuffer.All, withResidual ? residualBuffer.All : DeviceSpan.Empty, gammaBuffer.All, betaBuffer.All, rows, cols, eps);

        var actual = Download(y);
        for (int i = 0; i < actual.Length; i++)
        {
            int j = i % cols;
            KernelTestData.AssertClose(expected[i], actual[i], 1e-6 * (2 * Math.Abs(gamma[j]) + Math.Abs(beta[j])), 1e-6,
                $"LayerNorm rows={rows} cols={cols} residual={withResidual} inPlace={inPlace} eps={eps}: [{i / cols},{j}]");
        }
        if (!inPlace) AssertBitwise(x, Download(xBuffer), "x after LayerNorm into another buffer");
    }

    [Theory]
    [MemberData(nameof(PositiveLengths))]
    public void LayerNorm_may_write_over_its_residual(int cols)
    {
        // the model's layers update their hidden states in place: y = LayerNorm(dense + y)
        CheckLayerNorm(3, cols, withResidual: true, inPlace: false, 1e-12f, 0, 1, cols * 7 + 5, intoResidual: true);
    }

    [Theory]
    [MemberData(nameof(PositiveLengths))]
    public void LayerNorm_matches_double_with_and_without_residual_in_place_or_not(int cols)
    {
        foreach (bool withResidual in new[] { false, true })
            foreach (bool inPlace in new[] { false, true })
                CheckLayerNorm(3, cols, withResidual, inPlace, 1e-12f, 0, 1, cols * 4 + (withResidual ? 2 : 0) + (inPlace ? 1 : 0));
    }

    [Fact]
    public void LayerNorm_adds_eps_inside_the_root_and_survives_a_large_offset()
    {
        // a spread of 0.3 against eps 0.25: eps outside the root, or dropped, misses by far more than the tolerance
        CheckLayerNorm(4, 33, withResidual: false, inPlace: false, eps: 0.25f, mean: 0, std: 0.3, seed: 1);
        CheckLayerNorm(4, 33, withResidual: true, inPlace: true, eps: 0.25f, mean: 0, std: 0.3, seed: 2);
        // a large mean against a small spread needs a two-pass (or compensated) variance
        CheckLayerNorm(2, 768, withResidual: false, inPlace: false, eps: 1e-12f, mean: 30, std: 0.1, seed: 3);
        CheckLayerNorm(1, 1, withResidual: true, inPlace: false, eps: 1e-12f, mean: 0, std: 1, seed: 4);
    }

    [Property(MaxTest = 25)]
    public void LayerNorm_matches_double_on_random_shapes(int seed)
    {
        var rng = new System.Random(seed);
        CheckLayerNorm(1 + rng.Next(6), 1 + rng.Next(300), rng.Next(2) == 0, rng.Next(2) == 0, rng.Next(2) == 0 ? 1e-12f : 1e-5f,
                       rng.NextDouble() * 10 - 5, 0.1 + rng.NextDouble() * 3, seed);
    }

    [Fact]
    public void Small_cases_worked_by_hand()
    {
        // LayerNorm([1, 3]) with gamma 1, beta 0, eps 0: mean 2, variance 1, so [-1, 1] exactly
        using var x = Writable([1f, 3f]);
        using var ones = Writable([1f, 1f]);
        using var zeros = Writable([0f, 0f]);
        using var y = Backend.Allocate(2);
        Backend.LayerNorm(y.All, x.All, DeviceSpan.Empty, ones.All, zeros.All, 1, 2, 0f);
        AssertClose([-1.0, 1.0], Download(y), 1e-6, 0, "LayerNorm([1, 3])"); // an approximate rsqrt may miss by an ulp
        // with the residual [1, -1]: LayerNorm([2, 2]) is beta, here [0, 0]
        using var residual = Writable([1f, -1f]);
        Backend.LayerNorm(y.All, x.All, residual.All, ones.All, zeros.All, 1, 2, 1e-5f);
        AssertBitwise([0f, 0f], Download(y), "LayerNorm([1, 3] + [1, -1])");
        // relu6 clips both ways
        using var r = Writable([-1f, 7f, 2.5f]);
        Backend.Activate(r.All, ActivationKind.Relu6);
        AssertBitwise([0f, 6f, 2.5f], Download(r), "relu6");
        // Linear [1, 2]·[[1, 0], [0.5, -1]]ᵀ + [10, 20] = [11, 20.5 - 2] = [11, 18.5]
        var weight = Backend.BindLinear(new float[] { 1f, 0f, 0.5f, -1f }, new float[] { 10f, 20f }, 2, 2);
        using var xl = Writable([1f, 2f]);
        using var yl = Backend.Allocate(2);
        Backend.Linear(yl.All, xl.All, weight, 1);
        AssertBitwise([11f, 18.5f], Download(yl), "Linear");
        // attention over two keys with equal scores averages the values; a padded key gets nothing
        using var q = Writable([1f, 1f]);
        using var k = Writable([1f, 0f, 0f, 1f, 5f, 5f]);
        using var v = Writable([2f, 4f, 6f, 8f, 100f, 100f]);
        using var mask = Writable([0f, 0f, float.MinValue]);
        using var context = Backend.Allocate(2);
        using var probs = Backend.Allocate(3);
        Backend.FullAttention(context.All, q.All, k.All, v.All, new FullAttentionArgs
        {
            Batch = 1, Heads = 1, Seq = 1, HeadDim = 2, Keys = 3, KeyStride = 3, Mask = mask.All, CausalOffset = -1, Probs = probs.All,
        });
        AssertClose([0.5, 0.5, 0.0], Download(probs), 1e-7, 0, "attention probabilities");
        AssertClose([4.0, 6.0], Download(context), 1e-6, 0, "attention context");
    }

    [Fact]
    public void LayerNorm_rejects_views_that_do_not_fit()
    {
        using var six = Writable(Normal(1, 6));
        using var seven = Writable(Normal(2, 7));
        using var three = Writable(Normal(3, 3));
        using var two = Writable(Normal(4, 2));
        using var y = Backend.Allocate(6);
        var none = DeviceSpan.Empty;
        Assert.ThrowsAny<ArgumentException>(() => Backend.LayerNorm(y.All, seven.All, none, three.All, three.All, 2, 3, 1e-5f));
        Assert.ThrowsAny<ArgumentException>(() => Backend.LayerNorm(seven.All, six.All, none, three.All, three.All, 2, 3, 1e-5f));
        Assert.ThrowsAny<ArgumentException>(() => Backend.LayerNorm(y.All, six.All, none, two.All, three.All, 2, 3, 1e-5f));
        Assert.ThrowsAny<ArgumentException>(() => Backend.LayerNorm(y.All, six.All, none, three.All, two.All, 2, 3, 1e-5f));
        Assert.ThrowsAny<ArgumentException>(() => Backend.LayerNorm(y.All, six.All, seven.All, three.All, three.All, 2, 3, 1e-5f));
    }

    /// <summary>
    /// word·wordScale + token_type + position, rows picked by ids or given as inputs_embeds. The fp32 sum rounds at most
    /// three times (scale, two adds): |error| ≤ 3·2⁻²⁴·(|word·scale| + |type| + |position|).
    /// </summary>
    private void CheckEmbeddingSum(int hidden, int rows, bool byIds, float wordScale, int seed)
    {
        const int vocab = 11, types = 3, positions = 40;
        var rng = new System.Random(seed);
        float[] wordTable = KernelTestData.Normal(rng, vocab * hidden, 0, 1);
        float[] typeTable = KernelTestData.Normal(rng, types * hidden, 0, 1);
        float[] positionTable = KernelTestData.Normal(rng, positions * hidden, 0, 1);
        float[] embeds = KernelTestData.Normal(rng, rows * hidden, 0, 1);
        int[] ids = Enumerable.Range(0, rows).Select(_ => rng.Next(vocab)).ToArray();
        int[] typeIds = Enumerable.Range(0, rows).Select(_ => rng.Next(types)).ToArray();
        int[] positionIds = Enumerable.Range(0, rows).Select(_ => rng.Next(positions)).ToArray();
        if (rows > 0) (ids[0], typeIds[0], positionIds[0]) = (vocab - 1, types - 1, positions - 1); // the last row of each table

        using var words = Backend.Upload(wordTable);
        using var typesBuffer = Backend.Upload(typeTable);
        using var positionsBuffer = Backend.Upload(positionTable);
        using var embedsBuffer = Backend.Upload(embeds);
        using var y = Filled(rows * hidden, float.NaN);
        Backend.EmbeddingSum(y.All, hidden, byIds ? words.All : DeviceSpan.Empty, byIds ? ids : [], byIds ? DeviceSpan.Empty : embedsBuffer.All,
                             wordScale, typesBuffer.All, typeIds, positionsBuffer.All, positionIds);
        var actual = Download(y);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < hidden; j++)
            {
                double word = (double)(byIds ? wordTable[ids[r] * hidden + j] : embeds[r * hidden + j]) * wordScale;
                double type = typeTable[typeIds[r] * hidden + j], position = positionTable[positionIds[r] * hidden + j];
                double bound = 3 * Math.Pow(2, -24) * (Math.Abs(word) + Math.Abs(type) + Math.Abs(position));
                KernelTestData.AssertClose(word + type + position, actual[r * hidden + j], bound, 0,
                    $"EmbeddingSum hidden={hidden} byIds={byIds} scale={wordScale}: [{r},{j}]");
            }
    }

    [Theory]
    [MemberData(nameof(PositiveLengths))]
    public void EmbeddingSum_adds_word_type_and_position_rows(int hidden)
    {
        CheckEmbeddingSum(hidden, 5, byIds: true, wordScale: 1f, seed: hidden);
        CheckEmbeddingSum(hidden, 5, byIds: true, wordScale: MathF.Sqrt(hidden), seed: hidden + 1);
        CheckEmbeddingSum(hidden, 4, byIds: false, wordScale: 1f, seed: hidden + 2);
        CheckEmbeddingSum(hidden, 3, byIds: false, wordScale: 0.37f, seed: hidden + 3);
    }

    [Fact]
    public void EmbeddingSum_rejects_ids_outside_their_tables_and_lengths_that_disagree()
    {
        const int hidden = 4;
        using var words = Writable(Normal(1, 5 * hidden));
        using var types = Writable(Normal(2, 2 * hidden));
        using var positions = Writable(Normal(3, 6 * hidden));
        using var embeds = Writable(Normal(4, 2 * hidden));
        using var y = Backend.Allocate(2 * hidden);
        void Run(int[] ids, int[] typeIds, int[] positionIds, DeviceSpan inputsEmbeds = default) =>
            Backend.EmbeddingSum(y.All, hidden, words.All, ids, inputsEmbeds, 1f, types.All, typeIds, positions.All, positionIds);

        Run([4, 0], [1, 0], [5, 0]); // the last row of every table is fine
        Assert.ThrowsAny<ArgumentException>(() => Run([5, 0], [0, 0], [0, 1]));
        Assert.ThrowsAny<ArgumentException>(() => Run([-1, 0], [0, 0], [0, 1]));
        Assert.ThrowsAny<ArgumentException>(() => Run([0, 0], [2, 0], [0, 1]));
        Assert.ThrowsAny<ArgumentException>(() => Run([0, 0], [0, -1], [0, 1]));
        Assert.ThrowsAny<ArgumentException>(() => Run([0, 0], [0, 0], [0, 6]));
        Assert.ThrowsAny<ArgumentException>(() => Run([0, 0], [0, 0], [-3, 1]));
        Assert.ThrowsAny<ArgumentException>(() => Run([0], [0, 0], [0, 1]));        // ids shorter than the rows
        Assert.ThrowsAny<ArgumentException>(() => Run([0, 0], [0, 0], [0]));        // positions shorter
        Assert.ThrowsAny<ArgumentException>(() => Run([0, 0, 0], [0, 0, 0], [0, 1, 2])); // three rows into a [2, hidden] output
        Assert.ThrowsAny<ArgumentException>(() => Run([], [0, 0], [0, 1], embeds.Slice(0, hidden))); // embeds of one row for two
        Run([], [0, 1], [0, 1], embeds.All);
        Assert.ThrowsAny<ArgumentException>(() =>
            Backend.EmbeddingSum(y.All, 0, words.All, [0, 0], default, 1f, types.All, [0, 0], positions.All, [0, 1])); // hidden 0
    }

    [Theory]
    [MemberData(nameof(PositiveLengths))]
    public void Add_sums_elementwise_into_a_new_buffer_or_either_operand(int length)
    {
        // one fp32 addition per element, as torch's residual + hidden_states: exact to the bit
        float[] a = Normal(length * 3 + 1, length), b = Normal(length * 3 + 2, length, std: 10);
        var expected = a.Zip(b, (x, y) => x + y).ToArray();
        using var left = Writable(a);
        using var right = Writable(b);
        using var y = Filled(length, float.NaN);
        Backend.Add(y.All, left.All, right.All);
        AssertBitwise(expected, Download(y), $"Add into a new buffer, length {length}");
        AssertBitwise(a, Download(left), "a after Add into another buffer");
        Backend.Add(right.All, left.All, right.All);
        AssertBitwise(expected, Download(right), $"Add into b, length {length}");
        Backend.Add(left.All, left.All, y.All);
        AssertBitwise(a.Zip(expected, (x, e) => x + e).ToArray(), Download(left), $"Add into a, length {length}");
    }

    [Fact]
    public void Add_rejects_views_of_different_lengths_and_views_of_another_backend()
    {
        using var a = Writable(Normal(3, 8));
        using var b = Writable(Normal(4, 8));
        using var foreign = ForeignBackend.Instance.Allocate(8);
        Assert.ThrowsAny<ArgumentException>(() => Backend.Add(a.All, a.All, b.Slice(0, 7)));
        Assert.ThrowsAny<ArgumentException>(() => Backend.Add(a.Slice(0, 7), a.Slice(0, 7), b.All));
        Assert.ThrowsAny<ArgumentException>(() => Backend.Add(a.All, foreign.All, b.All));
    }

    [Fact]
    public void Copy_moves_strided_rows_and_nothing_else()
    {
        float[] src = Enumerable.Range(1, 40).Select(i => (float)i).ToArray();
        using var source = Writable(src);
        foreach (var (rows, rowLength, srcStride, dstStride) in new[] { (3, 4, 5, 7), (4, 5, 5, 5), (1, 17, 17, 33), (5, 3, 0, 4), (2, 0, 3, 2), (0, 5, 5, 5) })
        {
            int dstLength = rows == 0 ? 9 : (rows - 1) * dstStride + rowLength + 2;
            using var destination = Filled(dstLength, -1f);
            Backend.Copy(destination.Slice(1, dstLength - 1), dstStride, source.Slice(2, 38), srcStride, rows, rowLength);
            var expected = Enumerable.Repeat(-1f, dstLength).ToArray();
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < rowLength; j++)
                    expected[1 + r * dstStride + j] = src[2 + r * srcStride + j];
            AssertBitwise(expected, Download(destination), $"Copy rows={rows} len={rowLength} strides src {srcStride} dst {dstStride}");
        }
    }

    [Fact]
    public void Copy_rejects_rows_outside_their_views()
    {
        using var src = Writable(Normal(1, 20));
        using var dst = Filled(20, 5f);
        Assert.ThrowsAny<ArgumentException>(() => Backend.Copy(dst.All, 5, src.All, 5, 5, 5));          // both overrun by a row
        Assert.ThrowsAny<ArgumentException>(() => Backend.Copy(dst.Slice(0, 19), 5, src.All, 5, 4, 5)); // the last dst row overruns by one
        Assert.ThrowsAny<ArgumentException>(() => Backend.Copy(dst.All, 5, src.Slice(1, 19), 5, 4, 5)); // the last src row overruns by one
        Assert.ThrowsAny<ArgumentException>(() => Backend.Copy(dst.All, 5, src.All, 0, 4, 21));        // a broadcast row longer than src
        Assert.ThrowsAny<ArgumentException>(() => Backend.Copy(dst.All, 3, src.All, 5, 2, 4));          // dst rows would overlap
        Assert.ThrowsAny<ArgumentException>(() => Backend.Copy(dst.All, 5, src.All, 3, 2, 4));          // src stride shorter than a row
        Assert.ThrowsAny<ArgumentException>(() => Backend.Copy(dst.All, 5, src.All, 5, -1, 4));
        Assert.ThrowsAny<ArgumentException>(() => Backend.Copy(dst.All, 5, src.All, 5, 2, -1));
        AssertBitwise(Enumerable.Repeat(5f, 20).ToArray(), Download(dst), "dst after refused copies");
    }

    /// <summary>transpose_for_scores by its index formula: dst[b, h, t, x] = src[b, t, h·d + x]; merge is the inverse, bit for bit.</summary>
    private void CheckHeads(int batch, int seq, int heads, int d, int seed)
    {
        int n = batch * seq * heads * d;
        float[] src = Normal(seed, n);
        using var source = Writable(src);
        using var split = Filled(n, float.NaN);
        using var merged = Filled(n, float.NaN);
        Backend.SplitHeads(split.All, source.All, batch, seq, heads, d);
        var actual = Download(split);
        var expected = new float[n];
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < seq; t++)
                for (int h = 0; h < heads; h++)
                    for (int x = 0; x < d; x++)
                        expected[((b * heads + h) * seq + t) * d + x] = src[((b * seq + t) * heads + h) * d + x];
        AssertBitwise(expected, actual, $"SplitHeads [{batch}, {seq}, {heads}, {d}]");
        Backend.MergeHeads(merged.All, split.All, batch, seq, heads, d);
        AssertBitwise(src, Download(merged), $"MergeHeads(SplitHeads) [{batch}, {seq}, {heads}, {d}]");
        // and merge alone by its own formula, on data that is not a split
        Backend.MergeHeads(merged.All, source.All, batch, seq, heads, d);
        var mergedActual = Download(merged);
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int t = 0; t < seq; t++)
                    for (int x = 0; x < d; x++)
                        expected[((b * seq + t) * heads + h) * d + x] = src[((b * heads + h) * seq + t) * d + x];
        AssertBitwise(expected, mergedActual, $"MergeHeads [{batch}, {seq}, {heads}, {d}]");
    }

    [Theory]
    [MemberData(nameof(PositiveLengths))]
    public void Split_and_merge_heads_follow_the_index_formula(int n)
    {
        CheckHeads(2, n, 3, 5, n);
        CheckHeads(1, 3, 2, n, n + 1);
        CheckHeads(3, 2, Math.Min(n, 20), 4, n + 2);
    }

    [Property(MaxTest = 30)]
    public Property Merge_undoes_split_on_random_shapes(PositiveInt batch, PositiveInt seq, PositiveInt heads, PositiveInt d, int seed)
    {
        int b = 1 + batch.Get % 3, s = 1 + seq.Get % 40, h = 1 + heads.Get % 6, x = 1 + d.Get % 20;
        CheckHeads(b, s, h, x, seed);
        return true.ToProperty();
    }

    [Fact]
    public void Head_permutes_reject_views_that_do_not_fit()
    {
        using var a = Writable(Normal(1, 24));
        using var b = Backend.Allocate(24);
        using var c = Backend.Allocate(25);
        Assert.ThrowsAny<ArgumentException>(() => Backend.SplitHeads(c.All, a.All, 1, 4, 2, 3));
        Assert.ThrowsAny<ArgumentException>(() => Backend.SplitHeads(b.All, a.All, 1, 4, 2, 4));
        Assert.ThrowsAny<ArgumentException>(() => Backend.MergeHeads(b.All, c.All, 1, 4, 2, 3));
        Assert.ThrowsAny<ArgumentException>(() => Backend.MergeHeads(b.All, a.All, -1, -4, 2, 3));
    }
}
