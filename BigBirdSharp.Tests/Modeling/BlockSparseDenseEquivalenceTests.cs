using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;
using BigBirdSharp.RandomAttention;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace BigBirdSharp.Tests.Modeling;

/// <summary>
/// The gathered block-sparse kernel equals plain dense attention (a full [seq, seq] score matrix) under
/// the explicit BigBird mask built from the same random plan. The dense reference counts a key block
/// as many times as the plan lists it (the deterministic plan repeats block 0), adds −10000 where HF's
/// masks are 0, and zeroes padded query rows, as HF does.
/// </summary>
public sealed class BlockSparseDenseEquivalenceTests
{
    [Property(MaxTest = 60)]
    public Property Block_sparse_equals_dense_attention_under_the_bigbird_mask(int seed, bool seeded)
    {
        var rng = new System.Random(seed);
        int heads = rng.Next(1, 4), d = rng.Next(1, 9), block = rng.Next(1, 5), r = rng.Next(0, 4);
        int numBlocks = 6 + 2 * r + rng.Next(0, 6);
        if (numBlocks * block is 1024 or 3072 or 4096) numBlocks++;
        int seq = numBlocks * block, batch = rng.Next(1, 3);
        var config = new BigBirdConfig
        {
            HiddenSize = heads * d, NumAttentionHeads = heads, BlockSize = block, NumRandomBlocks = r,
            MaxPositionEmbeddings = Math.Max(seq, 64), IntermediateSize = 4, VocabSize = 8, NumHiddenLayers = 1,
        };
        var semantics = seeded ? RandomAttentionSemantics.Seeded : RandomAttentionSemantics.Deterministic;
        int layer = rng.Next(0, 4);
        int[] randAttn = BigBirdRandomAttention.GetRandAttn(semantics, layer, seq, seq, block, block, r, heads, config.MaxPositionEmbeddings);

        int n = batch * heads * seq * d;
        var state = new HostAttention(new float[n], new float[n], new float[n], new float[batch * seq]);
        Fill(rng, state.QueryLayer, 2f);
        Fill(rng, state.KeyLayer, 2f);
        Fill(rng, state.ValueLayer, 1f);
        for (int i = 0; i < batch * seq; i++) state.BlockMask[i] = rng.NextDouble() < 0.8 ? 1f : 0f;

        // the backend's one block-sparse operation for the whole layer
        var backend = CpuBackend.Instance;
        using var context_layer = backend.Allocate(n);
        using var probsBuffer = backend.Allocate(batch * heads * seq * seq);
        using var q = backend.Upload(state.QueryLayer);
        using var k = backend.Upload(state.KeyLayer);
        using var v = backend.Upload(state.ValueLayer);
        using var mask = backend.Upload(state.BlockMask);
        backend.BlockSparseAttention(context_layer.All, q.All, k.All, v.All, new BlockSparseAttentionArgs
        {
            Batch = batch, Heads = heads, Seq = seq, HeadDim = d, Plan = AttentionPlan.BlockSparse(block, r, randAttn),
            Mask = mask.All, Probs = probsBuffer.All,
        });
        var actual = new float[n];
        backend.Download(context_layer.All, actual);
        var probs = new float[batch * heads * seq * seq];
        backend.Download(probsBuffer.All, probs);

        var (context, dense) = DenseReference(state, config, randAttn, batch, seq);
        for (int i = 0; i < context.Length; i++)
            if (!Tolerance.Close(actual[i], context[i], 1e-5, 1e-4))
                return false.Label($"context[{i}] = {actual[i]}, dense reference {context[i]}");
        for (int i = 0; i < dense.Length; i++)
            if (!Tolerance.Close(probs[i], dense[i], 1e-6, 1e-4))
                return false.Label($"attention_probs[{i}] = {probs[i]}, dense reference {dense[i]}");
        return true.ToProperty();
    }

    private sealed record HostAttention(float[] QueryLayer, float[] KeyLayer, float[] ValueLayer, float[] BlockMask);

    private static void Fill(System.Random rng, float[] a, float scale)
    {
        for (int i = 0; i < a.Length; i++) a[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
    }

    /// <summary>The BigBird key blocks of query block qb, with the blocks whose mask also uses from_mask.</summary>
    private static List<(int Block, bool FromGated)> KeyBlocks(int qb, int nb, ReadOnlySpan<int> rand)
    {
        var list = new List<(int, bool)>();
        if (qb == 0 || qb == nb - 1)
        {
            for (int kb = 0; kb < nb; kb++) list.Add((kb, false));
            return list;
        }
        if (qb == 1) foreach (int kb in new[] { 0, 1, 2, nb - 1 }) list.Add((kb, false));
        else if (qb == nb - 2) foreach (int kb in new[] { 0, nb - 3, nb - 2, nb - 1 }) list.Add((kb, false));
        else
        {
            list.Add((0, false));
            list.Add((nb - 1, false));
            foreach (int kb in new[] { qb - 1, qb, qb + 1 }) list.Add((kb, true));
        }
        foreach (int kb in rand) list.Add((kb, true));
        return list;
    }

    private static (float[] Context, float[] Probs) DenseReference(HostAttention s, BigBirdConfig c, int[] randAttn, int batch, int seq)
    {
        int heads = c.NumAttentionHeads, d = c.AttentionHeadSize, block = c.BlockSize, r = c.NumRandomBlocks, nb = seq / block;
        var context = new float[batch * heads * seq * d];
        var probs = new float[batch * heads * seq * seq];
        double scale = 1.0 / Math.Sqrt(d);
        for (int b = 0; b < batch; b++)
        for (int h = 0; h < heads; h++)
        {
            int off = (b * heads + h) * seq * d;
            for (int i = 0; i < seq; i++)
            {
                int qb = i / block;
                var rand = qb is 0 || qb == nb - 1 ? [] : randAttn.AsSpan((h * (nb - 2) + qb - 1) * r, r);
                float from = s.BlockMask[b * seq + i];
                // every (key, penalty) occurrence the BigBird mask gives this query, in HF's write order;
                // a key listed twice (the deterministic plan repeats block 0) enters the softmax twice
                var occurrences = new List<(int Key, double Score)>();
                foreach (var (kb, gated) in KeyBlocks(qb, nb, rand))
                    for (int k = kb * block; k < (kb + 1) * block; k++)
                    {
                        double dot = 0;
                        for (int x = 0; x < d; x++) dot += (double)s.QueryLayer[off + i * d + x] * s.KeyLayer[off + k * d + x];
                        double penalty = (1 - (gated ? from : 1f) * s.BlockMask[b * seq + k]) * -10000.0;
                        occurrences.Add((k, dot * scale + penalty));
                    }
                double max = occurrences.Max(o => o.Score);
                double sum = occurrences.Sum(o => Math.Exp(o.Score - max));
                foreach (var (k, score) in occurrences)
                {
                    double p = Math.Exp(score - max) / sum;
                    probs[((b * heads + h) * seq + i) * seq + k] = (float)p; // the dense map keeps the last write
                    if (from == 0f) continue;
                    for (int x = 0; x < d; x++) context[off + i * d + x] += (float)(p * s.ValueLayer[off + k * d + x]);
                }
            }
        }
        return (context, probs);
    }
}
