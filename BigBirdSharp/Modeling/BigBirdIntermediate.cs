using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;
using BigBirdSharp.Kernels;

namespace BigBirdSharp.Modeling;

/// <summary>dense → activation. Ports <c>BigBirdIntermediate</c> (4.27.1 and main).</summary>
public sealed class BigBirdIntermediate
{
    /// <summary>[intermediate, hidden]</summary>
    public Linear dense { get; }
    /// <summary>config.hidden_act.</summary>
    public ActivationKind intermediate_act_fn { get; }

    internal BigBirdIntermediate(WeightLoader w, string path, BigBirdConfig config)
    {
        dense = new Linear(w, $"{path}.dense", config.HiddenSize, config.IntermediateSize);
        intermediate_act_fn = config.HiddenActKind;
    }

    /// <summary>output[rows, intermediate] = act(dense(hidden_states)), the activation fused into the product.</summary>
    internal void Forward(DeviceSpan output, DeviceSpan hidden_states, int rows) =>
        dense.Forward(output, hidden_states, rows, intermediate_act_fn);
}
