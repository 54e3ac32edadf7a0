using BigBirdSharp.Configuration;

namespace BigBirdSharp.Backends;

/// <summary>
/// How one layer attends in one call: HF's <c>attention_type</c> together with, under block_sparse, the block
/// geometry and the layer's random key blocks <c>rand_attn</c> ([heads, num_blocks − 2, num_random_blocks]).
/// </summary>
public readonly record struct AttentionPlan
{
    /// <summary>original_full: every query sees every key.</summary>
    public static AttentionPlan Full => new() { Type = AttentionType.OriginalFull };

    /// <summary>block_sparse with <paramref name="blockSize"/>, <paramref name="numRandomBlocks"/> and the layer's random plan.</summary>
    public static AttentionPlan BlockSparse(int blockSize, int numRandomBlocks, int[] randAttn) => new()
    {
        Type = AttentionType.BlockSparse, BlockSize = blockSize, NumRandomBlocks = numRandomBlocks, RandAttn = randAttn,
    };

    /// <summary>original_full or block_sparse.</summary>
    public AttentionType Type { get; init; }
    /// <summary>block_size (block_sparse only).</summary>
    public int BlockSize { get; init; }
    /// <summary>num_random_blocks (block_sparse only).</summary>
    public int NumRandomBlocks { get; init; }
    /// <summary>rand_attn, [heads, num_blocks − 2, num_random_blocks] (block_sparse only).</summary>
    public int[]? RandAttn { get; init; }
    /// <summary>Whether this is block_sparse.</summary>
    public bool IsBlockSparse => Type == AttentionType.BlockSparse;
}

/// <summary>
/// The shapes and masks of <see cref="IComputeBackend.FullAttention"/>. Queries are [batch, heads, seq, head_dim];
/// keys and values [batch, heads, KeyStride, head_dim] of which the first <see cref="Keys"/> rows per head are used.
/// </summary>
public readonly record struct FullAttentionArgs
{
    /// <summary>Batch rows.</summary>
    public int Batch { get; init; }
    /// <summary>num_attention_heads.</summary>
    public int Heads { get; init; }
    /// <summary>Query rows per head.</summary>
    public int Seq { get; init; }
    /// <summary>attention_head_size.</summary>
    public int HeadDim { get; init; }
    /// <summary>Key rows used per head.</summary>
    public int Keys { get; init; }
    /// <summary>Key rows stored per head (≥ <see cref="Keys"/>; a cache's capacity).</summary>
    public int KeyStride { get; init; }
    /// <summary>[batch, Keys] additive mask: 0 where attended, float.MinValue where not (HF's extended mask).</summary>
    public DeviceSpan Mask { get; init; }
    /// <summary>The decoder's causal offset (tokens before the first query), or −1 for no causal mask.</summary>
    public int CausalOffset { get; init; }
    /// <summary>[heads] multipliers of this layer's probabilities (head_mask), or empty.</summary>
    public ReadOnlyMemory<float> HeadMask { get; init; }
    /// <summary>[batch, heads, seq, Keys] probabilities to return (output_attentions), or empty.</summary>
    public DeviceSpan Probs { get; init; }

    /// <summary>Checks the views against these shapes; every backend calls it first.</summary>
    /// <exception cref="ArgumentException">A shape is not positive, or a view's length does not fit.</exception>
    internal void Validate(DeviceSpan context, DeviceSpan query, DeviceSpan key, DeviceSpan value)
    {
        long queries = (long)Batch * Heads * Seq * HeadDim;
        long stored = (long)Batch * Heads * KeyStride * HeadDim;
        if (Batch <= 0 || Heads <= 0 || Seq < 0 || HeadDim <= 0 || Keys <= 0 || KeyStride < Keys
            || context.Length != queries || query.Length != queries || key.Length != stored || value.Length != stored
            || Mask.Length != (long)Batch * Keys
            || (!HeadMask.IsEmpty && HeadMask.Length != Heads)
            || (!Probs.IsEmpty && Probs.Length != (long)Batch * Heads * Seq * Keys))
            throw new ArgumentException($"FullAttention: views (context {context.Length}, query {query.Length}, key {key.Length}, value {value.Length}, " +
                                        $"mask {Mask.Length}, probs {Probs.Length}) do not fit {this}.");
    }
}

/// <summary>The shapes and masks of <see cref="IComputeBackend.BlockSparseAttention"/>; query/key/value are [batch, heads, seq, head_dim].</summary>
public readonly record struct BlockSparseAttentionArgs
{
    /// <summary>Batch rows.</summary>
    public int Batch { get; init; }
    /// <summary>num_attention_heads.</summary>
    public int Heads { get; init; }
    /// <summary>Padded sequence length, a multiple of the block size.</summary>
    public int Seq { get; init; }
    /// <summary>attention_head_size.</summary>
    public int HeadDim { get; init; }
    /// <summary>The block geometry and random plan.</summary>
    public AttentionPlan Plan { get; init; }
    /// <summary>[batch, seq] 0/1 attention mask (HF's from_mask = to_mask = band_mask source).</summary>
    public DeviceSpan Mask { get; init; }
    /// <summary>[batch, heads, seq, seq] dense probabilities rebuilt as HF does (output_attentions), or empty.</summary>
    public DeviceSpan Probs { get; init; }

    /// <summary>Checks the plan and the views against these shapes; every backend calls it first.</summary>
    /// <exception cref="ArgumentException">The plan is not block_sparse or does not fit the length, or a view's length does not fit.</exception>
    internal void Validate(DeviceSpan context, DeviceSpan query, DeviceSpan key, DeviceSpan value)
    {
        var plan = Plan;
        if (!plan.IsBlockSparse || plan.BlockSize <= 0 || plan.RandAttn is null)
            throw new ArgumentException($"BlockSparseAttention needs a block_sparse plan with its random blocks, got {plan.Type}.", "args");
        if (Seq % plan.BlockSize != 0 || Seq / plan.BlockSize < 4)
            throw new ArgumentException($"block-sparse attention needs a length that is a multiple of block_size {plan.BlockSize} and at least 4 blocks, got {Seq}.", "args");
        int num_blocks = Seq / plan.BlockSize;
        if (plan.NumRandomBlocks < 0 || plan.RandAttn.Length != (long)Heads * (num_blocks - 2) * plan.NumRandomBlocks)
            throw new ArgumentException($"rand_attn has {plan.RandAttn.Length} entries, expected [{Heads}, {num_blocks - 2}, {plan.NumRandomBlocks}].", "args");
        foreach (int rb in plan.RandAttn)
            if ((uint)rb >= (uint)num_blocks) throw new ArgumentException($"rand_attn holds block {rb}, outside the {num_blocks} blocks.", "args");
        long n = (long)Batch * Heads * Seq * HeadDim;
        if (Batch <= 0 || Heads <= 0 || HeadDim <= 0 || context.Length != n || query.Length != n || key.Length != n || value.Length != n
            || Mask.Length != (long)Batch * Seq
            || (!Probs.IsEmpty && Probs.Length != (long)Batch * Heads * Seq * Seq))
            throw new ArgumentException($"BlockSparseAttention: views (context {context.Length}, query {query.Length}, key {key.Length}, " +
                                        $"value {value.Length}, mask {Mask.Length}, probs {Probs.Length}) do not fit batch {Batch}, " +
                                        $"heads {Heads}, seq {Seq}, head_dim {HeadDim}.");
    }
}
