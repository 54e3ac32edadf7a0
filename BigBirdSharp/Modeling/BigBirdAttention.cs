using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;

namespace BigBirdSharp.Modeling;

/// <summary>
/// Self-attention (full or block-sparse) or cross-attention, followed by <see cref="BigBirdSelfOutput"/>. Ports
/// <c>BigBirdAttention</c> (4.27.1 and main). HF swaps <c>self</c> between the two attention classes, which share
/// query/key/value; here both views exist over the same weights and each call's <see cref="AttentionPlan"/> picks one,
/// so the attention type can change per call without mutating the model.
/// </summary>
public sealed class BigBirdAttention
{
    /// <summary>HF's <c>self</c> (<c>attention.self</c>) under original_full.</summary>
    public BigBirdSelfAttention Self { get; }
    /// <summary>HF's <c>self</c> under block_sparse: HF builds one or the other by attention_type; this port builds both over the same query/key/value.</summary>
    public BigBirdBlockSparseAttention SelfBlockSparse { get; }
    /// <summary>attention.output</summary>
    public BigBirdSelfOutput Output { get; }

    private readonly int _hidden;
    private readonly string _path;

    internal BigBirdAttention(WeightLoader w, string path, BigBirdConfig config)
    {
        _path = path;
        var query = new Linear(w, $"{path}.self.query", config.HiddenSize, config.HiddenSize, config.UseBias);
        var key = new Linear(w, $"{path}.self.key", config.HiddenSize, config.HiddenSize, config.UseBias);
        var value = new Linear(w, $"{path}.self.value", config.HiddenSize, config.HiddenSize, config.UseBias);
        Self = new BigBirdSelfAttention(query, key, value, config, $"{path}.self");
        SelfBlockSparse = new BigBirdBlockSparseAttention(query, key, value, config, $"{path}.self");
        Output = new BigBirdSelfOutput(w, $"{path}.output", config);
        _hidden = config.HiddenSize;
    }

    /// <summary>
    /// attention_output = output(self(hidden_states), hidden_states), where the keys and values are, as in HF:
    /// <list type="bullet">
    /// <item>the encoder's, when <paramref name="encoder"/> is set. HF's <c>BigBirdLayer</c> passes encoder_hidden_states
    /// to its self-attention as well as to its cross-attention, so in a decoder with cross-attention both sublayers attend
    /// to the encoder (each with its own weights), with the encoder mask and no causal mask;</item>
    /// <item>otherwise the tokens of this call, plus the cached ones when a cache is given (their keys/values are appended
    /// to it), under the causal mask of a decoder; or block-sparse attention, by <paramref name="plan"/>.</item>
    /// </list>
    /// </summary>
    internal void Forward(ForwardState state, DeviceSpan hidden_states, DeviceSpan attention_output, AttentionPlan plan, bool encoder,
                          ReadOnlyMemory<float> head_mask, DeviceSpan attention_probs, BigBirdKeyValueCache? cache, int layerIndex)
    {
        int rows = state.Batch * state.SeqLength;
        // self_outputs = self.self(hidden_states, ...): the context layer, merged back to [batch, seq, hidden]
        if (encoder || !plan.IsBlockSparse)
            Self.Forward(state, hidden_states, encoder, head_mask, attention_probs, cache, layerIndex);
        else
            SelfBlockSparse.Forward(state, hidden_states, plan, attention_probs);
        var self_outputs = state.MergedContext.Slice(0, rows * _hidden);
        if (state.Tracing) state.Emit($"{_path}.self", self_outputs, state.Batch, state.SeqLength, _hidden);
        // attention_output = self.output(self_outputs[0], hidden_states); the product passes through the key buffer, free now
        // (its keys are in the cache or were consumed), so attention_output may be hidden_states itself
        Output.Forward(attention_output, self_outputs, hidden_states, rows, state.KeyLayer.Slice(0, rows * _hidden));
        if (state.Tracing) state.Emit($"{_path}.output", attention_output, state.Batch, state.SeqLength, _hidden);
    }
}
