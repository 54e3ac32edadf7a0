using BigBirdSharp.Backends;

namespace BigBirdSharp.Modeling.Pegasus;

/// <summary>
/// Learned absolute positions. Ports <c>BigBirdPegasusLearnedPositionalEmbedding</c> (transformers 4.27.1,
/// <c>modeling_bigbird_pegasus.py</c>): an nn.Embedding of [max_position_embeddings, d_model] read at positions
/// past_key_values_length … past_key_values_length + seq − 1, the same for every row of the batch.
/// </summary>
public sealed class BigBirdPegasusLearnedPositionalEmbedding
{
    /// <summary>The table, [max_position_embeddings, d_model].</summary>
    public Embedding Weight { get; }

    internal BigBirdPegasusLearnedPositionalEmbedding(WeightLoader w, string path, int numEmbeddings, int embeddingDim) =>
        Weight = new Embedding(w, path, numEmbeddings, embeddingDim);

    /// <summary>The table on the model's backend.</summary>
    internal DeviceSpan Table => Weight.Table.All;

    /// <summary>positions = arange(past, past + seq), repeated for each of <paramref name="batch"/> rows: the host ids the
    /// backend's embedding sum reads.</summary>
    internal static int[] Positions(int batch, int seq, int past)
    {
        var ids = new int[batch * seq];
        for (int b = 0; b < batch; b++)
            for (int s = 0; s < seq; s++) ids[b * seq + s] = past + s;
        return ids;
    }
}
