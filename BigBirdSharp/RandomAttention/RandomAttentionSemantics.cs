namespace BigBirdSharp.RandomAttention;

/// <summary>
/// Which behaviour of Hugging Face's block-sparse attention is reproduced when choosing the random key blocks.
/// </summary>
public enum RandomAttentionSemantics
{
    /// <summary>
    /// Current transformers in evaluation mode (since PR 23056): the random-block tables keep their shapes but hold
    /// only zeros, so every random block is block 0. No random numbers are drawn.
    /// </summary>
    Deterministic = 0,

    /// <summary>
    /// transformers 4.28 and earlier, and the original google-research code: numpy's legacy global generator is
    /// re-seeded with the layer index on every forward call and the tables are drawn with
    /// <c>np.random.permutation</c>.
    /// </summary>
    Seeded = 1,
}
