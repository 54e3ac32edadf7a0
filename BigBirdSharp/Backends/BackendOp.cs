namespace BigBirdSharp.Backends;

/// <summary>The coarse operations of <see cref="IComputeBackend"/> (ggml-backend style). A model checks at load that its backend supports every one it uses.</summary>
public enum BackendOp
{
    /// <summary><see cref="IComputeBackend.Linear"/>: nn.Linear with bias and an optional fused activation.</summary>
    Linear,
    /// <summary><see cref="IComputeBackend.LayerNorm"/>: LayerNorm(x + residual).</summary>
    LayerNorm,
    /// <summary><see cref="IComputeBackend.EmbeddingSum"/>: word + token-type + position embeddings.</summary>
    EmbeddingSum,
    /// <summary><see cref="IComputeBackend.Activate"/>: an elementwise activation.</summary>
    Activation,
    /// <summary><see cref="IComputeBackend.Copy"/>: strided row copies (un-padding, the pooler's first token, the key/value cache).</summary>
    Copy,
    /// <summary><see cref="IComputeBackend.SplitHeads"/> and <see cref="IComputeBackend.MergeHeads"/>: transpose_for_scores and its inverse.</summary>
    Heads,
    /// <summary><see cref="IComputeBackend.FullAttention"/>: scaled dot-product attention with masks and head_mask.</summary>
    FullAttention,
    /// <summary><see cref="IComputeBackend.BlockSparseAttention"/>: one layer's whole BigBird block-sparse attention.</summary>
    BlockSparseAttention,
    /// <summary><see cref="IComputeBackend.Add"/>: an elementwise sum (the residual connections of pre-LayerNorm models).</summary>
    Add,
}
