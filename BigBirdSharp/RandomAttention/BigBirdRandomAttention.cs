namespace BigBirdSharp.RandomAttention;

/// <summary>
/// Builds the random-attention plan (<c>rand_attn</c>) of Hugging Face's <c>BigBirdBlockSparseAttention</c>: for
/// every head and every non-global query block, the key blocks it attends to at random.
/// </summary>
/// <remarks>
/// Each helper ports the same-named method of <c>modeling_big_bird.py</c> in transformers 4.27.1, including the
/// numpy behaviours the reference relies on (floor division, clamping slices, and broadcasting a one-element row
/// into a wider slot). Where numpy would fail, a <see cref="BigBirdException"/> with the same meaning is thrown.
/// Helpers take a <see cref="NumpyRandomState"/>; passing <see langword="null"/> selects
/// <see cref="RandomAttentionSemantics.Deterministic"/>: the inputs are validated as before, no numbers are drawn,
/// and the tables come back all zero with their usual shapes.
/// </remarks>
internal static class BigBirdRandomAttention
{
    /// <summary>
    /// The padded sequence lengths for which the reference uses the "old plan" of the BigBird paper
    /// (<see cref="BigBirdBlockRandMask"/> over the maximum sequence length) instead of the per-head plan.
    /// </summary>
    public static bool IsOldPlanLength(int fromSeqLength) => fromSeqLength is 1024 or 3072 or 4096;

    /// <summary>
    /// Returns <c>rand_attn</c> for one layer and one forward call, as produced inside
    /// <c>BigBirdBlockSparseAttention.bigbird_block_sparse_attention</c> (transformers 4.27.1), before it is
    /// repeated over the batch.
    /// </summary>
    /// <param name="semantics">Seeded (numpy re-seeded with <paramref name="seed"/>) or deterministic (all zeros).</param>
    /// <param name="seed">The seed, which the reference sets to the layer index; must not be negative.</param>
    /// <param name="fromSeqLength">Padded query length (a multiple of <paramref name="fromBlockSize"/>).</param>
    /// <param name="toSeqLength">Padded key length (a multiple of <paramref name="toBlockSize"/>).</param>
    /// <param name="fromBlockSize">Query block size.</param>
    /// <param name="toBlockSize">Key block size.</param>
    /// <param name="numRandBlocks">Random key blocks per query block (<c>num_random_blocks</c>).</param>
    /// <param name="numHeads">Number of attention heads.</param>
    /// <param name="maxSeqlen">The model's <c>max_position_embeddings</c>; only used by the old plan.</param>
    /// <returns>
    /// A row-major array of shape <c>[numHeads, numBlocks - 2, numRandBlocks]</c> (numBlocks being
    /// <c>fromSeqLength / fromBlockSize</c>; no rows when there are fewer than 3 blocks) of key-block indices.
    /// </returns>
    /// <exception cref="BigBirdException">The arguments are invalid or the reference would fail on them.</exception>
    public static int[] GetRandAttn(
        RandomAttentionSemantics semantics,
        int seed,
        int fromSeqLength,
        int toSeqLength,
        int fromBlockSize,
        int toBlockSize,
        int numRandBlocks,
        int numHeads,
        int maxSeqlen)
    {
        if (semantics is not (RandomAttentionSemantics.Deterministic or RandomAttentionSemantics.Seeded))
        {
            throw new BigBirdException($"Unknown random attention semantics {semantics}.");
        }

        if (seed < 0)
        {
            throw new BigBirdException("Seed must be between 0 and 2**32 - 1");
        }

        if (numHeads < 1)
        {
            throw new BigBirdException($"The number of heads must be at least 1, got {numHeads}.");
        }

        RequireBasics(fromSeqLength, toSeqLength, fromBlockSize, toBlockSize);
        if (numRandBlocks < 0)
        {
            throw new BigBirdException($"The number of random blocks must not be negative, got {numRandBlocks}.");
        }

        int numBlocks = fromSeqLength / fromBlockSize;
        if (numBlocks != toSeqLength / toBlockSize)
        {
            throw new BigBirdException("Error the number of blocks needs to be same!");
        }

        // the tables are [heads, blocks, num_random_blocks] (the old plan's per head over max_seqlen): refuse what cannot be held
        long tableBlocks = IsOldPlanLength(fromSeqLength) ? Math.Max(numBlocks, (long)Math.Max(0, maxSeqlen) / toBlockSize) : numBlocks;
        if (!Modeling.TensorSize.Fits(numHeads, tableBlocks, numRandBlocks))
        {
            throw new BigBirdException(
                $"rand_attn [num_heads, blocks, num_random_blocks] = [{numHeads}, {tableBlocks}, {numRandBlocks}] is more than the " +
                $"{Array.MaxLength} entries one buffer can hold (Array.MaxLength); use fewer random blocks.");
        }

        NumpyRandomState? rng = semantics == RandomAttentionSemantics.Seeded ? new NumpyRandomState((uint)seed) : null;

        if (IsOldPlanLength(fromSeqLength))
        {
            return OldPlan(rng, numBlocks, fromBlockSize, toBlockSize, numRandBlocks, numHeads, maxSeqlen);
        }

        (int[] planFromLength, int[] planNumRandBlocks) = GetRandAttnPlan(fromSeqLength, fromBlockSize, numRandBlocks);
        int[][,] perHead = BigBirdBlockRandMaskWithHead(
            rng, fromSeqLength, toSeqLength, fromBlockSize, toBlockSize, numHeads, planFromLength, planNumRandBlocks);
        return Stack(perHead);
    }

    /// <summary>
    /// Port of <c>_get_rand_attn_plan</c> (transformers 4.27.1): splits the query blocks into ranges and says how
    /// many random blocks each range draws.
    /// </summary>
    /// <param name="fromSeqLength">Padded query length.</param>
    /// <param name="fromBlockSize">Query block size.</param>
    /// <param name="numRandBlocks">Random blocks per query block.</param>
    /// <returns>The end of each range (in tokens) and the random-block count of each range.</returns>
    /// <exception cref="BigBirdException"><paramref name="fromBlockSize"/> is not positive.</exception>
    public static (int[] PlanFromLength, int[] PlanNumRandBlocks) GetRandAttnPlan(
        int fromSeqLength, int fromBlockSize, int numRandBlocks)
    {
        if (fromBlockSize < 1)
        {
            throw new BigBirdException($"Block size must be positive, got {fromBlockSize}.");
        }

        int numBlocks = FloorDiv(fromSeqLength, fromBlockSize);
        // in 64 bits: each branch's product is below numBlocks · block ≤ fromSeqLength, so it fits an int once taken
        if (2L * numRandBlocks + 5 < numBlocks)
        {
            return ([(int)((2L * numRandBlocks + 5) * fromBlockSize), fromSeqLength], [numRandBlocks, 0]);
        }

        if ((long)numRandBlocks + 5 < numBlocks)
        {
            int half = FloorDiv(numRandBlocks, 2);
            return ([(int)((numRandBlocks + 5L) * fromBlockSize), fromSeqLength], [half, numRandBlocks - half]);
        }

        return ([fromSeqLength], [numRandBlocks]);
    }

    /// <summary>
    /// Port of <c>_bigbird_block_rand_mask</c> (transformers 4.27.1), the "old plan" of the BigBird paper: one
    /// table whose row <c>i - 1</c> holds the random key blocks of query block <c>i</c>, each row cut from a fresh
    /// permutation of the middle blocks, restricted to blocks below <paramref name="lastIdx"/> when it is large
    /// enough. The reference's known quirks (rows near the end not excluding their own window) are kept.
    /// </summary>
    /// <param name="rng">The generator to draw from, or <see langword="null"/> for the deterministic all-zero table.</param>
    /// <param name="fromSeqLength">Query length the table is built for.</param>
    /// <param name="toSeqLength">Key length the table is built for.</param>
    /// <param name="fromBlockSize">Query block size.</param>
    /// <param name="toBlockSize">Key block size.</param>
    /// <param name="numRandBlocks">Random blocks per row.</param>
    /// <param name="lastIdx">When above <c>2 * toBlockSize</c>, only key blocks before token <c>lastIdx</c> are drawn.</param>
    /// <returns>A <c>[fromSeqLength / fromBlockSize - 2, numRandBlocks]</c> table.</returns>
    /// <exception cref="BigBirdException">The block counts differ, a dimension is negative, or a row cannot be filled.</exception>
    public static int[,] BigBirdBlockRandMask(
        NumpyRandomState? rng,
        int fromSeqLength,
        int toSeqLength,
        int fromBlockSize,
        int toBlockSize,
        int numRandBlocks,
        int lastIdx = -1)
    {
        RequireBasics(fromSeqLength, toSeqLength, fromBlockSize, toBlockSize);
        int fromBlocks = fromSeqLength / fromBlockSize;
        int toBlocks = toSeqLength / toBlockSize;
        if (fromBlocks != toBlocks)
        {
            throw new BigBirdException("Error the number of blocks needs to be same!");
        }

        if (fromBlocks - 2 < 0 || numRandBlocks < 0)
        {
            throw new BigBirdException("negative dimensions are not allowed");
        }

        if (!Modeling.TensorSize.Fits(fromBlocks - 2, numRandBlocks))
        {
            throw new BigBirdException(
                $"rand_attn [{fromBlocks - 2}, {numRandBlocks}] is more than the {Array.MaxLength} entries one buffer can hold; use fewer random blocks.");
        }

        var randAttn = new int[fromBlocks - 2, numRandBlocks];
        if (rng is null)
        {
            return randAttn;
        }

        // middle_seq = 1 .. toBlocks - 2
        var middleSeq = new int[Math.Max(0, toBlocks - 2)];
        for (int k = 0; k < middleSeq.Length; k++)
        {
            middleSeq[k] = k + 1;
        }

        int last = toBlocks - 1;
        if (lastIdx > 2L * toBlockSize)
        {
            last = FloorDiv(lastIdx, toBlockSize) - 1;
        }

        int r = numRandBlocks;
        for (int i = 1; i < fromBlocks - 1; i++)
        {
            int start = i - 2;
            int end = i;
            int[] candidates;
            if (i == 1)
            {
                candidates = Slice(middleSeq, 2, last);
            }
            else if (i == 2)
            {
                candidates = Slice(middleSeq, 3, last);
            }
            else if (i == fromBlocks - 3 || i == fromBlocks - 2)
            {
                candidates = Slice(middleSeq, null, last);
            }
            else if (start > last)
            {
                start = last;
                candidates = Slice(middleSeq, null, start);
            }
            else if (end + 1 == last)
            {
                candidates = Slice(middleSeq, null, start);
            }
            else
            {
                candidates = [.. Slice(middleSeq, null, start), .. Slice(middleSeq, end + 1, last)];
            }

            int[] permuted = rng.Permutation(candidates);
            AssignRow(randAttn, i - 1, 0, r, permuted.AsSpan(0, Math.Min(r, permuted.Length)));
        }

        return randAttn;
    }

    /// <summary>
    /// Port of <c>_bigbird_block_rand_mask_with_head</c> (transformers 4.27.1): one table per head, walking the
    /// plan ranges and asking <see cref="GetSingleBlockRowAttention"/> for each (row, head) pair in the reference's
    /// order, then dropping the global rows at the top and bottom.
    /// </summary>
    /// <param name="rng">The generator to draw from, or <see langword="null"/> for deterministic all-zero tables.</param>
    /// <param name="fromSeqLength">Padded query length; must appear in <paramref name="planFromLength"/>.</param>
    /// <param name="toSeqLength">Padded key length.</param>
    /// <param name="fromBlockSize">Query block size.</param>
    /// <param name="toBlockSize">Key block size.</param>
    /// <param name="numHeads">Number of heads (tables).</param>
    /// <param name="planFromLength">Range ends in tokens, as from <see cref="GetRandAttnPlan"/>; not negative.</param>
    /// <param name="planNumRandBlocks">Random blocks of each range; not negative.</param>
    /// <param name="windowBlockLeft">Window blocks left of a row that may not be drawn.</param>
    /// <param name="windowBlockRight">Window blocks right of a row that may not be drawn.</param>
    /// <param name="globalBlockTop">Global query rows at the top (not drawn for, and removed).</param>
    /// <param name="globalBlockBottom">Global query rows at the bottom (removed).</param>
    /// <param name="globalBlockLeft">Global key blocks at the start that may not be drawn.</param>
    /// <param name="globalBlockRight">Global key blocks at the end of a range that may not be drawn.</param>
    /// <returns>
    /// One table per head with the rows <c>globalBlockTop .. numBlocks - globalBlockBottom</c> (Python slice
    /// rules) and as many columns as the plan's random blocks up to the range ending at <paramref name="fromSeqLength"/>.
    /// </returns>
    /// <exception cref="BigBirdException">
    /// The block counts differ, <paramref name="fromSeqLength"/> is not in the plan, the plan is malformed, or a
    /// drawn row cannot be stored (too few legal blocks).
    /// </exception>
    public static int[][,] BigBirdBlockRandMaskWithHead(
        NumpyRandomState? rng,
        int fromSeqLength,
        int toSeqLength,
        int fromBlockSize,
        int toBlockSize,
        int numHeads,
        IReadOnlyList<int> planFromLength,
        IReadOnlyList<int> planNumRandBlocks,
        int windowBlockLeft = 1,
        int windowBlockRight = 1,
        int globalBlockTop = 1,
        int globalBlockBottom = 1,
        int globalBlockLeft = 1,
        int globalBlockRight = 1)
    {
        ArgumentNullException.ThrowIfNull(planFromLength);
        ArgumentNullException.ThrowIfNull(planNumRandBlocks);
        RequireBasics(fromSeqLength, toSeqLength, fromBlockSize, toBlockSize);
        if (fromSeqLength / fromBlockSize != toSeqLength / toBlockSize)
        {
            throw new BigBirdException("Error the number of blocks needs to be same!");
        }

        int maxPlanIdx = -1;
        for (int k = 0; k < planFromLength.Count; k++)
        {
            if (planFromLength[k] == fromSeqLength)
            {
                maxPlanIdx = k;
                break;
            }
        }

        if (maxPlanIdx < 0)
        {
            throw new BigBirdException("Error from sequence length not in plan!");
        }

        if (planNumRandBlocks.Count <= maxPlanIdx)
        {
            throw new BigBirdException("The random-block plan has fewer entries than the length plan.");
        }

        if (numHeads < 0 || globalBlockTop < 0 || globalBlockBottom < 0)
        {
            throw new BigBirdException("Head and global block counts must not be negative.");
        }

        for (int k = 0; k <= maxPlanIdx; k++)
        {
            if (planFromLength[k] < 0 || planNumRandBlocks[k] < 0)
            {
                throw new BigBirdException("Plan entries must not be negative.");
            }
        }

        int numBlocks = fromSeqLength / fromBlockSize;
        var planBlockLength = new int[planFromLength.Count];
        for (int k = 0; k < planBlockLength.Length; k++)
        {
            planBlockLength[k] = FloorDiv(planFromLength[k], fromBlockSize);
        }

        int width = SumPrefix(planNumRandBlocks, maxPlanIdx + 1);
        if (!Modeling.TensorSize.Fits(numHeads, numBlocks, width))
        {
            throw new BigBirdException(
                $"rand_attn [num_heads, blocks, random blocks] = [{numHeads}, {numBlocks}, {width}] is more than the {Array.MaxLength} " +
                "entries one buffer can hold (Array.MaxLength); use fewer random blocks.");
        }

        var randAttn = new int[numHeads][,];
        for (int h = 0; h < numHeads; h++)
        {
            randAttn[h] = new int[numBlocks, width];
        }

        if (rng is not null)
        {
            for (int planIdx = 0; planIdx <= maxPlanIdx; planIdx++)
            {
                int rndRCnt = 0;
                int currRCnt;
                if (planIdx > 0)
                {
                    if (planNumRandBlocks[planIdx] > 0)
                    {
                        rndRCnt = SumPrefix(planNumRandBlocks, planIdx);
                        currRCnt = SumPrefix(planNumRandBlocks, planIdx + 1);
                        for (int blkRwIdx = globalBlockTop; blkRwIdx < planBlockLength[planIdx - 1]; blkRwIdx++)
                        {
                            for (int h = 0; h < numHeads; h++)
                            {
                                int[] row = GetSingleBlockRowAttention(
                                    rng, blkRwIdx, planBlockLength[planIdx - 1], planBlockLength[planIdx],
                                    planNumRandBlocks[planIdx], windowBlockLeft, windowBlockRight,
                                    globalBlockLeft, globalBlockRight);
                                AssignRow(randAttn[h], blkRwIdx, rndRCnt, currRCnt, row);
                            }
                        }
                    }

                    for (int plId = 0; plId < planIdx; plId++)
                    {
                        if (planNumRandBlocks[plId] == 0)
                        {
                            continue;
                        }

                        for (int blkRwIdx = planBlockLength[planIdx - 1]; blkRwIdx < planBlockLength[planIdx]; blkRwIdx++)
                        {
                            rndRCnt = 0;
                            int toStartBlockIdForPl = 0;
                            if (plId > 0)
                            {
                                rndRCnt = SumPrefix(planNumRandBlocks, plId);
                                toStartBlockIdForPl = planBlockLength[plId - 1];
                            }

                            currRCnt = SumPrefix(planNumRandBlocks, plId + 1);
                            for (int h = 0; h < numHeads; h++)
                            {
                                int[] row = GetSingleBlockRowAttention(
                                    rng, blkRwIdx, toStartBlockIdForPl, planBlockLength[plId],
                                    planNumRandBlocks[plId], windowBlockLeft, windowBlockRight,
                                    globalBlockLeft, globalBlockRight);
                                AssignRow(randAttn[h], blkRwIdx, rndRCnt, currRCnt, row);
                            }
                        }
                    }
                }

                if (planNumRandBlocks[planIdx] == 0)
                {
                    continue;
                }

                currRCnt = SumPrefix(planNumRandBlocks, planIdx + 1);
                int fromStartBlockId = globalBlockTop;
                int toStartBlockId = 0;
                if (planIdx > 0)
                {
                    rndRCnt = SumPrefix(planNumRandBlocks, planIdx);
                    fromStartBlockId = planBlockLength[planIdx - 1];
                    toStartBlockId = planBlockLength[planIdx - 1];
                }

                for (int blkRwIdx = fromStartBlockId; blkRwIdx < planBlockLength[planIdx]; blkRwIdx++)
                {
                    for (int h = 0; h < numHeads; h++)
                    {
                        int[] row = GetSingleBlockRowAttention(
                            rng, blkRwIdx, toStartBlockId, planBlockLength[planIdx], planNumRandBlocks[planIdx],
                            windowBlockLeft, windowBlockRight, globalBlockLeft, globalBlockRight);
                        AssignRow(randAttn[h], blkRwIdx, rndRCnt, currRCnt, row);
                    }
                }
            }
        }

        (int keepStart, int keepStop) = PySlice(numBlocks, globalBlockTop, numBlocks - globalBlockBottom);
        var result = new int[numHeads][,];
        for (int h = 0; h < numHeads; h++)
        {
            var kept = new int[keepStop - keepStart, width];
            for (int row = keepStart; row < keepStop; row++)
            {
                for (int col = 0; col < width; col++)
                {
                    kept[row - keepStart, col] = randAttn[h][row, col];
                }
            }

            result[h] = kept;
        }

        return result;
    }

    /// <summary>
    /// Port of <c>_get_single_block_row_attention</c> (transformers 4.27.1): permutes the key blocks
    /// <c>[toStartBlockId, toEndBlockId)</c> and keeps, in permuted order, the first
    /// <paramref name="numRandBlocks"/> that are not illegal for <paramref name="blockId"/> (its window, the global
    /// blocks at either end of the range, and the second/second-to-last special cases). Fewer values come back when
    /// too few blocks are legal.
    /// </summary>
    /// <param name="rng">The generator to draw from (one permutation of the range).</param>
    /// <param name="blockId">The query block whose row is drawn.</param>
    /// <param name="toStartBlockId">First key block of the range.</param>
    /// <param name="toEndBlockId">One past the last key block of the range.</param>
    /// <param name="numRandBlocks">How many blocks to select.</param>
    /// <param name="windowBlockLeft">Window blocks left of <paramref name="blockId"/> that are illegal.</param>
    /// <param name="windowBlockRight">Window blocks right of <paramref name="blockId"/> that are illegal.</param>
    /// <param name="globalBlockLeft">Blocks <c>0 .. globalBlockLeft - 1</c> are illegal.</param>
    /// <param name="globalBlockRight">The last <paramref name="globalBlockRight"/> blocks before <paramref name="toEndBlockId"/> are illegal.</param>
    /// <returns>The selected key blocks, at most <paramref name="numRandBlocks"/> of them.</returns>
    public static int[] GetSingleBlockRowAttention(
        NumpyRandomState rng,
        int blockId,
        int toStartBlockId,
        int toEndBlockId,
        int numRandBlocks,
        int windowBlockLeft = 1,
        int windowBlockRight = 1,
        int globalBlockLeft = 1,
        int globalBlockRight = 1)
    {
        ArgumentNullException.ThrowIfNull(rng);
        int count = Math.Max(0, toEndBlockId - toStartBlockId);
        var toBlockList = new int[count];
        for (int k = 0; k < count; k++)
        {
            toBlockList[k] = toStartBlockId + k;
        }

        rng.Shuffle(toBlockList);
        int[] permBlock = toBlockList;

        var illegalBlocks = new List<int>();
        for (int b = blockId - windowBlockLeft; b < blockId + windowBlockRight + 1; b++)
        {
            illegalBlocks.Add(b);
        }

        for (int b = 0; b < globalBlockLeft; b++)
        {
            illegalBlocks.Add(b);
        }

        for (int b = toEndBlockId - globalBlockRight; b < toEndBlockId; b++)
        {
            illegalBlocks.Add(b);
        }

        if (blockId == 1)
        {
            illegalBlocks.Add(toEndBlockId - 2);
        }

        if (blockId == toEndBlockId - 2)
        {
            illegalBlocks.Add(1);
        }

        var selectedRandomBlocks = new List<int>();
        for (int i = 0; i < count; i++)
        {
            if (!illegalBlocks.Contains(permBlock[i]))
            {
                selectedRandomBlocks.Add(permBlock[i]);
            }

            if (selectedRandomBlocks.Count == numRandBlocks)
            {
                break;
            }
        }

        return [.. selectedRandomBlocks];
    }

    private static int[] OldPlan(
        NumpyRandomState? rng, int numBlocks, int fromBlockSize, int toBlockSize, int numRandBlocks, int numHeads,
        int maxSeqlen)
    {
        if (numBlocks < 2)
        {
            throw new BigBirdException(
                $"Block size {fromBlockSize} leaves fewer than 2 blocks; block-sparse attention cannot run.");
        }

        if (maxSeqlen < 0)
        {
            throw new BigBirdException($"max_position_embeddings must not be negative, got {maxSeqlen}.");
        }

        int rows = numBlocks - 2;
        var flat = new int[numHeads * rows * numRandBlocks];
        for (int h = 0; h < numHeads; h++)
        {
            int[,] table = BigBirdBlockRandMask(
                rng, maxSeqlen, maxSeqlen, fromBlockSize, toBlockSize, numRandBlocks, lastIdx: 1024);
            if (table.GetLength(0) < rows)
            {
                throw new BigBirdException(
                    $"Sequence length {numBlocks * fromBlockSize} needs {rows} random-attention rows but " +
                    $"max_position_embeddings {maxSeqlen} only provides {table.GetLength(0)}.");
            }

            for (int row = 0; row < rows; row++)
            {
                for (int col = 0; col < numRandBlocks; col++)
                {
                    flat[(h * rows + row) * numRandBlocks + col] = table[row, col];
                }
            }
        }

        return flat;
    }

    private static int[] Stack(int[][,] perHead)
    {
        int rows = perHead.Length == 0 ? 0 : perHead[0].GetLength(0);
        int cols = perHead.Length == 0 ? 0 : perHead[0].GetLength(1);
        var flat = new int[perHead.Length * rows * cols];
        for (int h = 0; h < perHead.Length; h++)
        {
            for (int row = 0; row < rows; row++)
            {
                for (int col = 0; col < cols; col++)
                {
                    flat[(h * rows + row) * cols + col] = perHead[h][row, col];
                }
            }
        }

        return flat;
    }

    private static void RequireBasics(int fromSeqLength, int toSeqLength, int fromBlockSize, int toBlockSize)
    {
        if (fromBlockSize < 1 || toBlockSize < 1)
        {
            throw new BigBirdException($"Block sizes must be positive, got {fromBlockSize} and {toBlockSize}.");
        }

        if (fromSeqLength < 0 || toSeqLength < 0)
        {
            throw new BigBirdException($"Sequence lengths must not be negative, got {fromSeqLength} and {toSeqLength}.");
        }
    }

    /// <summary>Stores <paramref name="values"/> into columns [colStart, colStop) of a row, with numpy's rules.</summary>
    private static void AssignRow(int[,] table, int row, int colStart, int colStop, ReadOnlySpan<int> values)
    {
        int height = table.GetLength(0);
        if (row < 0 || row >= height)
        {
            throw new BigBirdException($"index {row} is out of bounds for axis 0 with size {height}");
        }

        (int start, int stop) = PySlice(table.GetLength(1), colStart, colStop);
        int width = stop - start;
        if (values.Length == width)
        {
            for (int k = 0; k < width; k++)
            {
                table[row, start + k] = values[k];
            }
        }
        else if (values.Length == 1)
        {
            for (int k = 0; k < width; k++)
            {
                table[row, start + k] = values[0];
            }
        }
        else
        {
            throw new BigBirdException(
                $"could not broadcast input array from shape ({values.Length},) into shape ({width},)");
        }
    }

    /// <summary>Copies <c>source[start:stop]</c> with Python's slice rules (negative ends count from the back, ends clamp).</summary>
    private static int[] Slice(int[] source, int? start, int? stop)
    {
        (int from, int to) = PySlice(source.Length, start, stop);
        return source.AsSpan(from, to - from).ToArray();
    }

    /// <summary>Resolves a step-1 Python slice over a sequence of <paramref name="length"/> items.</summary>
    private static (int Start, int Stop) PySlice(int length, int? start, int? stop)
    {
        int Resolve(int? index, int fallback)
        {
            if (index is not int value)
            {
                return fallback;
            }

            if (value < 0)
            {
                value += length;
            }

            return Math.Clamp(value, 0, length);
        }

        int from = Resolve(start, 0);
        int to = Resolve(stop, length);
        return (from, Math.Max(from, to));
    }

    private static int SumPrefix(IReadOnlyList<int> values, int count)
    {
        long sum = 0;
        for (int k = 0; k < Math.Min(count, values.Count); k++)
        {
            sum += values[k];
        }

        if (sum > int.MaxValue)
        {
            throw new BigBirdException($"The plan's random blocks add up to {sum}, more than one table can hold; use fewer random blocks.");
        }

        return (int)sum;
    }

    private static int FloorDiv(int a, int b)
    {
        int q = a / b;
        return (a % b != 0) && ((a < 0) != (b < 0)) ? q - 1 : q;
    }
}
