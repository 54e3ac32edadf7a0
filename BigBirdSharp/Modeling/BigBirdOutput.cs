using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;

namespace BigBirdSharp.Modeling;

/// <summary>dense → (dropout) → LayerNorm(x + input). Ports <c>BigBirdOutput</c> (4.27.1 and main).</summary>
public sealed class BigBirdOutput
{
    /// <summary>[hidden, intermediate]</summary>
    public Linear dense { get; }
    /// <summary>LayerNorm over hidden.</summary>
    public LayerNorm LayerNorm { get; }

    internal BigBirdOutput(WeightLoader w, string path, BigBirdConfig config)
    {
        dense = new Linear(w, $"{path}.dense", config.IntermediateSize, config.HiddenSize);
        LayerNorm = new LayerNorm(w, $"{path}.LayerNorm", config.HiddenSize, config.LayerNormEps);
    }

    /// <summary>output[rows, hidden] = LayerNorm(dense(hidden_states) + input_tensor); output may alias neither input.</summary>
    internal void Forward(DeviceSpan output, DeviceSpan hidden_states, DeviceSpan input_tensor, int rows)
    {
        dense.Forward(output, hidden_states, rows);
        LayerNorm.Forward(output, output, input_tensor, rows);
    }
}
