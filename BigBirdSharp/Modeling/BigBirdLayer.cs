using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;

namespace BigBirdSharp.Modeling;

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
    private readonly int _hidden, _intermediate;

    internal BigBirdLayer(WeightLoader w, string path, BigBirdConfig config, int layerIndex)
    {
        seed = layerIndex;
        _path = path;
        _hidden = config.HiddenSize;
        _intermediate = config.IntermediateSize;
        attention = new BigBirdAttention(w, $"{path}.attention", config);
        if (config.AddCrossAttention) crossattention = new BigBirdAttention(w, $"{path}.crossattention", config);
        intermediate = new BigBirdIntermediate(w, $"{path}.intermediate", config);
        output = new BigBirdOutput(w, $"{path}.output", config);
    }

    /// <summary>state.Hidden ← layer(state.Hidden [, encoder_hidden_states]).</summary>
    internal void Forward(ForwardState state, AttentionPlan plan, ReadOnlyMemory<float> layer_head_mask, DeviceSpan attention_probs,
                          DeviceSpan cross_attention_probs, BigBirdKeyValueCache? past_key_value)
    {
        int rows = state.Batch * state.SeqLength;
        bool encoder = state.EncoderLength > 0;
        var hidden_states = state.Hidden.Slice(0, rows * _hidden);
        var attention_output = state.AttentionOutput.Slice(0, rows * _hidden);
        // HF hands encoder_hidden_states to the self-attention too (see BigBirdAttention.Forward)
        attention.Forward(state, hidden_states, attention_output, plan, encoder, layer_head_mask, attention_probs, past_key_value, seed);
        if (encoder)
        {
            var cross_attention_output = state.CrossAttentionOutput.Slice(0, rows * _hidden);
            crossattention!.Forward(state, attention_output, cross_attention_output, AttentionPlan.Full, encoder: true, layer_head_mask,
                                    cross_attention_probs, null, seed);
            attention_output = cross_attention_output;
        }
        // feed_forward_chunk: chunking along the sequence does not change the result, so it runs whole
        var intermediate_output = state.Intermediate.Slice(0, rows * _intermediate);
        intermediate.Forward(intermediate_output, attention_output, rows);
        if (state.Tracing) state.Emit($"{_path}.intermediate", intermediate_output, state.Batch, state.SeqLength, _intermediate);
        output.Forward(hidden_states, intermediate_output, attention_output, rows);
        if (state.Tracing) state.Emit($"{_path}.output", hidden_states, state.Batch, state.SeqLength, _hidden);
    }
}
