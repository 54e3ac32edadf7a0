using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;

namespace BigBirdSharp.Modeling;

/// <summary>
/// Self-attention (full or block-sparse) or cross-attention, followed by <see cref="BigBirdSelfOutput"/>. Ports
/// <c>BigBirdAttention</c> (4.27.1 and main). HF swaps <c>self</c> between the two attention classes,
/// which share query/key/value; here both views exist over the same weights and each call picks one,
/// so the attention type can change per call without mutating the model.
/// </summary>
public sealed class BigBirdAttention
{
    /// <summary>The full-attention view of <c>self</c>.</summary>
    public BigBirdSelfAttention self { get; }
    /// <summary>The block-sparse view of <c>self</c>, over the same query/key/value.</summary>
    public BigBirdBlockSparseAttention self_block_sparse { get; }
    /// <summary>attention.output</summary>
    public BigBirdSelfOutput output { get; }

    private readonly int _heads, _headDim, _hidden;
    private readonly string _path;

    internal BigBirdAttention(WeightLoader w, string path, BigBirdConfig config)
    {
        _path = path;
        var query = new Linear(w, $"{path}.self.query", config.HiddenSize, config.HiddenSize, config.UseBias);
        var key = new Linear(w, $"{path}.self.key", config.HiddenSize, config.HiddenSize, config.UseBias);
        var value = new Linear(w, $"{path}.self.value", config.HiddenSize, config.HiddenSize, config.UseBias);
        self = new BigBirdSelfAttention(query, key, value, config);
        self_block_sparse = new BigBirdBlockSparseAttention(query, key, value, config);
        output = new BigBirdSelfOutput(w, $"{path}.output", config);
        _heads = config.NumAttentionHeads;
        _headDim = config.AttentionHeadSize;
        _hidden = config.HiddenSize;
    }

    /// <summary>
    /// result = output(attention(input), input), where the keys and values are, as in HF:
    /// <list type="bullet">
    /// <item>the encoder's, when <paramref name="encoder_hidden_states"/> is given (non-empty). HF's
    /// <c>BigBirdLayer</c> passes encoder_hidden_states to its self-attention as well as to its cross-attention, so in a
    /// decoder with cross-attention both sublayers attend to the encoder (each with its own weights), with the
    /// encoder mask and no causal mask;</item>
    /// <item>otherwise the tokens of this call, plus the cached ones when a cache is given (their keys/values are
    /// appended to it), under the causal mask of a decoder; or block-sparse attention.</item>
    /// </list>
    /// </summary>
    internal void Forward(IComputeBackend backend, ForwardState state, float[] input, float[] result, AttentionType attentionType,
                          int[]? rand_attn, ReadOnlyMemory<float> headMask, float[]? attentionProbs, BigBirdKeyValueCache? cache,
                          int layerIndex, ReadOnlySpan<float> encoder_hidden_states)
    {
        int batch = state.Batch, seq = state.SeqLength, rows = batch * seq;
        // query_layer / key_layer / value_layer = transpose_for_scores(linear(hidden_states))
        Project(backend, state, self.query, input, state.QueryLayer, seq, "query");
        if (!encoder_hidden_states.IsEmpty)
        {
            // is_cross_attention: keys and values from encoder_hidden_states, attention_mask = encoder_attention_mask
            int enc = state.EncoderLength;
            self.key.Forward(backend, state.EncoderScratch, encoder_hidden_states, batch * enc);
            state.Emit($"{_path}.self.key", state.EncoderScratch, batch, enc, _hidden);
            ForwardState.SplitHeads(state.CrossKeyLayer, state.EncoderScratch, batch, enc, _heads, _headDim);
            self.value.Forward(backend, state.EncoderScratch, encoder_hidden_states, batch * enc);
            state.Emit($"{_path}.self.value", state.EncoderScratch, batch, enc, _hidden);
            ForwardState.SplitHeads(state.CrossValueLayer, state.EncoderScratch, batch, enc, _heads, _headDim);
            self.Attend(backend, state, new AttentionKeys(state.CrossKeyLayer, state.CrossValueLayer, enc, enc, state.EncoderAdditiveMask, -1),
                        headMask, attentionProbs);
        }
        else
        {
            Project(backend, state, self.key, input, state.KeyLayer, seq, "key");
            Project(backend, state, self.value, input, state.ValueLayer, seq, "value");
            if (attentionType == AttentionType.OriginalFull)
            {
                AttentionKeys kv;
                int causal = self.IsDecoder ? state.PastLength : -1;
                if (cache is null)
                {
                    kv = new AttentionKeys(state.KeyLayer, state.ValueLayer, seq, seq, state.AdditiveMask, causal);
                }
                else
                {
                    // key_layer = cat([past_key_value[0], key_layer], dim=2), likewise for values
                    cache.Append(layerIndex, state.KeyLayer, state.ValueLayer, seq);
                    kv = new AttentionKeys(cache.Keys[layerIndex], cache.Values[layerIndex], cache.Capacity, state.PastLength + seq,
                                           state.AdditiveMask, causal);
                }
                self.Attend(backend, state, kv, headMask, attentionProbs);
            }
            else
            {
                self_block_sparse.Attend(backend, state, rand_attn!, attentionProbs);
            }
        }
        Output(backend, state, input, result, rows);
    }

    private void Project(IComputeBackend backend, ForwardState state, Linear linear, float[] input, float[] headsOut, int seq, string name)
    {
        int rows = state.Batch * seq;
        linear.Forward(backend, state.Scratch, input.AsSpan(0, rows * _hidden), rows);
        state.Emit($"{_path}.self.{name}", state.Scratch, state.Batch, seq, _hidden);
        ForwardState.SplitHeads(headsOut, state.Scratch, state.Batch, seq, _heads, _headDim);
    }

    private void Output(IComputeBackend backend, ForwardState state, float[] input_tensor, float[] result, int rows)
    {
        // context_layer: [batch, heads, seq, d] → [batch, seq, hidden]; then BigBirdSelfOutput
        ForwardState.MergeHeads(state.Scratch, state.ContextLayer, state.Batch, state.SeqLength, _heads, _headDim);
        state.Emit($"{_path}.self", state.Scratch, state.Batch, state.SeqLength, _hidden);
        output.Forward(backend, result.AsSpan(0, rows * _hidden), state.Scratch.AsSpan(0, rows * _hidden),
                       input_tensor.AsSpan(0, rows * _hidden), rows);
        state.Emit($"{_path}.output", result, state.Batch, state.SeqLength, _hidden);
    }
}

/// <summary>
/// Attention, optional cross-attention (decoder with <c>add_cross_attention</c>), then the feed-forward block.
/// Ports <c>BigBirdLayer</c> (4.27.1 and main).
/// </summary>
public sealed class BigBirdLayer
{
    /// <summary>layer.attention</summary>
    public BigBirdAttention attention { get; }
    /// <summary>layer.crossattention (full attention over encoder_hidden_states), or null when add_cross_attention is off.</summary>
    public BigBirdAttention? crossattention { get; }
    /// <summary>layer.intermediate</summary>
    public BigBirdIntermediate intermediate { get; }
    /// <summary>layer.output</summary>
    public BigBirdOutput output { get; }
    /// <summary>The layer index: HF's seed for the random plan.</summary>
    public int seed { get; }
    private readonly string _path;

    internal BigBirdLayer(WeightLoader w, string path, BigBirdConfig config, int layerIndex)
    {
        seed = layerIndex;
        _path = path;
        attention = new BigBirdAttention(w, $"{path}.attention", config);
        if (config.AddCrossAttention) crossattention = new BigBirdAttention(w, $"{path}.crossattention", config);
        intermediate = new BigBirdIntermediate(w, $"{path}.intermediate", config);
        output = new BigBirdOutput(w, $"{path}.output", config);
    }

    /// <summary>state.Hidden ← layer(state.Hidden [, encoder_hidden_states]).</summary>
    internal void Forward(IComputeBackend backend, ForwardState state, AttentionType attentionType, int[]? rand_attn,
                          ReadOnlyMemory<float> headMask, float[]? attentionProbs, ReadOnlySpan<float> encoder_hidden_states,
                          float[]? crossAttentionProbs, BigBirdKeyValueCache? cache)
    {
        int rows = state.Batch * state.SeqLength;
        // HF hands encoder_hidden_states to the self-attention too (see BigBirdAttention.Forward)
        attention.Forward(backend, state, state.Hidden, state.AttentionOutput, attentionType, rand_attn, headMask, attentionProbs,
                          cache, seed, encoder_hidden_states);
        var attention_output = state.AttentionOutput.AsSpan(0, rows * intermediate.dense.InFeatures);
        if (!encoder_hidden_states.IsEmpty)
        {
            crossattention!.Forward(backend, state, state.AttentionOutput, state.CrossAttentionOutput, AttentionType.OriginalFull, null,
                                    headMask, crossAttentionProbs, null, seed, encoder_hidden_states);
            state.CrossAttentionOutput.AsSpan(0, attention_output.Length).CopyTo(attention_output);
        }
        // feed_forward_chunk: chunking along the sequence does not change the result, so it runs whole
        var intermediate_output = state.Intermediate.AsSpan(0, rows * intermediate.dense.OutFeatures);
        intermediate.Forward(backend, intermediate_output, attention_output, rows);
        state.Emit($"{_path}.intermediate", intermediate_output, state.Batch, state.SeqLength, intermediate.dense.OutFeatures);
        output.Forward(backend, state.Hidden.AsSpan(0, attention_output.Length), intermediate_output, attention_output, rows);
        state.Emit($"{_path}.output", state.Hidden, state.Batch, state.SeqLength, intermediate.dense.InFeatures);
    }
}

/// <summary>The stack of layers. Ports <c>BigBirdEncoder</c> (4.27.1 and main).</summary>
public sealed class BigBirdEncoder
{
    /// <summary>encoder.layer.0 … encoder.layer.(L−1)</summary>
    public IReadOnlyList<BigBirdLayer> layer { get; }

    internal BigBirdEncoder(WeightLoader w, BigBirdConfig config)
    {
        var layers = new BigBirdLayer[config.NumHiddenLayers];
        for (int i = 0; i < layers.Length; i++) layers[i] = new BigBirdLayer(w, $"encoder.layer.{i}", config, i);
        layer = layers;
    }
}
