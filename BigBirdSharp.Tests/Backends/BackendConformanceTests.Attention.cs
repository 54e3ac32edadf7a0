using BigBirdSharp.Backends;
using BigBirdSharp.RandomAttention;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace BigBirdSharp.Tests.Backends;

// FullAttention and BlockSparseAttention against dense double references.
public abstract partial class BackendConformanceTests
{
    /// <summary>
    /// Attention tolerance. With q, k, v in [-1, 1] and head_dim ≤ 17, a score's fp32 error is at most
    /// (d + 4)·2⁻²⁴·Σ|q·k|/√d ≲ 5e-6 (typically 1e-7); the softmax turns an absolute score error ε into a relative
    /// probability error ≤ 2ε, exp and the row sum add a few ulp, and context = Σ p·v with |v| ≤ 1 inherits it absolutely:
    /// |a − b| ≤ 2e-5 + 1e-4·|b| for context and 1e-6 + 1e-4·|b| for probabilities (1e-4 relative, the project's default).
    /// </summary>
    private const double ContextAbs = 2e-5, ProbsAbs = 1e-6, AttentionRel = 1e-4;

    private sealed record FullCase(int Batch, int Heads, int Seq, int HeadDim, int Keys, int KeyStride, int CausalOffset,
                                   bool HeadMask, bool Probs, double MaskedFraction, bool MaskWholeFirstRow);

    private void CheckFullAttention(FullCase c, int seed)
    {
        var rng = new System.Random(seed);
        int n = c.Batch * c.Heads * c.Seq * c.HeadDim, stored = c.Batch * c.Heads * c.KeyStride * c.HeadDim;
        float[] q = Uniform(seed, n), k = Uniform(seed + 1, stored), v = Uniform(seed + 2, stored);
        // rows past Keys (a cache's free capacity) hold NaN: reading them would poison every output
        for (int bh = 0; bh < c.Batch * c.Heads; bh++)
            for (int j = c.Keys; j < c.KeyStride; j++)
                for (int x = 0; x < c.HeadDim; x++)
                    k[(bh * c.KeyStride + j) * c.HeadDim + x] = v[(bh * c.KeyStride + j) * c.HeadDim + x] = float.NaN;
        var mask = new float[c.Batch * c.Keys];
        for (int i = 0; i < mask.Length; i++)
            mask[i] = (c.MaskWholeFirstRow && i < c.Keys) || rng.NextDouble() < c.MaskedFraction ? float.MinValue : 0f;
        float[]? headMask = c.HeadMask ? Enumerable.Range(0, c.Heads).Select(h => h % 3 == 0 ? 0.5f : h % 3 == 1 ? 0f : 1.25f).ToArray() : null;

        // query and context are views at offsets inside larger buffers, whose other contents must survive
        using var query = Backend.Upload((float[])[0.5f, -0.5f, .. q]);
        using var key = Backend.Upload(k);
        using var value = Backend.Upload(v);
        using var maskBuffer = Backend.Upload(mask);
        using var context = Filled(n + 5, float.NaN);
        using var probs = Filled(c.Probs ? c.Batch * c.Heads * c.Seq * c.Keys : 0, float.NaN);
        Backend.FullAttention(context.Slice(2, n), query.Slice(2, n), key.All, value.All, new FullAttentionArgs
        {
            Batch = c.Batch, Heads = c.Heads, Seq = c.Seq, HeadDim = c.HeadDim, Keys = c.Keys, KeyStride = c.KeyStride,
            Mask = maskBuffer.All, CausalOffset = c.CausalOffset, HeadMask = headMask, Probs = c.Probs ? probs.All : DeviceSpan.Empty,
        });

        var (expectedContext, expectedProbs) = ScalarReference.FullAttention(q, k, v, mask, headMask, c.Batch, c.Heads, c.Seq, c.HeadDim,
                                                                            c.Keys, c.KeyStride, c.CausalOffset);
        var all = Download(context);
        Assert.True(all.Take(2).Concat(all.Skip(n + 2)).All(float.IsNaN), $"{c}: FullAttention wrote outside its context view");
        AssertClose(expectedContext, all.AsSpan(2, n), ContextAbs, AttentionRel, $"{c} context");
        if (c.Probs) AssertClose(expectedProbs, Download(probs), ProbsAbs, AttentionRel, $"{c} probs");
    }

    public static TheoryData<int, int, int, int, int, int, int, bool, bool> FullAttentionCases() => new()
    {
        // batch, heads, seq, head_dim, keys, key_stride, causal_offset, head_mask, probs
        { 1, 1, 1, 1, 1, 1, -1, false, true },
        { 2, 3, 7, 8, 7, 7, -1, false, true },
        { 2, 2, 9, 17, 9, 9, 0, false, true },       // causal, as in a decoder's first pass
        { 1, 2, 3, 5, 8, 11, 5, false, true },       // three new tokens after five cached ones, in a cache of eleven
        { 2, 1, 1, 16, 15, 33, 14, false, false },   // one decoding step
        { 2, 4, 5, 3, 5, 5, -1, true, true },        // head_mask (0.5, 0, 1.25, 0.5) scales the returned probabilities
        { 1, 2, 65, 8, 65, 65, -1, false, true },    // crosses a 64-query chunk
        { 2, 2, 129, 7, 129, 129, 0, true, false },
        { 1, 1, 31, 9, 63, 63, 32, false, true },
        { 3, 2, 0, 4, 4, 4, -1, false, true },       // no queries
    };

    [Theory]
    [MemberData(nameof(FullAttentionCases))]
    public void Full_attention_matches_a_dense_double_softmax(int batch, int heads, int seq, int d, int keys, int keyStride, int causalOffset,
                                                              bool headMask, bool probs)
    {
        int seed = batch * 7 + heads * 31 + seq * 101 + d + keys * 13 + keyStride;
        CheckFullAttention(new FullCase(batch, heads, seq, d, keys, keyStride, causalOffset, headMask, probs, 0.3, false), seed);
        // a batch row whose keys are all padding: HF adds finfo.min to every score and gets a uniform softmax
        CheckFullAttention(new FullCase(batch, heads, seq, d, keys, keyStride, causalOffset, headMask, probs, 0.0, true), seed + 1);
    }

    [Property(MaxTest = 25)]
    public void Full_attention_matches_a_dense_double_softmax_on_random_shapes(int seed)
    {
        var rng = new System.Random(seed);
        int seq = rng.Next(1, 20), keys = rng.Next(1, 30), past = rng.Next(0, 10);
        bool causal = rng.Next(2) == 0;
        if (causal) keys = past + seq;
        CheckFullAttention(new FullCase(rng.Next(1, 4), rng.Next(1, 5), seq, rng.Next(1, 18), keys, keys + rng.Next(0, 5), causal ? past : -1,
                                        rng.Next(2) == 0, rng.Next(2) == 0, rng.NextDouble() * 0.6, false), seed);
    }

    [Fact]
    public void Full_attention_rejects_views_that_do_not_fit()
    {
        const int batch = 2, heads = 2, seq = 3, d = 4, keys = 5;
        using var q = Writable(Uniform(1, batch * heads * seq * d));
        using var kv = Writable(Uniform(2, batch * heads * keys * d));
        using var mask = Writable(new float[batch * keys]);
        using var context = Backend.Allocate(batch * heads * seq * d);
        using var probs = Backend.Allocate(batch * heads * seq * keys);
        var args = new FullAttentionArgs
        {
            Batch = batch, Heads = heads, Seq = seq, HeadDim = d, Keys = keys, KeyStride = keys, Mask = mask.All, CausalOffset = -1, Probs = probs.All,
        };
        Backend.FullAttention(context.All, q.All, kv.All, kv.All, args); // the valid call
        Assert.ThrowsAny<ArgumentException>(() => Backend.FullAttention(context.All, q.All, kv.All, kv.All, args with { KeyStride = keys - 1 }));
        Assert.ThrowsAny<ArgumentException>(() => Backend.FullAttention(context.All, q.All, kv.All, kv.All, args with { KeyStride = keys + 1 }));
        Assert.ThrowsAny<ArgumentException>(() => Backend.FullAttention(context.All, q.All, kv.All, kv.All, args with { Mask = mask.Slice(1, batch * keys - 1) }));
        Assert.ThrowsAny<ArgumentException>(() => Backend.FullAttention(context.All, q.All, kv.All, kv.All, args with { Probs = probs.Slice(0, 7) }));
        Assert.ThrowsAny<ArgumentException>(() => Backend.FullAttention(context.All, q.All, kv.All, kv.All, args with { HeadMask = new float[3] }));
        Assert.ThrowsAny<ArgumentException>(() => Backend.FullAttention(context.Slice(1, 47), q.All, kv.All, kv.All, args));
        Assert.ThrowsAny<ArgumentException>(() => Backend.FullAttention(context.All, q.All, kv.Slice(0, 79), kv.All, args));
        Assert.ThrowsAny<ArgumentException>(() => Backend.FullAttention(context.All, q.All, kv.All, kv.Slice(1, 79), args));
        Assert.ThrowsAny<ArgumentException>(() => Backend.FullAttention(context.All, q.All, kv.All, kv.All, args with { Heads = 3 }));
        Assert.ThrowsAny<ArgumentException>(() => Backend.FullAttention(context.All, q.All, kv.All, kv.All, args with { Keys = 0, KeyStride = 0 }));
    }

    /// <summary>
    /// One layer of block-sparse attention against <see cref="ScalarReference.BlockSparseAttention"/>. Token 0 of every row is
    /// attended (as [CLS] is), so no query row has every key penalised: such a row's softmax would run on fp32 scores
    /// rounded to ulp(10000) ≈ 1e-3, which no double reference reproduces to 1e-4. Other tokens are padding with
    /// probability <paramref name="maskedFraction"/>; padded query rows exercise from_mask and HF's overwrite order.
    /// </summary>
    private string? CheckBlockSparse(int batch, int heads, int numBlocks, int block, int d, int r, int[] randAttn, double maskedFraction, int seed,
                                     bool withProbs = true, bool staleProbs = false)
    {
        var rng = new System.Random(seed);
        int seq = numBlocks * block, n = batch * heads * seq * d;
        float[] q = Uniform(seed, n), k = Uniform(seed + 1, n), v = Uniform(seed + 2, n);
        var mask = new float[batch * seq];
        for (int i = 0; i < mask.Length; i++) mask[i] = i % seq == 0 || rng.NextDouble() >= maskedFraction ? 1f : 0f;

        using var query = Backend.Upload(q);
        using var key = Backend.Upload(k);
        using var value = Backend.Upload(v);
        using var maskBuffer = Backend.Upload(mask);
        using var context = Filled(n, float.NaN);
        // HF's rebuilt map starts as torch.zeros; the model hands the backend a freshly allocated (zeroed) buffer, and
        // whether a backend must also clear a dirty one is Block_sparse_probabilities_do_not_keep_stale_contents' question
        using var probs = staleProbs ? Filled(withProbs ? batch * heads * seq * seq : 0, float.NaN) : Backend.Allocate(withProbs ? batch * heads * seq * seq : 0);
        Backend.BlockSparseAttention(context.All, query.All, key.All, value.All, new BlockSparseAttentionArgs
        {
            Batch = batch, Heads = heads, Seq = seq, HeadDim = d, Plan = AttentionPlan.BlockSparse(block, r, randAttn),
            Mask = maskBuffer.All, Probs = withProbs ? probs.All : DeviceSpan.Empty,
        });
        var (expectedContext, expectedProbs) = ScalarReference.BlockSparseAttention(q, k, v, mask, randAttn, batch, heads, seq, d, block, r);
        var what = $"block-sparse batch={batch} heads={heads} blocks={numBlocks}×{block} d={d} r={r}";
        var actualContext = Download(context);
        for (int i = 0; i < n; i++)
            if (!Tolerance.Close(actualContext[i], (float)expectedContext[i], ContextAbs, AttentionRel))
                return $"{what}: context[{i}] = {actualContext[i]}, dense reference {expectedContext[i]}";
        if (!withProbs) return null;
        var actualProbs = Download(probs);
        for (int i = 0; i < actualProbs.Length; i++)
            if (!Tolerance.Close(actualProbs[i], (float)expectedProbs[i], ProbsAbs, AttentionRel))
                return $"{what}: attention_probs[{i}] (query {i / seq % seq}, key {i % seq}) = {actualProbs[i]}, dense reference {expectedProbs[i]}";
        return null;
    }

    private static int[] RandAttn(RandomAttentionSemantics semantics, int layer, int seq, int block, int r, int heads) =>
        BigBirdRandomAttention.GetRandAttn(semantics, layer, seq, seq, block, block, r, heads, Math.Max(seq, 64));

    [Property(MaxTest = 25)]
    public Property Block_sparse_attention_equals_dense_attention_under_the_bigbird_mask(int seed, bool seeded)
    {
        var rng = new System.Random(seed);
        int heads = rng.Next(1, 4), d = rng.Next(1, 10), block = rng.Next(1, 5), r = rng.Next(0, 4), batch = rng.Next(1, 4);
        int numBlocks = 6 + 2 * r + rng.Next(0, 6);
        if (BigBirdRandomAttention.IsOldPlanLength(numBlocks * block)) numBlocks++;
        var semantics = seeded ? RandomAttentionSemantics.Seeded : RandomAttentionSemantics.Deterministic;
        int[] randAttn = RandAttn(semantics, rng.Next(0, 4), numBlocks * block, block, r, heads);
        string? failure = CheckBlockSparse(batch, heads, numBlocks, block, d, r, randAttn, 0.25, seed, withProbs: rng.Next(4) != 0);
        return (failure is null).Label(failure ?? "");
    }

    public static TheoryData<int, int, int, int, int, int> BlockSparseGeometries() => new()
    {
        // batch, heads, blocks, block, head_dim, random blocks
        // (HF's random plan needs more than 5 + 2·r blocks, below which the model falls back to full attention)
        { 1, 1, 8, 1, 1, 1 },
        { 2, 2, 10, 3, 8, 2 },
        { 3, 1, 12, 4, 16, 3 },
        { 2, 4, 8, 8, 7, 1 },
        { 1, 2, 13, 2, 9, 0 },
        { 2, 1, 16, 16, 17, 3 },
    };

    [Theory]
    [MemberData(nameof(BlockSparseGeometries))]
    public void Block_sparse_attention_matches_the_reference_under_both_plans(int batch, int heads, int numBlocks, int block, int d, int r)
    {
        foreach (var semantics in new[] { RandomAttentionSemantics.Seeded, RandomAttentionSemantics.Deterministic })
            foreach (int layer in new[] { 0, 3 })
            {
                int[] randAttn = RandAttn(semantics, layer, numBlocks * block, block, r, heads);
                string? failure = CheckBlockSparse(batch, heads, numBlocks, block, d, r, randAttn, 0.3, numBlocks * 100 + block * 10 + d + layer);
                Assert.True(failure is null, $"{semantics} layer {layer}: {failure}");
            }
    }

    [Fact]
    public void Block_sparse_attention_takes_any_valid_plan_including_the_shortest_sequences()
    {
        // hand-made plans: random blocks that repeat, and that land on the band, the first and the last block, so the
        // dense map's overwrite order decides what is returned; four and five blocks have no or one middle block
        var rng = new System.Random(5);
        foreach (var (numBlocks, r) in new[] { (4, 0), (4, 2), (5, 1), (5, 3), (6, 2), (9, 4) })
        {
            const int heads = 2, block = 3;
            int[] randAttn = Enumerable.Range(0, heads * (numBlocks - 2) * r).Select(_ => rng.Next(numBlocks)).ToArray();
            string? failure = CheckBlockSparse(2, heads, numBlocks, block, 5, r, randAttn, 0.3, numBlocks * 10 + r);
            Assert.True(failure is null, $"plan [{string.Join(", ", randAttn)}]: {failure}");
        }
    }

    [Fact]
    public void Block_sparse_probabilities_keep_hfs_last_write_where_blocks_repeat()
    {
        // deterministic plan: every random block is block 0. A padded query row in a middle block attends key block 0
        // twice: once as the global first block (no from_mask penalty: a real probability) and once as a random block
        // (from_mask·to_mask = 0: −10000, probability 0). HF writes the random blocks last, so the map holds 0 there.
        const int heads = 1, block = 2, numBlocks = 8, r = 1, seq = numBlocks * block, d = 3;
        int[] randAttn = RandAttn(RandomAttentionSemantics.Deterministic, 0, seq, block, r, heads);
        Assert.All(randAttn, b => Assert.Equal(0, b));
        float[] q = Uniform(1, seq * d), k = Uniform(2, seq * d), v = Uniform(3, seq * d);
        var mask = Enumerable.Repeat(1f, seq).ToArray();
        const int padded = 4 * block + 1; // a middle block's second row
        mask[padded] = 0f;
        using var query = Backend.Upload(q);
        using var key = Backend.Upload(k);
        using var value = Backend.Upload(v);
        using var maskBuffer = Backend.Upload(mask);
        using var context = Filled(seq * d, float.NaN);
        using var probs = Backend.Allocate(seq * seq);
        Backend.BlockSparseAttention(context.All, query.All, key.All, value.All, new BlockSparseAttentionArgs
        {
            Batch = 1, Heads = heads, Seq = seq, HeadDim = d, Plan = AttentionPlan.BlockSparse(block, r, randAttn), Mask = maskBuffer.All,
            Probs = probs.All,
        });
        var p = Download(probs);
        var c = Download(context);
        Assert.Equal(new float[block], p.AsSpan(padded * seq, block).ToArray());         // the random write (0) won
        Assert.True(p[padded * seq + (numBlocks - 1) * block] > 0f, "the padded row still attends the last block");
        Assert.Equal(new float[d], c.AsSpan(padded * d, d).ToArray());                   // context_layer *= from_mask
        Assert.True(p[(padded - 1) * seq] > 0f && p[(padded + 1) * seq] > 0f, "unpadded rows keep block 0's probability");
        var (_, expected) = ScalarReference.BlockSparseAttention(q, k, v, mask, randAttn, 1, heads, seq, d, block, r);
        AssertClose(expected, p, ProbsAbs, AttentionRel, "attention_probs");
    }

    [Fact]
    public void Block_sparse_probabilities_do_not_keep_stale_contents()
    {
        // the map is HF's rebuilt attention_probs: zero wherever the BigBird mask attends nothing, whatever the buffer held before
        int[] randAttn = RandAttn(RandomAttentionSemantics.Seeded, 1, 10 * 2, 2, 1, 2);
        string? failure = CheckBlockSparse(2, 2, 10, 2, 4, 1, randAttn, 0.2, seed: 7, withProbs: true, staleProbs: true);
        Assert.True(failure is null, failure);
    }

    [Fact]
    public void Block_sparse_attention_rejects_an_invalid_plan_or_views()
    {
        const int heads = 2, block = 2, numBlocks = 8, r = 1, seq = numBlocks * block, d = 3, n = heads * seq * d;
        using var qkv = Writable(Uniform(1, n));
        using var mask = Filled(seq, 1f);
        using var context = Filled(n, 9f);
        int[] randAttn = RandAttn(RandomAttentionSemantics.Seeded, 0, seq, block, r, heads);
        var args = new BlockSparseAttentionArgs
        {
            Batch = 1, Heads = heads, Seq = seq, HeadDim = d, Plan = AttentionPlan.BlockSparse(block, r, randAttn), Mask = mask.All,
        };
        void Run(BlockSparseAttentionArgs a) => Backend.BlockSparseAttention(context.All, qkv.All, qkv.All, qkv.All, a);
        AttentionPlan Plan(int[]? rand, int blockSize = block) => args.Plan with { RandAttn = rand, BlockSize = blockSize };

        Assert.ThrowsAny<ArgumentException>(() => Run(args with { Plan = Plan(randAttn[..^1]) }));                 // rand_attn too short
        Assert.ThrowsAny<ArgumentException>(() => Run(args with { Plan = Plan([.. randAttn, 0]) }));               // too long
        Assert.ThrowsAny<ArgumentException>(() => Run(args with { Plan = Plan(null) }));
        Assert.ThrowsAny<ArgumentException>(() => Run(args with { Plan = Plan(randAttn.Select((b, i) => i == 3 ? numBlocks : b).ToArray()) }));
        Assert.ThrowsAny<ArgumentException>(() => Run(args with { Plan = Plan(randAttn.Select((b, i) => i == 0 ? -1 : b).ToArray()) }));
        Assert.ThrowsAny<ArgumentException>(() => Run(args with { Plan = Plan(new int[heads * (seq / 3 - 2) * r], 3) })); // 16 is not a multiple of 3
        Assert.ThrowsAny<ArgumentException>(() => Run(args with { Plan = Plan(randAttn, 0) }));
        Assert.ThrowsAny<ArgumentException>(() => Run(args with { Plan = Plan([], 8) }));                          // two blocks: too few
        Assert.ThrowsAny<ArgumentException>(() => Run(args with { Plan = AttentionPlan.Full }));
        Assert.ThrowsAny<ArgumentException>(() => Run(args with { Mask = mask.Slice(0, seq - 1) }));
        Assert.ThrowsAny<ArgumentException>(() => Run(args with { Probs = context.Slice(0, seq) }));
        Assert.ThrowsAny<ArgumentException>(() => Run(args with { Batch = 2 }));
        Assert.ThrowsAny<ArgumentException>(() => Run(args with { HeadDim = 0 }));
        AssertBitwise(Enumerable.Repeat(9f, n).ToArray(), Download(context), "context after refused calls");
        Run(args); // the valid call
    }

    [Fact]
    public void Concurrent_calls_on_one_backend_each_get_their_own_answer()
    {
        // a backend is shared by every model call: eight threads run different attention problems at once
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, t =>
        {
            for (int repeat = 0; repeat < 3; repeat++)
            {
                int numBlocks = 8 + t % 3, block = 1 + t % 4;
                int[] randAttn = RandAttn(RandomAttentionSemantics.Seeded, t, numBlocks * block, block, 1, 2);
                if (CheckBlockSparse(1 + t % 2, 2, numBlocks, block, 4 + t, 1, randAttn, 0.2, t * 10 + repeat) is { } failure) failures.Add(failure);
                try
                {
                    CheckFullAttention(new FullCase(1 + t % 2, 2, 3 + t, 5, 3 + t, 4 + t, t % 2 == 0 ? 0 : -1, false, true, 0.2, false), t + repeat);
                }
                catch (Exception e)
                {
                    failures.Add(e.Message);
                }
            }
        });
        Assert.Empty(failures);
    }
}
