using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;

namespace BigBirdSharp.Modeling;

/// <summary>
/// Block-sparse attention. Ports <c>BigBirdBlockSparseAttention.bigbird_block_sparse_attention</c>
/// (transformers 4.27.1 and current main, <c>modeling_big_bird.py</c>).
/// <para>
/// The sequence is cut into blocks of <c>block_size</c>. Query blocks 0 and last attend to every key
/// (global). Query block 1 attends to key blocks [0, 1, 2, last] plus its random blocks; block n−2 to
/// [0, n−3, n−2, n−1] plus its random blocks; every middle block q to [0], the band [q−1, q, q+1], its
/// random blocks, and [last]. Key positions are penalised by −10000 where HF's to/band/random masks are 0.
/// HF computes this with batched products over concatenated blocks; here each (batch, head, query block)
/// gathers exactly the same key/value blocks, in HF's concatenation order, and runs one softmax over
/// them, so the arithmetic per score is the same and no [seq, seq] matrix is ever built.
/// </para>
/// </summary>
public sealed class BigBirdBlockSparseAttention
{
    private const float attn_mask_penalty = -10000f;

    /// <summary>[all_head_size, hidden_size] + bias when use_bias.</summary>
    public Linear query { get; }
    /// <summary>[all_head_size, hidden_size] + bias when use_bias.</summary>
    public Linear key { get; }
    /// <summary>[all_head_size, hidden_size] + bias when use_bias.</summary>
    public Linear value { get; }

    /// <summary>num_attention_heads.</summary>
    public int NumAttentionHeads { get; }
    /// <summary>hidden_size / num_attention_heads.</summary>
    public int AttentionHeadSize { get; }
    /// <summary>block_size.</summary>
    public int BlockSize { get; }
    /// <summary>num_random_blocks.</summary>
    public int NumRandomBlocks { get; }

    internal BigBirdBlockSparseAttention(Linear query, Linear key, Linear value, BigBirdConfig config)
    {
        this.query = query;
        this.key = key;
        this.value = value;
        NumAttentionHeads = config.NumAttentionHeads;
        AttentionHeadSize = config.AttentionHeadSize;
        BlockSize = config.BlockSize;
        NumRandomBlocks = config.NumRandomBlocks;
    }

    /// <summary>Most key blocks any query block gathers: first, band of 3, randoms, last.</summary>
    internal static int MaxGatheredBlocks(BigBirdConfig config) => 5 + config.NumRandomBlocks;

    /// <summary>
    /// context[b, h, s, d] from query/key/value split into heads ([batch, heads, seq, head_dim]).
    /// </summary>
    /// <param name="backend">The arithmetic.</param>
    /// <param name="state">This call's buffers; <c>state.BlockMask</c> is the padded 0/1 attention mask [batch, seq].</param>
    /// <param name="rand_attn">[heads, num_blocks − 2, num_random_blocks] random key blocks of this layer.</param>
    /// <param name="attentionProbs">[batch, heads, seq, seq] dense maps, rebuilt as HF does, or null.</param>
    internal void Attend(IComputeBackend backend, ForwardState state, int[] rand_attn, float[]? attentionProbs)
    {
        int bsz = state.Batch, seq = state.SeqLength, n_heads = NumAttentionHeads, d = AttentionHeadSize;
        int block = BlockSize, r = NumRandomBlocks;
        if (seq % block != 0)
            throw new BigBirdInputException($"block-sparse attention needs a length that is a multiple of block_size {block}, got {seq}.");
        int num_blocks = seq / block;
        if (rand_attn.Length != n_heads * (num_blocks - 2) * r)
            throw new InvalidOperationException($"rand_attn has {rand_attn.Length} entries, expected [{n_heads}, {num_blocks - 2}, {r}].");
        float rsqrt_d = 1f / MathF.Sqrt(d);
        float[] q = state.QueryLayer, k = state.KeyLayer, v = state.ValueLayer, ctx = state.ContextLayer;
        float[] mask = state.BlockMask; // from_mask = to_mask = attention_mask: [batch, seq] of 0/1

        // one task per (batch, head, query block)
        state.ForEachWorker(bsz * n_heads * num_blocks, (scratch, task) =>
        {
            int qb = task % num_blocks;
            int bh = task / num_blocks;
            int b = bh / n_heads, h = bh % n_heads;
            int headOffset = bh * seq * d;
            ReadOnlySpan<float> to_mask = mask.AsSpan(b * seq, seq);
            ReadOnlySpan<float> blocked_query = q.AsSpan(headOffset + qb * block * d, block * d);
            Span<float> context = ctx.AsSpan(headOffset + qb * block * d, block * d);

            bool global = qb == 0 || qb == num_blocks - 1;
            if (global)
            {
                // first/last query block: all keys, penalised where to_mask is 0
                int keys = seq;
                Span<float> product = scratch.Scores.AsSpan(0, block * keys);
                backend.MatMul(product, blocked_query, k.AsSpan(headOffset, seq * d), block, keys, d, transposeB: true, alpha: rsqrt_d);
                for (int row = 0; row < block; row++)
                {
                    var p = product.Slice(row * keys, keys);
                    for (int j = 0; j < keys; j++) p[j] += (1f - to_mask[j]) * attn_mask_penalty;
                }
                backend.SoftmaxRows(product, block, keys);
                backend.MatMul(context, product, v.AsSpan(headOffset, seq * d), block, d, keys, transposeB: false);
                if (attentionProbs is not null)
                {
                    for (int row = 0; row < block; row++)
                        product.Slice(row * keys, keys).CopyTo(attentionProbs.AsSpan(ProbOffset(bh, qb * block + row, seq), seq));
                }
            }
            else
            {
                // gather the key blocks this query block sees, in HF's concatenation order
                Span<int> key_blocks = scratch.KeyBlocks;
                int nk = 0;
                int firstRand, fromGatedStart, fromGatedEnd; // slots [fromGatedStart, fromGatedEnd) also use from_mask
                ReadOnlySpan<int> rand_row = rand_attn.AsSpan((h * (num_blocks - 2) + (qb - 1)) * r, r);
                if (qb == 1)
                {
                    // second_key_mat = [0, 1, 2, last, rand]
                    key_blocks[nk++] = 0; key_blocks[nk++] = 1; key_blocks[nk++] = 2; key_blocks[nk++] = num_blocks - 1;
                    firstRand = nk;
                    fromGatedStart = firstRand; fromGatedEnd = firstRand + r;
                    foreach (int rb in rand_row) key_blocks[nk++] = rb;
                }
                else if (qb == num_blocks - 2)
                {
                    // second_last_key_mat = [0, n-3, n-2, n-1, rand]
                    key_blocks[nk++] = 0; key_blocks[nk++] = num_blocks - 3; key_blocks[nk++] = num_blocks - 2; key_blocks[nk++] = num_blocks - 1;
                    firstRand = nk;
                    fromGatedStart = firstRand; fromGatedEnd = firstRand + r;
                    foreach (int rb in rand_row) key_blocks[nk++] = rb;
                }
                else
                {
                    // band_product = [first, inner band (q-1, q, q+1), rand, last]; band and rand use from_mask too
                    key_blocks[nk++] = 0;
                    key_blocks[nk++] = qb - 1; key_blocks[nk++] = qb; key_blocks[nk++] = qb + 1;
                    firstRand = nk;
                    foreach (int rb in rand_row) key_blocks[nk++] = rb;
                    key_blocks[nk++] = num_blocks - 1;
                    fromGatedStart = 1; fromGatedEnd = firstRand + r;
                }
                int keys = nk * block;
                Span<float> gathered_key = scratch.Keys.AsSpan(0, keys * d);
                Span<float> gathered_value = scratch.Values.AsSpan(0, keys * d);
                backend.GatherRows(gathered_key, k.AsSpan(headOffset, seq * d), key_blocks[..nk], block * d);
                backend.GatherRows(gathered_value, v.AsSpan(headOffset, seq * d), key_blocks[..nk], block * d);

                Span<float> product = scratch.Scores.AsSpan(0, block * keys);
                backend.MatMul(product, blocked_query, gathered_key, block, keys, d, transposeB: true, alpha: rsqrt_d);
                for (int row = 0; row < block; row++)
                {
                    float from = to_mask[qb * block + row];
                    var p = product.Slice(row * keys, keys);
                    for (int slot = 0; slot < nk; slot++)
                    {
                        ReadOnlySpan<float> to = to_mask.Slice(key_blocks[slot] * block, block);
                        float gate = slot >= fromGatedStart && slot < fromGatedEnd ? from : 1f;
                        var ps = p.Slice(slot * block, block);
                        for (int j = 0; j < block; j++) ps[j] += (1f - gate * to[j]) * attn_mask_penalty;
                    }
                }
                backend.SoftmaxRows(product, block, keys);
                backend.MatMul(context, product, gathered_value, block, d, keys, transposeB: false);

                if (attentionProbs is not null)
                    ScatterProbabilities(attentionProbs, product, key_blocks[..nk], bh, qb, seq, block, qb >= 2 && qb <= num_blocks - 3);
            }

            // context_layer *= from_mask
            for (int row = 0; row < block; row++)
                if (to_mask[qb * block + row] == 0f) context.Slice(row * d, d).Clear();
        });
    }

    private static int ProbOffset(int bh, int queryRow, int seq) => (bh * seq + queryRow) * seq;

    /// <summary>
    /// Writes one query block's probabilities into the dense [seq, seq] map the way HF rebuilds
    /// <c>attention_probs</c>: later writes win where blocks repeat. HF writes the middle rows' inner band
    /// before the first and last blocks and the random blocks after them; rows 1 and n−2 in slot order.
    /// </summary>
    private static void ScatterProbabilities(float[] attentionProbs, ReadOnlySpan<float> probs, ReadOnlySpan<int> key_blocks,
                                             int bh, int qb, int seq, int block, bool middle)
    {
        int nk = key_blocks.Length, keys = nk * block;
        Span<int> order = stackalloc int[nk];
        if (middle)
        {
            // inner band (slots 1..3), first (0), last (nk-1), then random (4 .. nk-2)
            int o = 0;
            order[o++] = 1; order[o++] = 2; order[o++] = 3; order[o++] = 0; order[o++] = nk - 1;
            for (int s = 4; s < nk - 1; s++) order[o++] = s;
        }
        else
        {
            for (int s = 0; s < nk; s++) order[s] = s;
        }
        for (int row = 0; row < block; row++)
        {
            var dst = attentionProbs.AsSpan(ProbOffset(bh, qb * block + row, seq), seq);
            var src = probs.Slice(row * keys, keys);
            foreach (int slot in order)
                src.Slice(slot * block, block).CopyTo(dst.Slice(key_blocks[slot] * block, block));
        }
    }
}
