using System.Numerics.Tensors;
using BigBirdSharp.Kernels;

namespace BigBirdSharp.Backends;

/// <summary>
/// The CPU backend's attention kernels. Each (batch, head) — or (batch, head, query block) under block_sparse — is one
/// task; a task's products are serial micro-GEMMs over rows gathered into its worker's scratch, so a whole layer's
/// attention is one backend call however many blocks it has.
/// </summary>
internal static class CpuAttention
{
    /// <summary>Query rows scored at once per (batch, head) under full attention, so no [seq, seq] matrix is held.</summary>
    internal const int QueryChunk = 64;

    private const float attn_mask_penalty = -10000f;

    [ThreadStatic] private static FullTask? t_full;
    [ThreadStatic] private static BlockSparseTask? t_sparse;

    public static void Full(Memory<float> context, Memory<float> query, Memory<float> key, Memory<float> value, Memory<float> mask,
                            Memory<float> probs, in FullAttentionArgs args)
    {
        var task = t_full ??= new FullTask();
        task.Context = context; task.Query = query; task.Key = key; task.Value = value; task.Mask = mask; task.Probs = probs;
        task.Args = args;
        task.Prepare(QueryChunk * args.Keys, 0, 0);
        try
        {
            CpuParallel.For(args.Batch * args.Heads, task);
        }
        finally
        {
            task.Context = task.Query = task.Key = task.Value = task.Mask = task.Probs = default;
            task.Args = default;
        }
    }

    public static void BlockSparse(Memory<float> context, Memory<float> query, Memory<float> key, Memory<float> value, Memory<float> mask,
                                   Memory<float> probs, in BlockSparseAttentionArgs args)
    {
        var task = t_sparse ??= new BlockSparseTask();
        task.Context = context; task.Query = query; task.Key = key; task.Value = value; task.Mask = mask; task.Probs = probs;
        task.Args = args;
        int block = args.Plan.BlockSize, gathered = (5 + args.Plan.NumRandomBlocks) * block;
        task.Prepare(block * Math.Max(args.Seq, gathered), gathered * args.HeadDim, Math.Max(args.Seq, 2 * gathered));
        // HF's dense map is zero wherever the plan attends nothing; the tasks write only what each query block attends
        probs.Span.Clear();
        try
        {
            CpuParallel.For(args.Batch * args.Heads * (args.Seq / block), task);
        }
        finally
        {
            task.Context = task.Query = task.Key = task.Value = task.Mask = task.Probs = default;
            task.Args = default;
        }
    }

    /// <summary>
    /// A reusable attention job with one scratch slot per thread that can take part in a dispatch. Slots are sized by
    /// the dispatching thread before the dispatch and claimed by each participating thread on its first item, so a
    /// repeated call of the same shape allocates nothing, whichever threads run its items.
    /// </summary>
    private abstract class AttentionTask : IComputeWork
    {
        private static long s_generation;
        [ThreadStatic] private static long t_generation;
        [ThreadStatic] private static int t_slot;

        private float[][] _scores = [], _keys = [], _values = [], _masks = [];
        private long _generation;
        private int _nextSlot;

        /// <summary>Sizes every slot for this dispatch (growing only) and opens a new round of slot claims.</summary>
        public void Prepare(int scores, int keys, int masks)
        {
            int slots = ComputePool.Shared.ThreadCount;
            Grow(ref _scores, slots, scores);
            Grow(ref _keys, slots, keys);
            Grow(ref _values, slots, keys);
            Grow(ref _masks, slots, masks);
            _nextSlot = 0;
            _generation = Interlocked.Increment(ref s_generation);
        }

        private static void Grow(ref float[][] arrays, int slots, int length)
        {
            if (arrays.Length < slots) Array.Resize(ref arrays, slots);
            for (int i = 0; i < slots; i++)
                if (arrays[i] is null || arrays[i].Length < length) arrays[i] = new float[length];
        }

        /// <summary>This thread's slot in the current dispatch.</summary>
        protected int Slot()
        {
            if (t_generation != _generation)
            {
                t_generation = _generation;
                t_slot = Interlocked.Increment(ref _nextSlot) - 1;
                if (t_slot >= _scores.Length)
                    throw new InvalidOperationException($"attention dispatch ran on more threads ({t_slot + 1}) than the pool has ({_scores.Length}).");
            }
            return t_slot;
        }

        protected float[] Scores(int slot) => _scores[slot];
        protected float[] Keys(int slot) => _keys[slot];
        protected float[] Values(int slot) => _values[slot];
        protected float[] Masks(int slot) => _masks[slot];

        public abstract void Run(int item);
    }

    /// <summary>One (batch, head) of full attention.</summary>
    private sealed class FullTask : AttentionTask
    {
        public Memory<float> Context, Query, Key, Value, Mask, Probs;
        public FullAttentionArgs Args;

        public override void Run(int bh)
        {
            var a = Args;
            int heads = a.Heads, seq = a.Seq, d = a.HeadDim, keys = a.Keys;
            int b = bh / heads, h = bh % heads;
            int headOffset = bh * seq * d;
            float sqrtD = MathF.Sqrt(d);
            ReadOnlySpan<float> key_layer = Key.Span.Slice(bh * a.KeyStride * d, keys * d);
            ReadOnlySpan<float> value_layer = Value.Span.Slice(bh * a.KeyStride * d, keys * d);
            ReadOnlySpan<float> maskRow = Mask.Span.Slice(b * keys, keys); // 0 or float.MinValue: HF's (1 − m)·finfo.min
            float headScale = a.HeadMask.IsEmpty ? 1f : a.HeadMask.Span[h];
            Span<float> q = Query.Span, ctx = Context.Span;
            float[] scores = Scores(Slot());

            for (int q0 = 0; q0 < seq; q0 += QueryChunk)
            {
                int rows = Math.Min(QueryChunk, seq - q0);
                Span<float> attention_scores = scores.AsSpan(0, rows * keys);
                // attention_scores = query_layer @ key_layerᵀ / √d + attention_mask; attention_probs = softmax(attention_scores)
                Gemm.Multiply(attention_scores, q.Slice(headOffset + q0 * d, rows * d), key_layer, rows, keys, d, transposeB: true);
                if (a.CausalOffset < 0)
                {
                    // one additive mask row for every query: scale, add and softmax in one pass per row
                    Normalization.MaskedSoftmaxRows(attention_scores, rows, keys, 1f / sqrtD, maskRow);
                }
                else
                {
                    for (int r = 0; r < rows; r++)
                    {
                        var row = attention_scores.Slice(r * keys, keys);
                        // the decoder's causal mask: the query at absolute position offset + q0 + r sees keys up to itself
                        int lastVisible = a.CausalOffset + q0 + r;
                        for (int j = 0; j < keys; j++)
                        {
                            float additive = j > lastVisible ? float.MinValue : maskRow[j];
                            row[j] = row[j] / sqrtD + additive;
                        }
                    }
                    Normalization.SoftmaxRows(attention_scores, rows, keys);
                }
                // (· head_mask)
                if (headScale != 1f) TensorPrimitives.Multiply(attention_scores, headScale, attention_scores);
                if (!Probs.IsEmpty) attention_scores.CopyTo(Probs.Span.Slice((bh * seq + q0) * keys, rows * keys));
                // context_layer = attention_probs @ value_layer
                Gemm.Multiply(ctx.Slice(headOffset + q0 * d, rows * d), attention_scores, value_layer, rows, d, keys, transposeB: false);
            }
        }
    }

    /// <summary>
    /// One (batch, head, query block) of <c>bigbird_block_sparse_attention</c>. Query blocks 0 and last attend to every
    /// key (global). Block 1 sees key blocks [0, 1, 2, last] and its random blocks; block n−2 sees [0, n−3, n−2, n−1] and
    /// its random blocks; a middle block q sees [0], the band [q−1, q, q+1], its random blocks and [last]. HF builds these
    /// with batched products over concatenated blocks; here the task gathers the same key/value blocks in HF's
    /// concatenation order and runs one softmax over them, so each score is the same sum and no [seq, seq] matrix exists.
    /// </summary>
    private sealed class BlockSparseTask : AttentionTask
    {
        public Memory<float> Context, Query, Key, Value, Mask, Probs;
        public BlockSparseAttentionArgs Args;

        public override void Run(int task)
        {
            var a = Args;
            int seq = a.Seq, n_heads = a.Heads, d = a.HeadDim, block = a.Plan.BlockSize, r = a.Plan.NumRandomBlocks;
            int num_blocks = seq / block;
            int qb = task % num_blocks, bh = task / num_blocks;
            int b = bh / n_heads, h = bh % n_heads;
            int headOffset = bh * seq * d;
            float rsqrt_d = 1f / MathF.Sqrt(d);
            ReadOnlySpan<float> k = Key.Span.Slice(headOffset, seq * d), v = Value.Span.Slice(headOffset, seq * d);
            ReadOnlySpan<float> to_mask = Mask.Span.Slice(b * seq, seq);
            ReadOnlySpan<float> blocked_query = Query.Span.Slice(headOffset + qb * block * d, block * d);
            Span<float> context = Context.Span.Slice(headOffset + qb * block * d, block * d);
            int worker = Slot();

            if (qb == 0 || qb == num_blocks - 1)
            {
                // first/last query block: every key, penalised where to_mask is 0
                int keys = seq;
                Span<float> product = Scores(worker).AsSpan(0, block * keys);
                Gemm.Multiply(product, blocked_query, k, block, keys, d, transposeB: true);
                // first_product · rsqrt_d + (1 − to_mask)·penalty, then softmax: one mask row for the whole block
                Span<float> penalty = Masks(worker).AsSpan(0, keys);
                for (int j = 0; j < keys; j++) penalty[j] = (1f - to_mask[j]) * attn_mask_penalty;
                Normalization.MaskedSoftmaxRows(product, block, keys, rsqrt_d, penalty);
                Gemm.Multiply(context, product, v, block, d, keys, transposeB: false);
                if (!Probs.IsEmpty)
                {
                    var probs = Probs.Span;
                    for (int row = 0; row < block; row++)
                        product.Slice(row * keys, keys).CopyTo(probs.Slice(ProbOffset(bh, qb * block + row, seq), seq));
                }
            }
            else
            {
                // gather the key blocks this query block sees, in HF's concatenation order
                Span<int> key_blocks = stackalloc int[5 + r];
                int nk = 0;
                int fromGatedStart, fromGatedEnd; // slots [fromGatedStart, fromGatedEnd) also use from_mask
                ReadOnlySpan<int> rand_row = a.Plan.RandAttn.AsSpan((h * (num_blocks - 2) + (qb - 1)) * r, r);
                if (qb == 1)
                {
                    // second_key_mat = [0, 1, 2, last, rand]
                    key_blocks[nk++] = 0; key_blocks[nk++] = 1; key_blocks[nk++] = 2; key_blocks[nk++] = num_blocks - 1;
                    fromGatedStart = nk; fromGatedEnd = nk + r;
                    foreach (int rb in rand_row) key_blocks[nk++] = rb;
                }
                else if (qb == num_blocks - 2)
                {
                    // second_last_key_mat = [0, n-3, n-2, n-1, rand]
                    key_blocks[nk++] = 0; key_blocks[nk++] = num_blocks - 3; key_blocks[nk++] = num_blocks - 2; key_blocks[nk++] = num_blocks - 1;
                    fromGatedStart = nk; fromGatedEnd = nk + r;
                    foreach (int rb in rand_row) key_blocks[nk++] = rb;
                }
                else
                {
                    // band_product = [first, inner band (q-1, q, q+1), rand, last]; band and rand use from_mask too
                    key_blocks[nk++] = 0;
                    key_blocks[nk++] = qb - 1; key_blocks[nk++] = qb; key_blocks[nk++] = qb + 1;
                    int firstRand = nk;
                    foreach (int rb in rand_row) key_blocks[nk++] = rb;
                    key_blocks[nk++] = num_blocks - 1;
                    fromGatedStart = 1; fromGatedEnd = firstRand + r;
                }
                int keys = nk * block;
                Span<float> gathered_key = Keys(worker).AsSpan(0, keys * d);
                Span<float> gathered_value = Values(worker).AsSpan(0, keys * d);
                Elementwise.GatherRows(gathered_key, k, key_blocks[..nk], block * d);
                Elementwise.GatherRows(gathered_value, v, key_blocks[..nk], block * d);

                Span<float> product = Scores(worker).AsSpan(0, block * keys);
                Gemm.Multiply(product, blocked_query, gathered_key, block, keys, d, transposeB: true);
                // (1 − from·to)·penalty per key, where from gates the band and random slots: a query row whose from_mask
                // is 1 sees (1 − to)·penalty everywhere; a row whose from_mask is 0 sees the full penalty on the gated slots
                Span<float> open = Masks(worker).AsSpan(0, keys), closed = Masks(worker).AsSpan(keys, keys);
                for (int slot = 0; slot < nk; slot++)
                {
                    ReadOnlySpan<float> to = to_mask.Slice(key_blocks[slot] * block, block);
                    bool gated = slot >= fromGatedStart && slot < fromGatedEnd;
                    for (int j = 0; j < block; j++)
                    {
                        float penalty = (1f - to[j]) * attn_mask_penalty;
                        open[slot * block + j] = penalty;
                        closed[slot * block + j] = gated ? attn_mask_penalty : penalty;
                    }
                }
                for (int row = 0; row < block; row++)
                {
                    var p = product.Slice(row * keys, keys);
                    Normalization.MaskedSoftmaxRows(p, 1, keys, rsqrt_d, to_mask[qb * block + row] == 0f ? closed : open);
                }
                Gemm.Multiply(context, product, gathered_value, block, d, keys, transposeB: false);

                if (!Probs.IsEmpty)
                    ScatterProbabilities(Probs.Span, product, key_blocks[..nk], bh, qb, seq, block, qb >= 2 && qb <= num_blocks - 3);
            }

            // context_layer *= from_mask
            for (int row = 0; row < block; row++)
                if (to_mask[qb * block + row] == 0f) context.Slice(row * d, d).Clear();
        }
    }

    private static int ProbOffset(int bh, int queryRow, int seq) => (bh * seq + queryRow) * seq;

    /// <summary>
    /// Writes one query block's probabilities into the dense [seq, seq] map the way HF rebuilds
    /// <c>attention_probs</c>: later writes win where blocks repeat. HF writes the middle rows' inner band
    /// before the first and last blocks and the random blocks after them; rows 1 and n−2 in slot order.
    /// </summary>
    private static void ScatterProbabilities(Span<float> attentionProbs, ReadOnlySpan<float> probs, ReadOnlySpan<int> key_blocks,
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
            var dst = attentionProbs.Slice(ProbOffset(bh, qb * block + row, seq), seq);
            var src = probs.Slice(row * keys, keys);
            foreach (int slot in order)
                src.Slice(slot * block, block).CopyTo(dst.Slice(key_blocks[slot] * block, block));
        }
    }
}
