namespace BigBirdSharp.Modeling;

/// <summary>
/// One worker's scratch for attention: sized once per (sequence length, config) and reused for
/// every (batch, head, query block) task the worker runs, so the attention loop allocates nothing.
/// </summary>
internal sealed class AttentionScratch
{
    /// <summary>[rows ≤ max(block_size, full-attention chunk), keys ≤ seq_len] scores, then probabilities.</summary>
    public readonly float[] Scores;
    /// <summary>[keys, head_dim] gathered key rows.</summary>
    public readonly float[] Keys;
    /// <summary>[keys, head_dim] gathered value rows.</summary>
    public readonly float[] Values;
    /// <summary>Key-block indices of the current query block, in HF's concatenation order.</summary>
    public readonly int[] KeyBlocks;

    public AttentionScratch(int rows, int keys, int headDim, int maxKeyBlocks)
    {
        Scores = new float[rows * keys];
        Keys = new float[keys * headDim];
        Values = new float[keys * headDim];
        KeyBlocks = new int[maxKeyBlocks];
    }
}
