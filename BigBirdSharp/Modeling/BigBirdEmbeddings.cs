using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;

namespace BigBirdSharp.Modeling;

/// <summary>
/// Word + token-type + position embeddings, then LayerNorm. Ports <c>BigBirdEmbeddings</c>
/// (transformers 4.27.1 and current main), including <c>rescale_embeddings</c> (word embeddings × √hidden).
/// Dropout is the identity at inference.
/// </summary>
public sealed class BigBirdEmbeddings
{
    /// <summary>HF's <c>word_embeddings</c>: [vocab_size, hidden_size]</summary>
    public Embedding WordEmbeddings { get; }
    /// <summary>HF's <c>position_embeddings</c>: [max_position_embeddings, hidden_size]</summary>
    public Embedding PositionEmbeddings { get; }
    /// <summary>HF's <c>token_type_embeddings</c>: [type_vocab_size, hidden_size]</summary>
    public Embedding TokenTypeEmbeddings { get; }
    /// <summary>LayerNorm over hidden_size.</summary>
    public LayerNorm LayerNorm { get; }

    private readonly bool _rescale;
    private readonly float _scale;
    private readonly int _hidden;

    internal BigBirdEmbeddings(WeightLoader w, BigBirdConfig config)
    {
        _hidden = config.HiddenSize;
        WordEmbeddings = new Embedding(w, "embeddings.word_embeddings", config.VocabSize, config.HiddenSize);
        PositionEmbeddings = new Embedding(w, "embeddings.position_embeddings", config.MaxPositionEmbeddings, config.HiddenSize);
        TokenTypeEmbeddings = new Embedding(w, "embeddings.token_type_embeddings", config.TypeVocabSize, config.HiddenSize);
        LayerNorm = new LayerNorm(w, "embeddings.LayerNorm", config.HiddenSize, config.LayerNormEps);
        _rescale = config.RescaleEmbeddings;
        _scale = (float)Math.Sqrt(config.HiddenSize);
    }

    /// <summary>
    /// embeddings[rows, hidden] = LayerNorm(inputs_embeds·(√hidden if rescale) + token_type + position).
    /// </summary>
    /// <param name="embeddings">[rows, hidden] output.</param>
    /// <param name="input_ids">[rows] ids, or empty when <paramref name="inputs_embeds"/> is given.</param>
    /// <param name="inputs_embeds">[rows, hidden], or empty.</param>
    /// <param name="token_type_ids">[rows]</param>
    /// <param name="position_ids">[rows]</param>
    internal void Forward(DeviceSpan embeddings, ReadOnlySpan<int> input_ids, DeviceSpan inputs_embeds,
                          ReadOnlySpan<int> token_type_ids, ReadOnlySpan<int> position_ids)
    {
        int rows = token_type_ids.Length;
        var backend = WordEmbeddings.Table.Backend;
        // inputs_embeds = word_embeddings(input_ids) (· √hidden); embeddings = inputs_embeds + token_type_embeddings + position_embeddings
        backend.EmbeddingSum(embeddings, _hidden, WordEmbeddings.Table.All, input_ids, inputs_embeds, _rescale ? _scale : 1f,
                             TokenTypeEmbeddings.Table.All, token_type_ids, PositionEmbeddings.Table.All, position_ids);
        // embeddings = LayerNorm(embeddings)
        LayerNorm.Forward(embeddings, embeddings, DeviceSpan.Empty, rows);
    }
}
