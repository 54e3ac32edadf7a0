using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;
using BigBirdSharp.Kernels;

namespace BigBirdSharp.Modeling.Pegasus;

/// <summary>
/// One pre-LayerNorm decoder layer. Ports <c>BigBirdPegasusDecoderLayer</c> (transformers 4.27.1): causal self-attention,
/// cross-attention over the encoder's output, then the feed-forward block, each as h = h + sublayer(layer_norm(h)).
/// </summary>
public sealed class BigBirdPegasusDecoderLayer
{
    /// <summary>self_attn</summary>
    public BigBirdPegasusDecoderAttention SelfAttn { get; }
    /// <summary>self_attn_layer_norm</summary>
    public LayerNorm SelfAttnLayerNorm { get; }
    /// <summary>encoder_attn</summary>
    public BigBirdPegasusDecoderAttention EncoderAttn { get; }
    /// <summary>encoder_attn_layer_norm</summary>
    public LayerNorm EncoderAttnLayerNorm { get; }
    /// <summary>fc1: [decoder_ffn_dim, d_model] + bias.</summary>
    public Linear Fc1 { get; }
    /// <summary>fc2: [d_model, decoder_ffn_dim] + bias.</summary>
    public Linear Fc2 { get; }
    /// <summary>final_layer_norm</summary>
    public LayerNorm FinalLayerNorm { get; }

    private readonly int _d;
    private readonly ActivationKind _activation;

    internal BigBirdPegasusDecoderLayer(WeightLoader w, string path, BigBirdPegasusConfig config)
    {
        _d = config.DModel;
        _activation = config.ActivationKind;
        SelfAttn = new BigBirdPegasusDecoderAttention(w, $"{path}.self_attn", config);
        SelfAttnLayerNorm = new LayerNorm(w, $"{path}.self_attn_layer_norm", _d, BigBirdPegasusModel.LayerNormEps);
        EncoderAttn = new BigBirdPegasusDecoderAttention(w, $"{path}.encoder_attn", config);
        EncoderAttnLayerNorm = new LayerNorm(w, $"{path}.encoder_attn_layer_norm", _d, BigBirdPegasusModel.LayerNormEps);
        Fc1 = new Linear(w, $"{path}.fc1", _d, config.DecoderFfnDim);
        Fc2 = new Linear(w, $"{path}.fc2", config.DecoderFfnDim, _d);
        FinalLayerNorm = new LayerNorm(w, $"{path}.final_layer_norm", _d, BigBirdPegasusModel.LayerNormEps);
    }

    /// <summary>hidden_states [batch·seq, d] ← the layer, in place; the cross-attention block runs only with encoder
    /// states (<paramref name="encoderLength"/> &gt; 0), as HF's <c>if encoder_hidden_states is not None</c>.</summary>
    internal void Forward(BigBirdPegasusCall call, in BigBirdPegasusScratch s, DeviceSpan hidden_states, int batch, int seq, int past,
                          DeviceSpan attention_mask, DeviceSpan encoder_hidden_states, int encoderLength, DeviceSpan encoder_attention_mask,
                          BigBirdPegasusKeyValueCache? cache, int layer)
    {
        int rows = batch * seq;
        var normed = s.Normed.Slice(0, rows * _d);
        var output = s.AttentionOutput.Slice(0, rows * _d);
        // self-attention block
        SelfAttnLayerNorm.Forward(normed, hidden_states, default, rows);
        SelfAttn.ForwardSelf(call, s, normed, output, batch, seq, past, attention_mask, cache, layer);
        call.Add(hidden_states, hidden_states, output, rows, _d);
        // cross-attention block
        if (encoderLength > 0)
        {
            EncoderAttnLayerNorm.Forward(normed, hidden_states, default, rows);
            EncoderAttn.ForwardCross(call, s, normed, output, batch, seq, encoder_hidden_states, encoderLength, encoder_attention_mask, cache, layer);
            call.Add(hidden_states, hidden_states, output, rows, _d);
        }
        // fully connected block
        FinalLayerNorm.Forward(normed, hidden_states, default, rows);
        var ffn = s.FeedForward.Slice(0, rows * Fc1.OutFeatures);
        Fc1.Forward(ffn, normed, rows, _activation);
        Fc2.Forward(output, ffn, rows);
        call.Add(hidden_states, hidden_states, output, rows, _d);
    }
}
