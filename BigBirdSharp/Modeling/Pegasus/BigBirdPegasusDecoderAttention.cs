using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;

namespace BigBirdSharp.Modeling.Pegasus;

/// <summary>
/// The decoder's full multi-head attention, as self-attention (causal, keys and values cached across steps) or as
/// cross-attention over the encoder's output (keys and values computed once per generation). Ports
/// <c>BigBirdPegasusDecoderAttention</c> (transformers 4.27.1, BART's attention): q_proj, k_proj, v_proj, softmax(q·kᵀ/√d
/// + mask)·v, then out_proj.
/// </summary>
public sealed class BigBirdPegasusDecoderAttention
{
    /// <summary>k_proj: [d_model, d_model] (+ bias when use_bias).</summary>
    public Linear KProj { get; }
    /// <summary>v_proj: [d_model, d_model] (+ bias when use_bias).</summary>
    public Linear VProj { get; }
    /// <summary>q_proj: [d_model, d_model] (+ bias when use_bias).</summary>
    public Linear QProj { get; }
    /// <summary>out_proj: [d_model, d_model] (+ bias when use_bias).</summary>
    public Linear OutProj { get; }
    /// <summary>decoder_attention_heads.</summary>
    public int NumHeads { get; }
    /// <summary>d_model / decoder_attention_heads.</summary>
    public int HeadDim { get; }

    private readonly int _d;

    internal BigBirdPegasusDecoderAttention(WeightLoader w, string path, BigBirdPegasusConfig config)
    {
        _d = config.DModel;
        KProj = new Linear(w, $"{path}.k_proj", _d, _d, config.UseBias);
        VProj = new Linear(w, $"{path}.v_proj", _d, _d, config.UseBias);
        QProj = new Linear(w, $"{path}.q_proj", _d, _d, config.UseBias);
        OutProj = new Linear(w, $"{path}.out_proj", _d, _d, config.UseBias);
        NumHeads = config.DecoderAttentionHeads;
        HeadDim = config.DecoderHeadDim;
    }

    /// <summary>
    /// Self-attention of <paramref name="seq"/> new tokens after <paramref name="past"/> cached ones: their keys and values are
    /// appended to <paramref name="cache"/> when one is given (HF's <c>torch.cat([past_key_value[0], key_states], dim=2)</c>),
    /// and query i sees keys 0 … past + i under <paramref name="mask"/> [batch, past + seq].
    /// </summary>
    internal void ForwardSelf(BigBirdPegasusCall call, in BigBirdPegasusScratch s, DeviceSpan hidden_states, DeviceSpan attn_output,
                              int batch, int seq, int past, DeviceSpan mask, BigBirdPegasusKeyValueCache? cache, int layer)
    {
        var backend = call.Backend;
        int rows = batch * seq;
        var query_states = Project(call, s, QProj, hidden_states, s.Query, batch, seq);
        var key_states = Project(call, s, KProj, hidden_states, s.Key, batch, seq);
        var value_states = Project(call, s, VProj, hidden_states, s.Value, batch, seq);
        int keys = seq, stride = seq;
        if (cache is not null)
        {
            cache.Append(layer, key_states, value_states, seq);
            key_states = cache.SelfKeys[layer].All;
            value_states = cache.SelfValues[layer].All;
            keys = past + seq;
            stride = cache.Capacity;
        }
        Attend(backend, s, query_states, key_states, value_states, attn_output, batch, seq, keys, stride, mask, causalOffset: past, rows);
    }

    /// <summary>
    /// Cross-attention of <paramref name="seq"/> decoder tokens over the encoder's <paramref name="encoderLength"/> states
    /// under <paramref name="mask"/> [batch, encoder_seq]. With a cache, the projected encoder keys and values are
    /// computed on the first call and reused after (HF's <c>past_key_value[2:]</c>).
    /// </summary>
    internal void ForwardCross(BigBirdPegasusCall call, in BigBirdPegasusScratch s, DeviceSpan hidden_states, DeviceSpan attn_output,
                               int batch, int seq, DeviceSpan encoder_hidden_states, int encoderLength, DeviceSpan mask,
                               BigBirdPegasusKeyValueCache? cache, int layer)
    {
        var backend = call.Backend;
        int rows = batch * seq;
        var query_states = Project(call, s, QProj, hidden_states, s.Query, batch, seq);
        DeviceSpan key_states, value_states;
        if (cache is not null && cache.CrossKeys[layer] is { } cachedKeys)
        {
            key_states = cachedKeys.All;
            value_states = cache.CrossValues[layer]!.All;
        }
        else
        {
            var k = cache is not null ? cache.NewCross(layer, encoderLength).Keys : s.Key;
            var v = cache is not null ? cache.CrossValues[layer]!.All : s.Value;
            key_states = Project(call, s, KProj, encoder_hidden_states, k, batch, encoderLength);
            value_states = Project(call, s, VProj, encoder_hidden_states, v, batch, encoderLength);
        }
        Attend(backend, s, query_states, key_states, value_states, attn_output, batch, seq, encoderLength, encoderLength, mask, causalOffset: -1, rows);
    }

    // dst ← _shape(linear(x)): [batch, heads, seq, head_dim]
    private DeviceSpan Project(BigBirdPegasusCall call, in BigBirdPegasusScratch s, Linear linear, DeviceSpan x, DeviceSpan dst, int batch, int seq)
    {
        int rows = batch * seq;
        var projected = s.Projected.Slice(0, rows * _d);
        linear.Forward(projected, x.Slice(0, rows * _d), rows);
        var heads = dst.Slice(0, rows * _d);
        call.Backend.SplitHeads(heads, projected, batch, seq, NumHeads, HeadDim);
        return heads;
    }

    private void Attend(IComputeBackend backend, in BigBirdPegasusScratch s, DeviceSpan q, DeviceSpan k, DeviceSpan v, DeviceSpan attn_output,
                        int batch, int seq, int keys, int keyStride, DeviceSpan mask, int causalOffset, int rows)
    {
        // attn_weights = softmax(q·kᵀ·scaling + mask); attn_output = attn_weights · v
        var context = s.Context.Slice(0, rows * _d);
        backend.FullAttention(context, q, k, v, new FullAttentionArgs
        {
            Batch = batch, Heads = NumHeads, Seq = seq, HeadDim = HeadDim, Keys = keys, KeyStride = keyStride, Mask = mask,
            CausalOffset = causalOffset,
        });
        var merged = s.Projected.Slice(0, rows * _d);
        backend.MergeHeads(merged, context, batch, seq, NumHeads, HeadDim);
        // attn_output = self.out_proj(attn_output)
        OutProj.Forward(attn_output, merged, rows);
    }
}
