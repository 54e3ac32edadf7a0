using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;
using BigBirdSharp.Kernels;

namespace BigBirdSharp.Modeling.Pegasus;

/// <summary>
/// One pre-LayerNorm encoder layer. Ports <c>BigBirdPegasusEncoderLayer</c> (transformers 4.27.1):
/// h = h + self_attn(self_attn_layer_norm(h)); h = h + fc2(act(fc1(final_layer_norm(h)))).
/// </summary>
public sealed class BigBirdPegasusEncoderLayer
{
    /// <summary>self_attn</summary>
    public BigBirdPegasusEncoderAttention SelfAttn { get; }
    /// <summary>self_attn_layer_norm</summary>
    public LayerNorm SelfAttnLayerNorm { get; }
    /// <summary>fc1: [encoder_ffn_dim, d_model] + bias.</summary>
    public Linear Fc1 { get; }
    /// <summary>fc2: [d_model, encoder_ffn_dim] + bias.</summary>
    public Linear Fc2 { get; }
    /// <summary>final_layer_norm</summary>
    public LayerNorm FinalLayerNorm { get; }
    /// <summary>The layer index: HF's seed for its random plan.</summary>
    public int Seed { get; }

    private readonly int _d;
    private readonly ActivationKind _activation;

    internal BigBirdPegasusEncoderLayer(WeightLoader w, string path, BigBirdPegasusConfig config, int seed)
    {
        _d = config.DModel;
        _activation = config.ActivationKind;
        Seed = seed;
        SelfAttn = new BigBirdPegasusEncoderAttention(w, $"{path}.self_attn", config);
        SelfAttnLayerNorm = new LayerNorm(w, $"{path}.self_attn_layer_norm", _d, BigBirdPegasusModel.LayerNormEps);
        Fc1 = new Linear(w, $"{path}.fc1", _d, config.EncoderFfnDim);
        Fc2 = new Linear(w, $"{path}.fc2", config.EncoderFfnDim, _d);
        FinalLayerNorm = new LayerNorm(w, $"{path}.final_layer_norm", _d, BigBirdPegasusModel.LayerNormEps);
    }

    /// <summary>hidden_states [batch·seq, d] ← the layer, in place.</summary>
    internal void Forward(BigBirdPegasusCall call, in BigBirdPegasusScratch s, DeviceSpan hidden_states, int batch, int seq,
                          AttentionPlan plan, DeviceSpan mask)
    {
        int rows = batch * seq;
        var normed = s.Normed.Slice(0, rows * _d);
        var attention_output = s.AttentionOutput.Slice(0, rows * _d);
        // residual = hidden_states; hidden_states = self_attn(self_attn_layer_norm(hidden_states)); residual + hidden_states
        SelfAttnLayerNorm.Forward(normed, hidden_states, default, rows);
        SelfAttn.Forward(call, s, normed, attention_output, batch, seq, plan, mask);
        call.Add(hidden_states, hidden_states, attention_output, rows, _d);
        // residual = hidden_states; hidden_states = fc2(activation_fn(fc1(final_layer_norm(hidden_states)))); residual + hidden_states
        FinalLayerNorm.Forward(normed, hidden_states, default, rows);
        var ffn = s.FeedForward.Slice(0, rows * Fc1.OutFeatures);
        Fc1.Forward(ffn, normed, rows, _activation);
        Fc2.Forward(attention_output, ffn, rows);
        call.Add(hidden_states, hidden_states, attention_output, rows, _d);
    }
}
