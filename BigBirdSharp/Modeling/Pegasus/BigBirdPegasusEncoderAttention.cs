using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;

namespace BigBirdSharp.Modeling.Pegasus;

/// <summary>
/// The encoder's self-attention. Ports <c>BigBirdPegasusEncoderAttention</c> (transformers 4.27.1): BigBird's attention
/// (<c>self</c>: query/key/value, block-sparse or full) followed by an output projection <c>output</c> (no LayerNorm, no
/// residual: the layer adds those). The block-sparse core is the engine's <see cref="IComputeBackend.BlockSparseAttention"/>,
/// the same operation <see cref="BigBirdBlockSparseAttention"/> runs.
/// </summary>
public sealed class BigBirdPegasusEncoderAttention
{
    /// <summary>self.query: [d_model, d_model] (+ bias when use_bias).</summary>
    public Linear Query { get; }
    /// <summary>self.key: [d_model, d_model] (+ bias when use_bias).</summary>
    public Linear Key { get; }
    /// <summary>self.value: [d_model, d_model] (+ bias when use_bias).</summary>
    public Linear Value { get; }
    /// <summary>output: [d_model, d_model] (+ bias when use_bias).</summary>
    public Linear Output { get; }
    /// <summary>encoder_attention_heads.</summary>
    public int NumAttentionHeads { get; }
    /// <summary>d_model / encoder_attention_heads.</summary>
    public int AttentionHeadSize { get; }

    private readonly int _d;

    internal BigBirdPegasusEncoderAttention(WeightLoader w, string path, BigBirdPegasusConfig config)
    {
        _d = config.DModel;
        Query = new Linear(w, $"{path}.self.query", _d, _d, config.UseBias);
        Key = new Linear(w, $"{path}.self.key", _d, _d, config.UseBias);
        Value = new Linear(w, $"{path}.self.value", _d, _d, config.UseBias);
        Output = new Linear(w, $"{path}.output", _d, _d, config.UseBias);
        NumAttentionHeads = config.EncoderAttentionHeads;
        AttentionHeadSize = config.EncoderHeadDim;
    }

    /// <summary>
    /// attention_output [batch·seq, d] = output(attention(hidden_states)). Under a block_sparse <paramref name="plan"/>,
    /// <paramref name="mask"/> is the padded 0/1 mask [batch, seq]; under original_full it is the additive mask [batch, seq].
    /// </summary>
    internal void Forward(BigBirdPegasusCall call, in BigBirdPegasusScratch s, DeviceSpan hidden_states, DeviceSpan attention_output,
                          int batch, int seq, AttentionPlan plan, DeviceSpan mask)
    {
        var backend = call.Backend;
        int rows = batch * seq, h = NumAttentionHeads, hd = AttentionHeadSize;
        var projected = s.Projected.Slice(0, rows * _d);
        var query_layer = s.Query.Slice(0, rows * _d);
        var key_layer = s.Key.Slice(0, rows * _d);
        var value_layer = s.Value.Slice(0, rows * _d);
        var context_layer = s.Context.Slice(0, rows * _d);
        // query_layer / key_layer / value_layer = transpose_for_scores(linear(hidden_states))
        Query.Forward(projected, hidden_states, rows);
        backend.SplitHeads(query_layer, projected, batch, seq, h, hd);
        Key.Forward(projected, hidden_states, rows);
        backend.SplitHeads(key_layer, projected, batch, seq, h, hd);
        Value.Forward(projected, hidden_states, rows);
        backend.SplitHeads(value_layer, projected, batch, seq, h, hd);
        if (plan.IsBlockSparse)
        {
            backend.BlockSparseAttention(context_layer, query_layer, key_layer, value_layer, new BlockSparseAttentionArgs
            {
                Batch = batch, Heads = h, Seq = seq, HeadDim = hd, Plan = plan, Mask = mask,
            });
        }
        else
        {
            backend.FullAttention(context_layer, query_layer, key_layer, value_layer, new FullAttentionArgs
            {
                Batch = batch, Heads = h, Seq = seq, HeadDim = hd, Keys = seq, KeyStride = seq, Mask = mask, CausalOffset = -1,
            });
        }
        backend.MergeHeads(projected, context_layer, batch, seq, h, hd);
        // attention_output = self.output(self_outputs[0])
        Output.Forward(attention_output, projected, rows);
    }
}

/// <summary>The per-call buffers one attention sublayer works in, sized for the call's largest use, reused by every layer.</summary>
internal readonly struct BigBirdPegasusScratch
{
    public DeviceSpan Normed { get; init; }
    public DeviceSpan AttentionOutput { get; init; }
    public DeviceSpan Projected { get; init; }
    public DeviceSpan Query { get; init; }
    public DeviceSpan Key { get; init; }
    public DeviceSpan Value { get; init; }
    public DeviceSpan Context { get; init; }
    public DeviceSpan FeedForward { get; init; }

    /// <summary>Rents the buffers for <paramref name="rows"/> query rows, <paramref name="keyRows"/> key rows and an FFN of <paramref name="ffn"/>.</summary>
    public static BigBirdPegasusScratch Rent(BigBirdPegasusCall call, int rows, int keyRows, int d, int ffn)
    {
        int n = TensorSize.ForInput("hidden_states", "[rows, d_model]", "run fewer rows per call or a shorter input.", Math.Max(rows, keyRows), d);
        return new BigBirdPegasusScratch
        {
            Normed = call.Rent(rows * d), AttentionOutput = call.Rent(rows * d), Projected = call.Rent(n), Query = call.Rent(rows * d),
            Key = call.Rent(n), Value = call.Rent(n), Context = call.Rent(rows * d),
            FeedForward = call.Rent(TensorSize.ForInput("fc1", "[rows, ffn_dim]", "run fewer rows per call or a shorter input.", rows, ffn)),
        };
    }
}
