using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;

namespace BigBirdSharp.Modeling;

/// <summary>
/// Self-attention (full or block-sparse) followed by <see cref="BigBirdSelfOutput"/>. Ports
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

    internal BigBirdAttention(WeightLoader w, string path, BigBirdConfig config)
    {
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

    /// <summary>state.AttentionOutput = output(self(state.Hidden), state.Hidden).</summary>
    internal void Forward(IComputeBackend backend, ForwardState state, AttentionType attentionType, int[]? rand_attn,
                          ReadOnlyMemory<float> headMask, float[]? attentionProbs)
    {
        int batch = state.Batch, seq = state.SeqLength, rows = batch * seq;
        // query_layer / key_layer / value_layer = transpose_for_scores(linear(hidden_states))
        self.query.Forward(backend, state.Scratch, state.Hidden, rows);
        ForwardState.SplitHeads(state.QueryLayer, state.Scratch, batch, seq, _heads, _headDim);
        self.key.Forward(backend, state.Scratch, state.Hidden, rows);
        ForwardState.SplitHeads(state.KeyLayer, state.Scratch, batch, seq, _heads, _headDim);
        self.value.Forward(backend, state.Scratch, state.Hidden, rows);
        ForwardState.SplitHeads(state.ValueLayer, state.Scratch, batch, seq, _heads, _headDim);

        if (attentionType == AttentionType.OriginalFull)
            self.Attend(backend, state, headMask, attentionProbs);
        else
            self_block_sparse.Attend(backend, state, rand_attn!, attentionProbs);

        // context_layer: [batch, heads, seq, d] → [batch, seq, hidden]; then BigBirdSelfOutput
        ForwardState.MergeHeads(state.Scratch, state.ContextLayer, batch, seq, _heads, _headDim);
        output.Forward(backend, state.AttentionOutput.AsSpan(0, rows * _hidden), state.Scratch.AsSpan(0, rows * _hidden),
                       state.Hidden.AsSpan(0, rows * _hidden), rows);
    }
}

/// <summary>Attention then the feed-forward block. Ports <c>BigBirdLayer</c> (4.27.1 and main), encoder path.</summary>
public sealed class BigBirdLayer
{
    /// <summary>layer.attention</summary>
    public BigBirdAttention attention { get; }
    /// <summary>layer.intermediate</summary>
    public BigBirdIntermediate intermediate { get; }
    /// <summary>layer.output</summary>
    public BigBirdOutput output { get; }
    /// <summary>The layer index: HF's seed for the random plan.</summary>
    public int seed { get; }

    internal BigBirdLayer(WeightLoader w, string path, BigBirdConfig config, int layerIndex)
    {
        seed = layerIndex;
        attention = new BigBirdAttention(w, $"{path}.attention", config);
        intermediate = new BigBirdIntermediate(w, $"{path}.intermediate", config);
        output = new BigBirdOutput(w, $"{path}.output", config);
    }

    /// <summary>state.Hidden ← layer(state.Hidden).</summary>
    internal void Forward(IComputeBackend backend, ForwardState state, AttentionType attentionType, int[]? rand_attn,
                          ReadOnlyMemory<float> headMask, float[]? attentionProbs)
    {
        int rows = state.Batch * state.SeqLength;
        attention.Forward(backend, state, attentionType, rand_attn, headMask, attentionProbs);
        // feed_forward_chunk: chunking along the sequence does not change the result, so it runs whole
        var attention_output = state.AttentionOutput.AsSpan(0, rows * intermediate.dense.InFeatures);
        var intermediate_output = state.Intermediate.AsSpan(0, rows * intermediate.dense.OutFeatures);
        intermediate.Forward(backend, intermediate_output, attention_output, rows);
        output.Forward(backend, state.Hidden.AsSpan(0, attention_output.Length), intermediate_output, attention_output, rows);
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
