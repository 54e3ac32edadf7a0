using BigBirdSharp.Backends;

namespace BigBirdSharp.Modeling;

/// <summary>torch <c>nn.Embedding</c>: weight [num_embeddings, embedding_dim].</summary>
public sealed class Embedding
{
    /// <summary>[num_embeddings, embedding_dim]</summary>
    public ReadOnlyMemory<float> Weight { get; }
    /// <summary>Number of rows.</summary>
    public int NumEmbeddings { get; }
    /// <summary>Row width.</summary>
    public int EmbeddingDim { get; }

    /// <summary>The table on the model's backend.</summary>
    internal DeviceBuffer Table { get; }

    internal Embedding(WeightLoader w, string path, int numEmbeddings, int embeddingDim)
    {
        NumEmbeddings = numEmbeddings;
        EmbeddingDim = embeddingDim;
        Weight = w.Get($"{path}.weight", numEmbeddings, embeddingDim);
        Table = w.Backend.Upload(Weight);
    }

    /// <summary>The row for <paramref name="index"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The index is outside the table.</exception>
    public ReadOnlySpan<float> Row(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, NumEmbeddings);
        return Weight.Span.Slice(index * EmbeddingDim, EmbeddingDim);
    }
}
