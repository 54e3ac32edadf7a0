using System.Numerics.Tensors;
using BigBirdSharp.Kernels;

namespace BigBirdSharp.Backends;

/// <summary>
/// The CPU backend's attention kernels. Each (batch, head) — or (batch, head, group of query blocks) under block_sparse —
/// is one task; a task packs its head's keys and values once into its worker's scratch as GEMM micro-kernel panels and
/// runs the micro-kernels straight over the panels each query chunk or block needs (<see cref="AttentionKernels"/>), so a
/// whole layer's attention is one backend call however many blocks it has, and repeated calls allocate nothing.
/// </summary>
internal static class CpuAttention
{
    /// <summary>Query rows scored at once per (batch, head) under full attention, so no [seq, seq] matrix is held.</summary>
    internal const int QueryChunk = 64;

    private const float attn_mask_penalty = -10000f;

    [ThreadStatic] private static FullTask? t_full;
    [ThreadStatic] private static BlockSparseTask? t_sparse;
    [ThreadStatic] private static BaselineFullTask? t_baselineFull;
    [ThreadStatic] private static BaselineBlockSparseTask? t_baselineSparse;

    public static void Full(Memory<float> context, Memory<float> query, Memory<float> key, Memory<float> value, Memory<float> mask,
                            Memory<float> probs, in FullAttentionArgs args)
        => Full(context, query, key, value, mask, probs, args, KernelPath.Auto);

    /// <summary>As the public entry, with the micro-kernel path forced (tests compare the paths).</summary>
    internal static void Full(Memory<float> context, Memory<float> query, Memory<float> key, Memory<float> value, Memory<float> mask,
                              Memory<float> probs, in FullAttentionArgs args, KernelPath path)
    {
        var task = t_full ??= new FullTask();
        task.Context = context; task.Query = query; task.Key = key; task.Value = value; task.Mask = mask; task.Probs = probs;
        task.Args = args;
        task.Path = KernelPaths.Resolve(path);
        int nr = GemmMicroKernels.PanelWidth(task.Path), keys = args.Keys, d = args.HeadDim;
        // Prepare can refuse the sizes: inside the try, so the task lets go of this call's buffers either way
        try
        {
            task.Prepare((long)QueryChunk * keys, AttentionKernels.PackedKeysLength(1, keys, d, nr), AttentionKernels.PackedValuesLength(keys, d, nr), 0,
                         AttentionKernels.PackedRowsLength(QueryChunk, d) + AttentionKernels.PackedRowsLength(QueryChunk, keys), 0, keys);
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
        => BlockSparse(context, query, key, value, mask, probs, args, KernelPath.Auto);

    /// <summary>As the public entry, with the micro-kernel path forced (tests compare the paths).</summary>
    internal static void BlockSparse(Memory<float> context, Memory<float> query, Memory<float> key, Memory<float> value, Memory<float> mask,
                                     Memory<float> probs, in BlockSparseAttentionArgs args, KernelPath path)
    {
        var task = t_sparse ??= new BlockSparseTask();
        task.Context = context; task.Query = query; task.Key = key; task.Value = value; task.Mask = mask; task.Probs = probs;
        task.Args = args;
        task.Path = KernelPaths.Resolve(path);
        int block = args.Plan.BlockSize, seq = args.Seq, d = args.HeadDim;
        long gathered = (5L + args.Plan.NumRandomBlocks) * block, widest = Math.Max(seq, gathered);
        int numBlocks = seq / block, nr = GemmMicroKernels.PanelWidth(task.Path);
        // Prepare can refuse the sizes: inside the try, so the task lets go of this call's buffers either way
        try
        {
            task.Prepare(Saturating(block, widest), AttentionKernels.PackedKeysLength(numBlocks, block, d, nr),
                         AttentionKernels.PackedValuesLength(seq, d, nr), Saturating(2, gathered),
                         AttentionKernels.PackedRowsLength(block, d) + (widest > int.MaxValue ? long.MaxValue : AttentionKernels.PackedRowsLength(block, (int)widest)),
                         block, seq);
            // (1 − to_mask)·penalty once per call, [batch, seq]: every query block's mask rows are copies of its blocks
            Span<float> penalty = task.Penalty(args.Batch * seq);
            ReadOnlySpan<float> to_mask = mask.Span[..(args.Batch * seq)];
            for (int j = 0; j < penalty.Length; j++) penalty[j] = (1f - to_mask[j]) * attn_mask_penalty;
            // one item per (batch, head, group of query blocks): the head's keys and values are packed once per item, so
            // groups split a head only when there are too few heads to keep every thread busy
            int items = args.Batch * args.Heads, threads = ComputePool.Current.ThreadCount;
            task.Groups = items >= 2 * threads ? 1 : Math.Clamp((2 * threads + items - 1) / items, 1, Math.Max(1, numBlocks));
            // HF's dense map is zero wherever the plan attends nothing; the tasks write only what each query block attends
            probs.Span.Clear();
            CpuParallel.For(items * task.Groups, task);
        }
        finally
        {
            task.Context = task.Query = task.Key = task.Value = task.Mask = task.Probs = default;
            task.Args = default;
        }
    }

    /// <summary>The previous full-attention kernel (gathers and <see cref="Gemm.Multiply(Span{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, int, int, int, bool, float, bool)"/> per chunk), kept as the benchmarks' and tests' baseline.</summary>
    internal static void BaselineFull(Memory<float> context, Memory<float> query, Memory<float> key, Memory<float> value, Memory<float> mask,
                                      Memory<float> probs, in FullAttentionArgs args)
    {
        var task = t_baselineFull ??= new BaselineFullTask();
        task.Context = context; task.Query = query; task.Key = key; task.Value = value; task.Mask = mask; task.Probs = probs;
        task.Args = args;
        // Prepare can refuse the sizes: inside the try, so the task lets go of this call's buffers either way
        try
        {
            task.Prepare((long)QueryChunk * args.Keys, 0, 0, 0, 0, 0, args.Keys);
            CpuParallel.For(args.Batch * args.Heads, task);
        }
        finally
        {
            task.Context = task.Query = task.Key = task.Value = task.Mask = task.Probs = default;
            task.Args = default;
        }
    }

    /// <summary>The previous block-sparse kernel (gathers the key blocks and multiplies with <see cref="Gemm"/>), kept as the benchmarks' and tests' baseline.</summary>
    internal static void BaselineBlockSparse(Memory<float> context, Memory<float> query, Memory<float> key, Memory<float> value, Memory<float> mask,
                                             Memory<float> probs, in BlockSparseAttentionArgs args)
    {
        var task = t_baselineSparse ??= new BaselineBlockSparseTask();
        task.Context = context; task.Query = query; task.Key = key; task.Value = value; task.Mask = mask; task.Probs = probs;
        task.Args = args;
        int block = args.Plan.BlockSize;
        long gathered = (5L + args.Plan.NumRandomBlocks) * block;
        // Prepare can refuse the sizes: inside the try, so the task lets go of this call's buffers either way
        try
        {
            task.Prepare(Saturating(block, Math.Max(args.Seq, gathered)), Saturating(gathered, args.HeadDim), Saturating(gathered, args.HeadDim),
                         Math.Max(args.Seq, Saturating(2, gathered)), 0,
                         block, args.Seq);
            probs.Span.Clear();
            CpuParallel.For(args.Batch * args.Heads * (args.Seq / block), task);
        }
        finally
        {
            task.Context = task.Query = task.Key = task.Value = task.Mask = task.Probs = default;
            task.Args = default;
        }
    }

    /// <summary>a·b for non-negative sizes, or long.MaxValue when the product does not fit (Prepare then refuses it).</summary>
    private static long Saturating(long a, long b) => a == 0 || b == 0 ? 0 : a > long.MaxValue / b ? long.MaxValue : a * b;

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

        private float[][] _scores = [], _keys = [], _values = [], _masks = [], _packs = [];
        private float[] _penalty = [];
        private long _generation;
        private int _nextSlot;

        /// <summary>Sizes every slot for this dispatch (growing only) and opens a new round of slot claims.</summary>
        /// <param name="scores">Floats of each scratch buffer, computed in 64 bits (a product that overflowed is long.MaxValue or negative).</param>
        /// <param name="keys">See <paramref name="scores"/>.</param>
        /// <param name="values">See <paramref name="scores"/>.</param>
        /// <param name="masks">See <paramref name="scores"/>.</param>
        /// <param name="packs">See <paramref name="scores"/>.</param>
        /// <param name="block">block_size under block_sparse, 0 under full attention; for the error message.</param>
        /// <param name="length">The sequence length (block_sparse) or key count (full attention); for the error message.</param>
        /// <exception cref="BigBirdInputException">A scratch buffer would pass the largest array.</exception>
        public void Prepare(long scores, long keys, long values, long masks, long packs, int block, int length)
        {
            long largest = Math.Max(Math.Max(scores, keys), Math.Max(Math.Max(values, masks), packs));
            if (largest > Array.MaxLength || Math.Min(Math.Min(scores, keys), Math.Min(Math.Min(values, masks), packs)) < 0)
                throw new BigBirdInputException(block > 0
                    ? $"block-sparse attention with block_size {block} over {length} tokens needs a per-thread scratch buffer of " +
                      $"{(largest < 0 ? "more" : largest.ToString(System.Globalization.CultureInfo.InvariantCulture))} floats, more than the " +
                      $"{Array.MaxLength} one buffer can hold (Array.MaxLength); use a shorter input, a smaller block_size or original_full attention."
                    : $"full attention over {length} keys needs a per-thread scratch buffer of " +
                      $"{(largest < 0 ? "more" : largest.ToString(System.Globalization.CultureInfo.InvariantCulture))} floats, more than the " +
                      $"{Array.MaxLength} one buffer can hold (Array.MaxLength); use a shorter input.");
            int slots = ComputePool.Current.ThreadCount;
            Grow(ref _scores, slots, (int)scores);
            Grow(ref _keys, slots, (int)keys);
            Grow(ref _values, slots, (int)values);
            Grow(ref _masks, slots, (int)masks);
            Grow(ref _packs, slots, (int)packs);
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
        protected float[] Packs(int slot) => _packs[slot];

        /// <summary>A per-call buffer shared by every item (written by the dispatching thread before the dispatch).</summary>
        public Span<float> Penalty(int length)
        {
            if (_penalty.Length < length) _penalty = new float[length];
            return _penalty.AsSpan(0, length);
        }

        protected ReadOnlySpan<float> PenaltyRow(int offset, int length) => _penalty.AsSpan(offset, length);

        public abstract void Run(int item);
    }

    /// <summary>
    /// One (batch, head) of full attention: the head's keys and values are packed once into micro-kernel panels, then each
    /// chunk of query rows is packed, scored against every key panel, normalised in place and multiplied with the values.
    /// </summary>
    private sealed unsafe class FullTask : AttentionTask
    {
        public Memory<float> Context, Query, Key, Value, Mask, Probs;
        public FullAttentionArgs Args;
        public KernelPath Path;

        public override void Run(int bh)
        {
            var a = Args;
            KernelPath path = Path;
            int heads = a.Heads, seq = a.Seq, d = a.HeadDim, keys = a.Keys;
            int b = bh / heads, h = bh % heads;
            int headOffset = bh * seq * d;
            float sqrtD = MathF.Sqrt(d);
            ReadOnlySpan<float> maskRow = Mask.Span.Slice(b * keys, keys); // 0 or float.MinValue: HF's (1 − m)·finfo.min
            float headScale = a.HeadMask.IsEmpty ? 1f : a.HeadMask.Span[h];
            int worker = Slot();
            float[] scores = Scores(worker);
            long queryPanels = AttentionKernels.PackedRowsLength(QueryChunk, d);
            fixed (float* key_layer = Key.Span.Slice(bh * a.KeyStride * d, keys * d))
            fixed (float* value_layer = Value.Span.Slice(bh * a.KeyStride * d, keys * d))
            fixed (float* query_layer = Query.Span.Slice(headOffset, seq * d))
            fixed (float* context_layer = Context.Span.Slice(headOffset, seq * d))
            fixed (float* packedKeys = Keys(worker), packedValues = Values(worker), packs = Packs(worker), pscores = scores)
            {
                // key_layerᵀ and value_layer in panels, once per head: every chunk's products read them in place
                AttentionKernels.PackKeys(packedKeys, key_layer, 1, keys, d, path);
                AttentionKernels.PackValues(packedValues, value_layer, keys, d, path);
                float* packedQuery = packs, packedProbs = packs + queryPanels;
                for (int q0 = 0; q0 < seq; q0 += QueryChunk)
                {
                    int rows = Math.Min(QueryChunk, seq - q0);
                    Span<float> attention_scores = scores.AsSpan(0, rows * keys);
                    // attention_scores = query_layer @ key_layerᵀ / √d + attention_mask; attention_probs = softmax(attention_scores)
                    AttentionKernels.PackRows(packedQuery, query_layer + q0 * d, rows, d, d);
                    AttentionKernels.ScoreBlock(pscores, keys, packedQuery, rows, d, packedKeys, keys, path);
                    if (a.CausalOffset < 0 && headScale == 1f)
                    {
                        // scale, add the mask row and softmax in one sweep per row, normalising while packing for the value product
                        AttentionKernels.SoftmaxPackRows(packedProbs, pscores, rows, keys, 1f / sqrtD, maskRow, default, default,
                                                         normalizeRows: !Probs.IsEmpty, path);
                        if (!Probs.IsEmpty) attention_scores.CopyTo(Probs.Span.Slice((bh * seq + q0) * keys, rows * keys));
                        AttentionKernels.AccumulateValues(context_layer + q0 * d, packedProbs, rows, keys, 0, packedValues, keys, 0, keys, d,
                                                          accumulate: false, path);
                        continue;
                    }
                    if (a.CausalOffset < 0)
                    {
                        // one additive mask row for every query: scale, add and softmax in one pass per row
                        Normalization.MaskedSoftmaxRows(attention_scores, rows, keys, 1f / sqrtD, maskRow, parallel: false);
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
                    AttentionKernels.PackRows(packedProbs, pscores, rows, keys, keys);
                    AttentionKernels.AccumulateValues(context_layer + q0 * d, packedProbs, rows, keys, 0, packedValues, keys, 0, keys, d,
                                                      accumulate: false, path);
                }
            }
        }
    }

    /// <summary>
    /// One (batch, head, group of query blocks) of <c>bigbird_block_sparse_attention</c>. Query blocks 0 and last attend to
    /// every key (global). Block 1 sees key blocks [0, 1, 2, last] and its random blocks; block n−2 sees [0, n−3, n−2, n−1]
    /// and its random blocks; a middle block q sees [0], the band [q−1, q, q+1], its random blocks and [last]. HF builds
    /// these with batched products over concatenated blocks; here the head's keys and values are packed once into
    /// micro-kernel panels and each query block's products run over its key blocks' panels in HF's concatenation order,
    /// with one softmax over them, so each score is the same sum and no [seq, seq] matrix exists.
    /// </summary>
    private sealed unsafe class BlockSparseTask : AttentionTask
    {
        public Memory<float> Context, Query, Key, Value, Mask, Probs;
        public BlockSparseAttentionArgs Args;
        public KernelPath Path;
        public int Groups;

        public override void Run(int item)
        {
            var a = Args;
            KernelPath path = Path;
            int seq = a.Seq, n_heads = a.Heads, d = a.HeadDim, block = a.Plan.BlockSize, r = a.Plan.NumRandomBlocks;
            int num_blocks = seq / block, groups = Groups;
            int g = item % groups, bh = item / groups;
            int b = bh / n_heads, h = bh % n_heads;
            int qbStart = (int)((long)num_blocks * g / groups), qbEnd = (int)((long)num_blocks * (g + 1) / groups);
            if (qbStart == qbEnd) return;
            int headOffset = bh * seq * d;
            float rsqrt_d = 1f / MathF.Sqrt(d);
            int nr = GemmMicroKernels.PanelWidth(path);
            long blockPanels = AttentionKernels.PackedKeysLength(1, block, d, nr);
            long queryPanels = AttentionKernels.PackedRowsLength(block, d);
            ReadOnlySpan<float> to_mask = Mask.Span.Slice(b * seq, seq);
            ReadOnlySpan<float> penalty = PenaltyRow(b * seq, seq); // (1 − to_mask)·penalty
            int worker = Slot();
            float[] scores = Scores(worker), masks = Masks(worker);
            Span<int> key_blocks = 5 + r <= 256 ? stackalloc int[5 + r] : new int[5 + r]; // r comes from config.json
            fixed (float* k = Key.Span.Slice(headOffset, seq * d), v = Value.Span.Slice(headOffset, seq * d))
            fixed (float* q = Query.Span.Slice(headOffset, seq * d), ctx = Context.Span.Slice(headOffset, seq * d))
            fixed (float* packedKeys = Keys(worker), packedValues = Values(worker), packs = Packs(worker), product = scores)
            {
                // key_layerᵀ per key block and value_layer, in panels, once per item: every query block reads them in place
                AttentionKernels.PackKeys(packedKeys, k, num_blocks, block, d, path);
                AttentionKernels.PackValues(packedValues, v, seq, d, path);
                float* packedQuery = packs, packedProbs = packs + queryPanels;
                for (int qb = qbStart; qb < qbEnd; qb++)
                {
                    float* context = ctx + qb * block * d;
                    AttentionKernels.PackRows(packedQuery, q + qb * block * d, block, d, d);
                    if (qb == 0 || qb == num_blocks - 1)
                    {
                        // first/last query block: every key, penalised where to_mask is 0 (one mask row for the whole block)
                        int keys = seq;
                        for (int kb = 0; kb < num_blocks; kb++)
                            AttentionKernels.ScoreBlock(product + kb * block, keys, packedQuery, block, d, packedKeys + kb * blockPanels, block, path);
                        Span<float> first_product = scores.AsSpan(0, block * keys);
                        // first_product · rsqrt_d + (1 − to_mask)·penalty, then softmax (normalised while packed for the value product)
                        AttentionKernels.SoftmaxPackRows(packedProbs, product, block, keys, rsqrt_d, penalty, default, default,
                                                         normalizeRows: !Probs.IsEmpty, path);
                        AttentionKernels.AccumulateValues(context, packedProbs, block, keys, 0, packedValues, seq, 0, keys, d, accumulate: false, path);
                        if (!Probs.IsEmpty)
                        {
                            var probs = Probs.Span;
                            for (int row = 0; row < block; row++)
                                first_product.Slice(row * keys, keys).CopyTo(probs.Slice(ProbOffset(bh, qb * block + row, seq), seq));
                        }
                    }
                    else
                    {
                        int nk = KeyBlocks(key_blocks, a.Plan.RandAttn!, h, qb, num_blocks, r, out int fromGatedStart, out int fromGatedEnd);
                        int keys = nk * block;
                        for (int slot = 0; slot < nk; slot++)
                            AttentionKernels.ScoreBlock(product + slot * block, keys, packedQuery, block, d, packedKeys + key_blocks[slot] * blockPanels, block, path);
                        // (1 − from·to)·penalty per key, where from gates the band and random slots: a query row whose from_mask
                        // is 1 sees (1 − to)·penalty everywhere; a row whose from_mask is 0 sees the full penalty on the gated slots
                        Span<float> open = masks.AsSpan(0, keys), closed = masks.AsSpan(keys, keys);
                        for (int slot = 0; slot < nk; slot++)
                            penalty.Slice(key_blocks[slot] * block, block).CopyTo(open.Slice(slot * block, block));
                        ReadOnlySpan<float> from = to_mask.Slice(qb * block, block);
                        Span<float> band_product = scores.AsSpan(0, block * keys);
                        bool padded = from.Contains(0f);
                        if (padded)
                        {
                            open.CopyTo(closed);
                            closed.Slice(fromGatedStart * block, (fromGatedEnd - fromGatedStart) * block).Fill(attn_mask_penalty);
                        }
                        // softmax(band_product · rsqrt_d + mask row), normalised while packed for the value product
                        AttentionKernels.SoftmaxPackRows(packedProbs, product, block, keys, rsqrt_d, open, padded ? closed : default,
                                                         padded ? from : default, normalizeRows: !Probs.IsEmpty, path);
                        // context = probs @ [value blocks]: one product per run of consecutive key blocks (the band is one run)
                        for (int s = 0; s < nk;)
                        {
                            int e = s + 1;
                            while (e < nk && key_blocks[e] == key_blocks[e - 1] + 1) e++;
                            AttentionKernels.AccumulateValues(context, packedProbs, block, keys, s * block, packedValues, seq, key_blocks[s] * block,
                                                              (e - s) * block, d, accumulate: s > 0, path);
                            s = e;
                        }
                        if (!Probs.IsEmpty)
                            ScatterProbabilities(Probs.Span, band_product, key_blocks[..nk], bh, qb, seq, block, qb >= 2 && qb <= num_blocks - 3);
                    }

                    // context_layer *= from_mask
                    for (int row = 0; row < block; row++)
                        if (to_mask[qb * block + row] == 0f) new Span<float>(context + row * d, d).Clear();
                }
            }
        }
    }

    /// <summary>
    /// The key blocks query block <paramref name="qb"/> (1 ≤ qb ≤ n−2) sees, in HF's concatenation order; slots
    /// [fromGatedStart, fromGatedEnd) are the ones from_mask also gates. Returns the slot count.
    /// </summary>
    private static int KeyBlocks(Span<int> key_blocks, int[] randAttn, int h, int qb, int num_blocks, int r, out int fromGatedStart, out int fromGatedEnd)
    {
        int nk = 0;
        ReadOnlySpan<int> rand_row = randAttn.AsSpan((h * (num_blocks - 2) + (qb - 1)) * r, r);
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
        return nk;
    }

    /// <summary>One (batch, head) of full attention (the baseline kernel).</summary>
    private sealed class BaselineFullTask : AttentionTask
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
    private sealed class BaselineBlockSparseTask : AttentionTask
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
                Span<int> key_blocks = 5 + r <= 256 ? stackalloc int[5 + r] : new int[5 + r]; // r comes from config.json
                int nk = KeyBlocks(key_blocks, a.Plan.RandAttn!, h, qb, num_blocks, r, out int fromGatedStart, out int fromGatedEnd);
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
        Span<int> order = nk <= 256 ? stackalloc int[nk] : new int[nk];
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
