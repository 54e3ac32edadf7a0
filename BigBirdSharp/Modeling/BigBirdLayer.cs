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
    public BigBirdAttention Attention { get; }
    /// <summary>layer.crossattention (full attention over encoder_hidden_states), or null when add_cross_attention is off.</summary>
    public BigBirdAttention? CrossAttention { get; }
    /// <summary>layer.intermediate</summary>
    public BigBirdIntermediate Intermediate { get; }
    /// <summary>layer.output</summary>
    public BigBirdOutput Output { get; }
    /// <summary>The layer index: HF's seed for the random plan.</summary>
    public int Seed { get; }

    private readonly string _path;
    private readonly int _hidden, _intermediate;

    internal BigBirdLayer(WeightLoader w, string path, BigBirdConfig config, int layerIndex)
    {
        Seed = layerIndex;
        _path = path;
        _hidden = config.HiddenSize;
        _intermediate = config.IntermediateSize;
        Attention = new BigBirdAttention(w, $"{path}.attention", config);
        if (config.AddCrossAttention) CrossAttention = new BigBirdAttention(w, $"{path}.crossattention", config);
        Intermediate = new BigBirdIntermediate(w, $"{path}.intermediate", config);
        Output = new BigBirdOutput(w, $"{path}.output", config);
    }

    /// <summary>state.Hidden ← layer(state.Hidden [, encoder_hidden_states]).</summary>
    internal void Forward(ForwardState state, AttentionPlan plan, ReadOnlyMemory<float> layer_head_mask, DeviceSpan attention_probs,
                          DeviceSpan cross_attention_probs, BigBirdKeyValueCache? past_key_value)
    {
        int rows = state.Batch * state.SeqLength;
        bool encoder = state.EncoderLength > 0;
        var hidden_states = state.Hidden.Slice(0, rows * _hidden);
        // attention_output, cross_attention_output and layer_output each replace hidden_states in place: every step reads
        // its input rows before it writes them, and the residual of each LayerNorm is the rows being replaced
        var attention_output = hidden_states;
        // HF hands encoder_hidden_states to the self-attention too (see BigBirdAttention.Forward)
        Attention.Forward(state, hidden_states, attention_output, plan, encoder, layer_head_mask, attention_probs, past_key_value, Seed);
        if (encoder)
        {
            CrossAttention!.Forward(state, attention_output, attention_output, AttentionPlan.Full, encoder: true, layer_head_mask,
                                    cross_attention_probs, null, Seed);
        }
        // layer_output = apply_chunking_to_forward(feed_forward_chunk, ..., attention_output): every row is independent, so the
        // feed-forward block runs in chunks of rows whatever chunk_size_feed_forward says; only the intermediate buffer shrinks
        int chunk = state.FeedForwardChunkRows;
        float[]? traced = state.Tracing
            ? new float[TensorSize.ForInput($"{_path}.intermediate", "[batch·seq, intermediate_size]", "trace a shorter input.", rows, _intermediate)]
            : null;
        for (int r0 = 0; r0 < rows; r0 += chunk)
        {
            int n = Math.Min(chunk, rows - r0);
            var chunk_input = attention_output.Slice(r0 * _hidden, n * _hidden);
            // intermediate_output = self.intermediate(attention_output)
            var intermediate_output = state.Intermediate.Slice(0, n * _intermediate);
            Intermediate.Forward(intermediate_output, chunk_input, n);
            if (traced is not null) state.Backend.Download(intermediate_output, traced.AsSpan(r0 * _intermediate, n * _intermediate));
            // layer_output = self.output(intermediate_output, attention_output)
            Output.Forward(hidden_states.Slice(r0 * _hidden, n * _hidden), intermediate_output, chunk_input, n,
                           state.FeedForwardOutput.Slice(0, n * _hidden));
        }
        if (traced is not null) state.Trace!($"{_path}.intermediate", new FloatTensor(traced, state.Batch, state.SeqLength, _intermediate));
        if (state.Tracing) state.Emit($"{_path}.output", hidden_states, state.Batch, state.SeqLength, _hidden);
    }
}
