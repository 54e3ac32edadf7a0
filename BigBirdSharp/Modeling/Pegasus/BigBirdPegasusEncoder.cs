using System.Collections.Concurrent;
using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;
using BigBirdSharp.RandomAttention;

namespace BigBirdSharp.Modeling.Pegasus;

/// <summary>
/// The encoder. Ports <c>BigBirdPegasusEncoder</c> (transformers 4.27.1): scaled token embeddings (shared with the
/// decoder) plus learned positions, the layers under block-sparse or full attention, and a final LayerNorm (HF names it
/// <c>layernorm_embedding</c> though it runs after the layers).
/// </summary>
public sealed class BigBirdPegasusEncoder
{
    /// <summary>embed_positions: [max_position_embeddings, d_model].</summary>
    public BigBirdPegasusLearnedPositionalEmbedding EmbedPositions { get; }
    /// <summary>layers.0 … layers.(encoder_layers − 1)</summary>
    public IReadOnlyList<BigBirdPegasusEncoderLayer> Layers { get; }
    /// <summary>layernorm_embedding: the LayerNorm after the last layer.</summary>
    public LayerNorm LayernormEmbedding { get; }

    private readonly BigBirdPegasusConfig _config;
    private readonly Embedding _embedTokens;
    private readonly ConcurrentDictionary<(RandomAttentionSemantics, int, int), int[]> _plans = new();

    internal BigBirdPegasusEncoder(WeightLoader w, string path, BigBirdPegasusConfig config, Embedding embedTokens)
    {
        _config = config;
        _embedTokens = embedTokens;
        EmbedPositions = new BigBirdPegasusLearnedPositionalEmbedding(w, $"{path}.embed_positions", config.MaxPositionEmbeddings, config.DModel);
        var layers = new List<BigBirdPegasusEncoderLayer>(Math.Min(config.EncoderLayers, 64));
        for (int i = 0; i < config.EncoderLayers; i++)
        {
            layers.Add(new BigBirdPegasusEncoderLayer(w, $"{path}.layers.{i}", config, i));
            w.Settle();
        }
        Layers = layers.AsReadOnly();
        LayernormEmbedding = new LayerNorm(w, $"{path}.layernorm_embedding", config.DModel, BigBirdPegasusModel.LayerNormEps);
    }

    /// <summary>
    /// last_hidden_state [batch, seq, d] (a view in the call's work space) of input_ids [batch, seq] under attention_mask
    /// (null: all ones). Returns the attention type the call ran with.
    /// </summary>
    internal DeviceSpan Forward(BigBirdPegasusCall call, int[] input_ids, int[]? attention_mask, int batch, int seq,
                                BigBirdForwardOptions options, out AttentionType attentionType)
    {
        var backend = call.Backend;
        int d = _config.DModel;
        var type = options.AttentionType ?? _config.AttentionType;
        bool unmasked = false;
        if (type == AttentionType.BlockSparse && seq <= _config.MaxTokensToAttend)
        {
            // HF switches the encoder to original_full, but its BigBirdPegasusEncoderAttention still reads
            // config.attention_type and passes the (absent) block-sparse masks as the full attention's mask: 4.27.1
            // attends over every token of the batch, padding included
            type = AttentionType.OriginalFull;
            unmasked = true;
        }
        attentionType = type;
        int padding_len = type == AttentionType.BlockSparse ? (_config.BlockSize - seq % _config.BlockSize) % _config.BlockSize : 0;
        int padded = seq + padding_len, rows = batch * padded;
        int n = TensorSize.ForInput("hidden_states", "[batch, padded seq, d_model]", "run fewer rows per call or a shorter input.", batch, padded, d);

        // inputs_embeds = embed_tokens(input_ids) * embed_scale; hidden_states = inputs_embeds + embed_positions(input_shape)
        var hidden_states = call.Rent(n);
        var positions = BigBirdPegasusLearnedPositionalEmbedding.Positions(1, seq, 0);
        for (int b = 0; b < batch; b++)
            backend.EmbeddingSum(hidden_states.Slice(b * padded * d, seq * d), d, _embedTokens.Table.All, input_ids.AsSpan(b * seq, seq), default,
                                 _config.EmbedScale, call.ZeroRow, call.ZeroIds(seq), EmbedPositions.Table, positions);
        DeviceSpan mask;
        if (type == AttentionType.BlockSparse)
        {
            // _pad_to_block_size: rows of embed_tokens(pad_token_id) (neither scaled nor positioned), masked out
            if (padding_len > 0)
            {
                var pad = new int[padding_len];
                Array.Fill(pad, _config.PadTokenId);
                for (int b = 0; b < batch; b++)
                    backend.EmbeddingSum(hidden_states.Slice((b * padded + seq) * d, padding_len * d), d, _embedTokens.Table.All, pad, default, 1f,
                                         call.ZeroRow, call.ZeroIds(padding_len), call.ZeroRow, call.ZeroIds(padding_len));
            }
            var blocked = new float[rows];
            for (int b = 0; b < batch; b++)
                for (int s = 0; s < seq; s++) blocked[b * padded + s] = attention_mask is null || attention_mask[b * seq + s] != 0 ? 1f : 0f;
            mask = call.Upload(blocked);
        }
        else
        {
            mask = call.AdditiveMask(unmasked ? null : attention_mask, batch * seq);
        }

        var scratch = BigBirdPegasusScratch.Rent(call, rows, rows, d, _config.EncoderFfnDim);
        var semantics = options.RandomAttention;
        for (int i = 0; i < Layers.Count; i++)
        {
            call.Cancellation.ThrowIfCancellationRequested();
            var plan = type == AttentionType.BlockSparse
                ? AttentionPlan.BlockSparse(_config.BlockSize, _config.NumRandomBlocks, RandomPlan(semantics, i, padded))
                : AttentionPlan.Full;
            Layers[i].Forward(call, scratch, hidden_states.Slice(0, rows * d), batch, padded, plan, mask);
        }
        LayernormEmbedding.Forward(hidden_states.Slice(0, rows * d), hidden_states.Slice(0, rows * d), default, rows);
        if (padding_len == 0) return hidden_states.Slice(0, rows * d);
        // hidden_states = hidden_states[:, :-padding_len]
        var unpadded = call.Rent(batch * seq * d);
        backend.Copy(unpadded, seq * d, hidden_states, padded * d, batch, seq * d);
        return unpadded;
    }

    /// <summary>Layer <paramref name="layer"/>'s random key blocks for a padded length, cached (a plan depends only on its arguments).</summary>
    private int[] RandomPlan(RandomAttentionSemantics semantics, int layer, int seq)
    {
        var key = (semantics, layer, seq);
        if (_plans.TryGetValue(key, out var plan)) return plan;
        plan = BigBirdRandomAttention.GetRandAttn(
            semantics, seed: layer, fromSeqLength: seq, toSeqLength: seq, fromBlockSize: _config.BlockSize, toBlockSize: _config.BlockSize,
            numRandBlocks: _config.NumRandomBlocks, numHeads: _config.EncoderAttentionHeads, maxSeqlen: _config.MaxPositionEmbeddings);
        // inputs of ever-changing lengths must not grow the cache without bound
        if (_plans.Count >= MaxCachedPlans) _plans.Clear();
        _plans[key] = plan;
        return plan;
    }

    /// <summary>How many (semantics, layer, length) plans the encoder keeps.</summary>
    internal const int MaxCachedPlans = 256;
}
