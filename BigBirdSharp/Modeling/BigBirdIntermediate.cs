using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;
using BigBirdSharp.Kernels;

namespace BigBirdSharp.Modeling;

/// <summary>dense → activation. Ports <c>BigBirdIntermediate</c> (4.27.1 and main).</summary>
public sealed class BigBirdIntermediate
{
    /// <summary>HF's <c>dense</c>: [intermediate, hidden]</summary>
    public Linear Dense { get; }
    /// <summary>HF's <c>intermediate_act_fn</c>: config.hidden_act.</summary>
    public ActivationKind IntermediateActFn { get; }

    internal BigBirdIntermediate(WeightLoader w, string path, BigBirdConfig config)
    {
        Dense = new Linear(w, $"{path}.dense", config.HiddenSize, config.IntermediateSize);
        IntermediateActFn = config.HiddenActKind;
    }

    /// <summary>output[rows, intermediate] = act(dense(hidden_states)), the activation fused into the product.</summary>
    internal void Forward(DeviceSpan output, DeviceSpan hidden_states, int rows) =>
        Dense.Forward(output, hidden_states, rows, IntermediateActFn);
}
