using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;

namespace BigBirdSharp.Modeling;

/// <summary>
/// Full (dense) self-attention, and cross-attention. Ports <c>BigBirdSelfAttention</c> (transformers 4.27.1 and current
/// main, <c>modeling_big_bird.py</c>): the query/key/value projections, then scaled dot-product attention on the backend.
/// Keys and values are this call's tokens, the cache (past + new tokens) or the encoder's states (cross-attention).
/// </summary>
public sealed class BigBirdSelfAttention
{
    /// <summary>HF's <c>query</c>: [all_head_size, hidden_size] + bias when use_bias.</summary>
    public Linear Query { get; }
    /// <summary>HF's <c>key</c>: [all_head_size, hidden_size] + bias when use_bias.</summary>
    public Linear Key { get; }
    /// <summary>HF's <c>value</c>: [all_head_size, hidden_size] + bias when use_bias.</summary>
    public Linear Value { get; }

    /// <summary>num_attention_heads.</summary>
    public int NumAttentionHeads { get; }
    /// <summary>hidden_size / num_attention_heads.</summary>
    public int AttentionHeadSize { get; }
    /// <summary>Whether <c>config.is_decoder</c> makes the mask causal.</summary>
    public bool IsDecoder { get; }

    private readonly int _hidden;
    private readonly string _path;

    internal BigBirdSelfAttention(Linear query, Linear key, Linear value, BigBirdConfig config, string path)
    {
        this.Query = query;
        this.Key = key;
        this.Value = value;
        NumAttentionHeads = config.NumAttentionHeads;
        AttentionHeadSize = config.AttentionHeadSize;
        IsDecoder = config.IsDecoder;
        _hidden = config.HiddenSize;
        _path = path;
    }

    /// <summary>
    /// context_layer [batch, seq, hidden] (into <c>state.MergedContext</c>) of <paramref name="hidden_states"/>. With
    /// <paramref name="encoder"/> set, keys and values come from <c>state.EncoderHidden</c> under the encoder mask
    /// (is_cross_attention); otherwise from this call's tokens, appended to <paramref name="cache"/> when one is given,
    /// under the extended mask and, for a decoder, the causal mask.
    /// </summary>
    internal void Forward(ForwardState state, DeviceSpan hidden_states, bool encoder, ReadOnlyMemory<float> head_mask, DeviceSpan attention_probs,
                          BigBirdKeyValueCache? cache, int layerIndex)
    {
        var backend = state.Backend;
        int batch = state.Batch, seq = state.SeqLength, heads = NumAttentionHeads, d = AttentionHeadSize;
        // query_layer = transpose_for_scores(self.query(hidden_states))
        Project(state, Query, hidden_states, state.QueryLayer, seq, "query");
        FullAttentionArgs args;
        DeviceSpan key_layer, value_layer;
        if (encoder)
        {
            // is_cross_attention: key_layer/value_layer from encoder_hidden_states, attention_mask = encoder_attention_mask
            int enc = state.EncoderLength;
            Project(state, Key, state.EncoderHidden, state.CrossKeyLayer, enc, "key", state.EncoderScratch);
            Project(state, Value, state.EncoderHidden, state.CrossValueLayer, enc, "value", state.EncoderScratch);
            key_layer = state.CrossKeyLayer;
            value_layer = state.CrossValueLayer;
            args = new FullAttentionArgs { Keys = enc, KeyStride = enc, Mask = state.EncoderAdditiveMask, CausalOffset = -1 };
        }
        else
        {
            Project(state, Key, hidden_states, state.KeyLayer, seq, "key");
            Project(state, Value, hidden_states, state.ValueLayer, seq, "value");
            int causal = IsDecoder ? state.PastLength : -1;
            if (cache is null)
            {
                key_layer = state.KeyLayer;
                value_layer = state.ValueLayer;
                args = new FullAttentionArgs { Keys = seq, KeyStride = seq, Mask = state.AdditiveMask, CausalOffset = causal };
            }
            else
            {
                // key_layer = cat([past_key_value[0], key_layer], dim=2), likewise for values
                cache.Append(layerIndex, state.KeyLayer, state.ValueLayer, seq);
                key_layer = cache.Keys[layerIndex].All;
                value_layer = cache.Values[layerIndex].All;
                args = new FullAttentionArgs { Keys = state.PastLength + seq, KeyStride = cache.Capacity, Mask = state.AdditiveMask, CausalOffset = causal };
            }
        }
        // attention_probs = softmax(q·kᵀ/√d + mask) (· head_mask); context_layer = attention_probs · v
        backend.FullAttention(state.ContextLayer, state.QueryLayer, key_layer, value_layer, args with
        {
            Batch = batch, Heads = heads, Seq = seq, HeadDim = d, HeadMask = head_mask, Probs = attention_probs,
        });
        backend.MergeHeads(state.MergedContext, state.ContextLayer, batch, seq, heads, d);
    }

    private void Project(ForwardState state, Linear linear, DeviceSpan input, DeviceSpan headsOut, int seq, string name, DeviceSpan scratch = default)
    {
        int rows = state.Batch * seq;
        var projected = (scratch.IsEmpty ? state.ContextLayer : scratch).Slice(0, rows * _hidden); // ContextLayer is free until attention writes it
        linear.Forward(projected, input.Slice(0, rows * _hidden), rows);
        if (state.Tracing) state.Emit($"{_path}.{name}", projected, state.Batch, seq, _hidden);
        state.Backend.SplitHeads(headsOut, projected, state.Batch, seq, NumAttentionHeads, AttentionHeadSize);
    }
}
