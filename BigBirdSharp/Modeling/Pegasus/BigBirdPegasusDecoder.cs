using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;

namespace BigBirdSharp.Modeling.Pegasus;

/// <summary>
/// The decoder. Ports <c>BigBirdPegasusDecoder</c> (transformers 4.27.1): scaled token embeddings plus learned positions
/// (offset by the cached length), causal self-attention and cross-attention in every layer, and a final LayerNorm
/// (<c>layernorm_embedding</c>).
/// </summary>
public sealed class BigBirdPegasusDecoder
{
    /// <summary>embed_positions: [max_position_embeddings, d_model].</summary>
    public BigBirdPegasusLearnedPositionalEmbedding EmbedPositions { get; }
    /// <summary>layers.0 … layers.(decoder_layers − 1)</summary>
    public IReadOnlyList<BigBirdPegasusDecoderLayer> Layers { get; }
    /// <summary>layernorm_embedding: the LayerNorm after the last layer.</summary>
    public LayerNorm LayernormEmbedding { get; }

    private readonly BigBirdPegasusConfig _config;
    private readonly Embedding _embedTokens;

    internal BigBirdPegasusDecoder(WeightLoader w, string path, BigBirdPegasusConfig config, Embedding embedTokens)
    {
        _config = config;
        _embedTokens = embedTokens;
        EmbedPositions = new BigBirdPegasusLearnedPositionalEmbedding(w, $"{path}.embed_positions", config.MaxPositionEmbeddings, config.DModel);
        var layers = new List<BigBirdPegasusDecoderLayer>(Math.Min(config.DecoderLayers, 64));
        for (int i = 0; i < config.DecoderLayers; i++)
        {
            layers.Add(new BigBirdPegasusDecoderLayer(w, $"{path}.layers.{i}", config));
            w.Settle();
        }
        Layers = layers.AsReadOnly();
        LayernormEmbedding = new LayerNorm(w, $"{path}.layernorm_embedding", config.DModel, BigBirdPegasusModel.LayerNormEps);
    }

    /// <summary>
    /// last_hidden_state [batch, seq, d] (a view in the call's work space) of decoder input_ids [batch, seq] after the
    /// cache's tokens. attention_mask is [batch, past + seq] (null: all ones); encoder_attention_mask [batch, encoder_seq]
    /// (null: all ones). An <paramref name="encoderLength"/> of 0 means no encoder_hidden_states: every layer skips its
    /// cross-attention block, as HF's does (BigBirdPegasusForCausalLM on its own). The cache, when given, receives this
    /// call's keys and values and advances by seq.
    /// </summary>
    internal DeviceSpan Forward(BigBirdPegasusCall call, int[] input_ids, int[]? attention_mask, int batch, int seq,
                                DeviceSpan encoder_hidden_states, int encoderLength, int[]? encoder_attention_mask,
                                BigBirdPegasusKeyValueCache? past_key_values)
    {
        int past = past_key_values?.Length ?? 0;
        // _prepare_decoder_attention_mask: the causal part runs inside attention, the padding part is this additive mask
        var self_mask = call.AdditiveMask(attention_mask, batch * (past + seq));
        var cross_mask = encoderLength > 0 ? call.AdditiveMask(encoder_attention_mask, batch * encoderLength) : default;
        var scratch = BigBirdPegasusScratch.Rent(call, batch * seq, batch * encoderLength, _config.DModel, _config.DecoderFfnDim);
        var hidden_states = call.Rent(TensorSize.ForInput("hidden_states", "[batch, seq, d_model]", "run fewer rows per call.", batch, seq, _config.DModel));
        Forward(call, scratch, hidden_states, input_ids, BigBirdPegasusLearnedPositionalEmbedding.Positions(batch, seq, past), batch, seq, self_mask,
                encoder_hidden_states, encoderLength, cross_mask, past_key_values);
        return hidden_states;
    }

    /// <summary>
    /// The decoder over buffers the caller prepared (generation reuses them every step): hidden_states [batch·seq, d] ←
    /// the decoder of input_ids at <paramref name="positions"/>, under the additive masks self_mask [batch, past + seq] and
    /// cross_mask [batch, encoder_seq]; no cross-attention when <paramref name="encoderLength"/> is 0.
    /// </summary>
    internal void Forward(BigBirdPegasusCall call, in BigBirdPegasusScratch scratch, DeviceSpan hidden_states, ReadOnlySpan<int> input_ids,
                          ReadOnlySpan<int> positions, int batch, int seq, DeviceSpan self_mask, DeviceSpan encoder_hidden_states, int encoderLength,
                          DeviceSpan cross_mask, BigBirdPegasusKeyValueCache? past_key_values)
    {
        int d = _config.DModel, rows = batch * seq;
        int past = past_key_values?.Length ?? 0;
        hidden_states = hidden_states.Slice(0, rows * d);
        // inputs_embeds = embed_tokens(input_ids) * embed_scale; hidden_states = inputs_embeds + embed_positions(input_shape, past)
        call.Backend.EmbeddingSum(hidden_states, d, _embedTokens.Table.All, input_ids, default, _config.EmbedScale, call.ZeroRow, call.ZeroIds(rows),
                                  EmbedPositions.Table, positions);
        for (int i = 0; i < Layers.Count; i++)
        {
            call.Cancellation.ThrowIfCancellationRequested();
            Layers[i].Forward(call, scratch, hidden_states, batch, seq, past, self_mask, encoder_hidden_states, encoderLength, cross_mask,
                              past_key_values, i);
        }
        past_key_values?.Advance(seq);
        LayernormEmbedding.Forward(hidden_states, hidden_states, default, rows);
    }
}
