using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;

namespace BigBirdSharp.Modeling;

/// <summary>dense → (dropout) → LayerNorm(x + input). Ports <c>BigBirdOutput</c> (4.27.1 and main).</summary>
public sealed class BigBirdOutput
{
    /// <summary>HF's <c>dense</c>: [hidden, intermediate]</summary>
    public Linear Dense { get; }
    /// <summary>LayerNorm over hidden.</summary>
    public LayerNorm LayerNorm { get; }

    internal BigBirdOutput(WeightLoader w, string path, BigBirdConfig config)
    {
        Dense = new Linear(w, $"{path}.dense", config.IntermediateSize, config.HiddenSize);
        LayerNorm = new LayerNorm(w, $"{path}.LayerNorm", config.HiddenSize, config.LayerNormEps);
    }

    /// <summary>output[rows, hidden] = LayerNorm(dense(hidden_states) + input_tensor); output may alias neither input.</summary>
    internal void Forward(DeviceSpan output, DeviceSpan hidden_states, DeviceSpan input_tensor, int rows) =>
        Forward(output, hidden_states, input_tensor, rows, dense_output: output);

    /// <summary>
    /// output = LayerNorm(dense(hidden_states) + input_tensor), the product going through <paramref name="dense_output"/>,
    /// which may be <paramref name="output"/> itself but neither input; <paramref name="output"/> may be
    /// <paramref name="input_tensor"/>, so a layer can update its hidden states in place.
    /// </summary>
    internal void Forward(DeviceSpan output, DeviceSpan hidden_states, DeviceSpan input_tensor, int rows, DeviceSpan dense_output)
    {
        Dense.Forward(dense_output, hidden_states, rows);
        LayerNorm.Forward(output, dense_output, input_tensor, rows);
    }
}
