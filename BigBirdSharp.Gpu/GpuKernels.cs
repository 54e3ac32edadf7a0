using ILGPU;

namespace BigBirdSharp.Gpu;

/// <summary>
/// The device kernels of <see cref="GpuBackend"/>, written once in C# and compiled by ILGPU for the accelerator (PTX for
/// CUDA, IL for its CPU accelerator). Explicitly grouped kernels (<see cref="Linear"/>, <see cref="LayerNorm"/> and the
/// attention kernels) use the group's dynamic shared memory, sized at launch; reductions over a group are shared-memory
/// trees, so group sizes are powers of two. Every index is an int: the seam's views are int-sized.
/// </summary>
internal static class GpuKernels
{
    /// <summary>HF's attn_mask_penalty in bigbird_block_sparse_attention.</summary>
    private const float AttnMaskPenalty = -10000f;

    // ---------------------------------------------------------------- Linear

    public struct LinearShape
    {
        public int Rows, In, Out, HasBias, Activation;
    }

    /// <summary>
    /// y[rows, out] = act(x[rows, in]·Wᵀ + b), W [out, in] as torch stores it. A T×T group computes a T×T tile of y: per step
    /// it stages a T×T tile of x and one of W (both read along in_features, so the loads are coalesced) in shared memory, and
    /// each thread accumulates one output in fp32. The bias and the activation run on the accumulator before the one write.
    /// </summary>
    public static void Linear(ArrayView<float> y, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, LinearShape s)
    {
        int t = Group.DimX;
        var shared = SharedMemory.GetDynamic<float>();
        var xs = shared.SubView(0, t * t);
        var ws = shared.SubView(t * t, t * t);
        int tx = Group.IdxX, ty = Group.IdxY;
        int row = Grid.IdxY * t + ty, col = Grid.IdxX * t + tx;
        int wRow = Grid.IdxX * t + ty; // the W row (output feature) this thread stages
        float acc = 0f;
        for (int k0 = 0; k0 < s.In; k0 += t)
        {
            int k = k0 + tx;
            xs[ty * t + tx] = row < s.Rows && k < s.In ? x[row * s.In + k] : 0f;
            ws[ty * t + tx] = wRow < s.Out && k < s.In ? w[wRow * s.In + k] : 0f;
            Group.Barrier();
            int kEnd = s.In - k0 < t ? s.In - k0 : t;
            for (int kk = 0; kk < kEnd; kk++)
                acc += xs[ty * t + kk] * ws[tx * t + kk];
            Group.Barrier();
        }
        if (row < s.Rows && col < s.Out)
        {
            if (s.HasBias != 0) acc += bias[col];
            y[row * s.Out + col] = DeviceActivations.Apply(acc, s.Activation);
        }
    }

    // ---------------------------------------------------------------- elementwise

    public static void Activate(Index1D i, ArrayView<float> x, int kind) => x[i] = DeviceActivations.Apply(x[i], kind);

    // y may alias a or b: each element is read before it is written, by the same thread
    public static void Add(Index1D i, ArrayView<float> y, ArrayView<float> a, ArrayView<float> b) => y[i] = a[i] + b[i];

    public static void Copy(Index1D i, ArrayView<float> dst, int dstStride, ArrayView<float> src, int srcStride, int rowLength)
    {
        int r = i / rowLength, j = i - r * rowLength;
        dst[r * dstStride + j] = src[r * srcStride + j];
    }

    public struct HeadsShape
    {
        public int Batch, Seq, Heads, HeadDim, Split;
    }

    /// <summary>One element of transpose_for_scores (Split 1: [b, t, h·d] → [b, h, t, d]) or its inverse (Split 0), indexed by the destination.</summary>
    public static void Heads(Index1D i, ArrayView<float> dst, ArrayView<float> src, HeadsShape s)
    {
        int x = i % s.HeadDim, rest = i / s.HeadDim;
        if (s.Split != 0)
        {
            int t = rest % s.Seq, bh = rest / s.Seq, h = bh % s.Heads, b = bh / s.Heads;
            dst[i] = src[((b * s.Seq + t) * s.Heads + h) * s.HeadDim + x];
        }
        else
        {
            int h = rest % s.Heads, bt = rest / s.Heads, t = bt % s.Seq, b = bt / s.Seq;
            dst[i] = src[((b * s.Heads + h) * s.Seq + t) * s.HeadDim + x];
        }
    }

    public struct EmbeddingShape
    {
        public int Hidden, ByIds;
        public float WordScale;
    }

    /// <summary>y[i] = word[i]·scale + type + position, summed in the CPU backend's order; ids are the int bits of <paramref name="ids"/>: [input_ids | token_type_ids | position_ids].</summary>
    public static void EmbeddingSum(Index1D i, ArrayView<float> y, ArrayView<float> words, ArrayView<float> embeds, ArrayView<float> types,
                                    ArrayView<float> positions, ArrayView<int> ids, EmbeddingShape s)
    {
        int rows = (int)(y.Length / s.Hidden);
        int r = i / s.Hidden, j = i - r * s.Hidden;
        float word = s.ByIds != 0 ? words[ids[r] * s.Hidden + j] : embeds[i];
        float x = s.WordScale == 1f ? word : word * s.WordScale;
        int typeId = ids[rows + r], positionId = ids[2 * rows + r];
        y[i] = (x + types[typeId * s.Hidden + j]) + positions[positionId * s.Hidden + j];
    }

    // ---------------------------------------------------------------- LayerNorm

    public struct LayerNormShape
    {
        public int Cols, HasResidual;
        public float Eps;
    }

    /// <summary>
    /// One row per group: s = x + residual in fp32 (as torch adds), then mean and biased variance accumulated in double by
    /// a shared-memory tree (a large mean over a small spread would lose digits in fp32), then (s − mean)·rstd·gamma + beta.
    /// Each thread reads and writes only its own columns, so <paramref name="y"/> may be x or the residual.
    /// </summary>
    public static void LayerNorm(ArrayView<float> y, ArrayView<float> x, ArrayView<float> residual, ArrayView<float> gamma, ArrayView<float> beta,
                                 LayerNormShape s)
    {
        var partial = SharedMemory.GetDynamic<double>();
        int tid = Group.IdxX, g = Group.DimX, row = Grid.IdxX;
        int offset = row * s.Cols;
        double sum = 0;
        for (int j = tid; j < s.Cols; j += g)
            sum += s.HasResidual != 0 ? x[offset + j] + residual[offset + j] : x[offset + j];
        double mean = SumOverGroup(partial, sum, tid, g) / s.Cols;
        double squares = 0;
        for (int j = tid; j < s.Cols; j += g)
        {
            double d = (s.HasResidual != 0 ? x[offset + j] + residual[offset + j] : x[offset + j]) - mean;
            squares += d * d;
        }
        double variance = SumOverGroup(partial, squares, tid, g) / s.Cols;
        double rstd = 1.0 / Math.Sqrt(variance + s.Eps);
        for (int j = tid; j < s.Cols; j += g)
        {
            float v = s.HasResidual != 0 ? x[offset + j] + residual[offset + j] : x[offset + j];
            y[offset + j] = (float)((v - mean) * rstd * gamma[j] + beta[j]);
        }
    }

    private static double SumOverGroup(ArrayView<double> partial, double value, int tid, int g)
    {
        partial[tid] = value;
        Group.Barrier();
        for (int stride = g / 2; stride > 0; stride /= 2)
        {
            if (tid < stride) partial[tid] += partial[tid + stride];
            Group.Barrier();
        }
        double total = partial[0];
        Group.Barrier();
        return total;
    }

    private static float MaxOverGroup(ArrayView<float> partial, float value, int tid, int g)
    {
        partial[tid] = value;
        Group.Barrier();
        for (int stride = g / 2; stride > 0; stride /= 2)
        {
            if (tid < stride && partial[tid + stride] > partial[tid]) partial[tid] = partial[tid + stride];
            Group.Barrier();
        }
        float total = partial[0];
        Group.Barrier();
        return total;
    }

    private static float SumOverGroup(ArrayView<float> partial, float value, int tid, int g)
    {
        partial[tid] = value;
        Group.Barrier();
        for (int stride = g / 2; stride > 0; stride /= 2)
        {
            if (tid < stride) partial[tid] += partial[tid + stride];
            Group.Barrier();
        }
        float total = partial[0];
        Group.Barrier();
        return total;
    }

    // ---------------------------------------------------------------- attention

    public struct AttentionViews
    {
        public ArrayView<float> Context, Query, Key, Value, Mask, Probs, Scratch, HeadMask;
    }

    public struct FullShape
    {
        public int Heads, Seq, HeadDim, Keys, KeyStride, CausalOffset, HasHeadMask, HasProbs, RowStart;
    }

    /// <summary>
    /// <c>BigBirdSelfAttention</c> for one query row per group (rows numbered across every (batch, head) from RowStart):
    /// scores q·kᵀ/√d + mask (or finfo.min past the causal diagonal) into the row's scratch, softmax by group max and sum
    /// reductions, · head_mask, the probabilities written out when asked, then context = p·v with one thread per column.
    /// </summary>
    public static void FullAttention(AttentionViews v, FullShape s)
    {
        var partial = SharedMemory.GetDynamic<float>();
        int tid = Group.IdxX, g = Group.DimX;
        int row = s.RowStart + Grid.IdxX;
        int bh = row / s.Seq, qi = row - bh * s.Seq, b = bh / s.Heads, h = bh - b * s.Heads;
        int d = s.HeadDim, keys = s.Keys;
        var scores = v.Scratch.SubView(Grid.IdxX * keys, keys);
        int qOffset = (bh * s.Seq + qi) * d, kvOffset = bh * s.KeyStride * d;
        float sqrtD = MathF.Sqrt(d);
        int lastVisible = s.CausalOffset < 0 ? int.MaxValue : s.CausalOffset + qi;

        float max = float.NegativeInfinity;
        for (int j = tid; j < keys; j += g)
        {
            float dot = 0f;
            for (int x = 0; x < d; x++) dot += v.Query[qOffset + x] * v.Key[kvOffset + j * d + x];
            float score = dot / sqrtD + (j > lastVisible ? float.MinValue : v.Mask[b * keys + j]);
            scores[j] = score;
            if (score > max) max = score;
        }
        max = MaxOverGroup(partial, max, tid, g);
        float sum = 0f;
        for (int j = tid; j < keys; j += g)
        {
            float e = MathF.Exp(scores[j] - max);
            scores[j] = e;
            sum += e;
        }
        sum = SumOverGroup(partial, sum, tid, g);
        float scale = (s.HasHeadMask != 0 ? v.HeadMask[h] : 1f) / sum;
        for (int j = tid; j < keys; j += g)
        {
            float p = scores[j] * scale;
            scores[j] = p;
            if (s.HasProbs != 0) v.Probs[(bh * s.Seq + qi) * keys + j] = p;
        }
        Group.Barrier();
        for (int x = tid; x < d; x += g)
        {
            float acc = 0f;
            for (int j = 0; j < keys; j++) acc += scores[j] * v.Value[kvOffset + j * d + x];
            v.Context[qOffset + x] = acc;
        }
    }

    public struct SparseShape
    {
        public int Heads, Seq, HeadDim, Block, RandomBlocks, HasProbs, RowStart, Width;
    }

    /// <summary>
    /// The key block in slot <paramref name="slot"/> of query block <paramref name="qb"/> (1 ≤ qb ≤ n − 2), in HF's
    /// concatenation order: block 1 sees [0, 1, 2, n−1, rand…], block n−2 [0, n−3, n−2, n−1, rand…], a middle block q
    /// [0, q−1, q, q+1, rand…, n−1]. <paramref name="gated"/>: whether from_mask also gates the slot (the band and random
    /// slots of a middle block, the random slots of blocks 1 and n−2).
    /// </summary>
    private static int KeyBlock(ArrayView<int> randAttn, int h, int qb, int n, int r, int slot, out int gated)
    {
        int randBase = (h * (n - 2) + (qb - 1)) * r;
        if (qb == 1 || qb == n - 2)
        {
            gated = slot >= 4 ? 1 : 0;
            if (slot >= 4) return randAttn[randBase + slot - 4];
            if (slot == 0) return 0;
            if (slot == 3) return n - 1;
            return qb == 1 ? slot : n - 4 + slot; // [1, 2] or [n−3, n−2]
        }
        gated = slot >= 1 && slot < 4 + r ? 1 : 0;
        if (slot == 0) return 0;
        if (slot < 4) return qb - 2 + slot;
        if (slot < 4 + r) return randAttn[randBase + slot - 4];
        return n - 1;
    }

    /// <summary>
    /// <c>bigbird_block_sparse_attention</c> for one query row per group (rows numbered across every (batch, head) from
    /// RowStart). The first and last query blocks score every key; any other block gathers its key blocks by
    /// <see cref="KeyBlock"/> (repeats counted as HF counts them). Scores are q·k·rsqrt_d + (1 − to_mask)·(−10000), the
    /// gated slots of a padded query row −10000 outright; then softmax, context = p·v over the gathered blocks, and
    /// context_layer *= from_mask. The dense probabilities (zeroed beforehand) are written in HF's overwrite order: one
    /// thread per column of a block visits the slots in that order, so where blocks repeat the last write wins.
    /// </summary>
    public static void BlockSparseAttention(AttentionViews v, ArrayView<int> randAttn, SparseShape s)
    {
        var partial = SharedMemory.GetDynamic<float>();
        int tid = Group.IdxX, g = Group.DimX;
        int row = s.RowStart + Grid.IdxX;
        int seq = s.Seq, d = s.HeadDim, block = s.Block, r = s.RandomBlocks, n = seq / block;
        int bh = row / seq, t = row - bh * seq, b = bh / s.Heads, h = bh - b * s.Heads;
        int qb = t / block;
        bool global = qb == 0 || qb == n - 1;
        int slots = global ? n : qb == 1 || qb == n - 2 ? 4 + r : 5 + r;
        int keys = slots * block;
        var scores = v.Scratch.SubView(Grid.IdxX * s.Width, keys);
        int qOffset = (bh * seq + t) * d, headOffset = bh * seq * d, maskOffset = b * seq;
        bool fromPadded = v.Mask[maskOffset + t] == 0f;
        float rsqrtD = 1f / MathF.Sqrt(d);

        float max = float.NegativeInfinity;
        for (int j = tid; j < keys; j += g)
        {
            int slot = j / block, gated = 0;
            int kb = global ? slot : KeyBlock(randAttn, h, qb, n, r, slot, out gated);
            int key = kb * block + (j - slot * block);
            float dot = 0f;
            for (int x = 0; x < d; x++) dot += v.Query[qOffset + x] * v.Key[headOffset + key * d + x];
            float penalty = fromPadded && gated != 0 ? AttnMaskPenalty : (1f - v.Mask[maskOffset + key]) * AttnMaskPenalty;
            float score = dot * rsqrtD + penalty;
            scores[j] = score;
            if (score > max) max = score;
        }
        max = MaxOverGroup(partial, max, tid, g);
        float sum = 0f;
        for (int j = tid; j < keys; j += g)
        {
            float e = MathF.Exp(scores[j] - max);
            scores[j] = e;
            sum += e;
        }
        sum = SumOverGroup(partial, sum, tid, g);
        float inv = 1f / sum;
        for (int j = tid; j < keys; j += g) scores[j] *= inv;
        Group.Barrier();

        for (int x = tid; x < d; x += g)
        {
            float acc = 0f;
            if (!fromPadded)
                for (int j = 0; j < keys; j++)
                {
                    int slot = j / block, gated;
                    int kb = global ? slot : KeyBlock(randAttn, h, qb, n, r, slot, out gated);
                    acc += scores[j] * v.Value[headOffset + (kb * block + j - slot * block) * d + x];
                }
            v.Context[qOffset + x] = acc; // context_layer *= from_mask
        }

        if (s.HasProbs != 0)
        {
            int probsRow = (bh * seq + t) * seq;
            bool middle = qb >= 2 && qb <= n - 3;
            for (int c = tid; c < block; c += g)
                for (int o = 0; o < slots; o++)
                {
                    // HF's order: a middle block writes its inner band (slots 1..3), the first (0) and last, then the random ones
                    int slot = !middle ? o : o < 3 ? o + 1 : o == 3 ? 0 : o == 4 ? slots - 1 : o - 1;
                    int gated;
                    int kb = global ? slot : KeyBlock(randAttn, h, qb, n, r, slot, out gated);
                    v.Probs[probsRow + kb * block + c] = scores[slot * block + c];
                }
        }
    }
}
