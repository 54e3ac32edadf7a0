using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;
using BigBirdSharp.Kernels;

namespace BigBirdSharp.Modeling;

/// <summary>dense → (dropout) → LayerNorm(x + input). Ports <c>BigBirdSelfOutput</c> (4.27.1 and main).</summary>
public sealed class BigBirdSelfOutput
{
    /// <summary>[hidden, hidden]</summary>
    public Linear dense { get; }
    /// <summary>LayerNorm over hidden.</summary>
    public LayerNorm LayerNorm { get; }

    internal BigBirdSelfOutput(WeightLoader w, string path, BigBirdConfig config)
    {
        dense = new Linear(w, $"{path}.dense", config.HiddenSize, config.HiddenSize);
        LayerNorm = new LayerNorm(w, $"{path}.LayerNorm", config.HiddenSize, config.LayerNormEps);
    }

    /// <summary>output[rows, hidden] = LayerNorm(dense(hidden_states) + input_tensor); output may alias neither input.</summary>
    public void Forward(IComputeBackend backend, Span<float> output, ReadOnlySpan<float> hidden_states, ReadOnlySpan<float> input_tensor, int rows)
    {
        dense.Forward(backend, output, hidden_states, rows);
        backend.Add(output, output, input_tensor);
        LayerNorm.Forward(backend, output, output, rows);
    }
}

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

    /// <summary>output[rows, intermediate] = act(dense(hidden_states)).</summary>
    public void Forward(IComputeBackend backend, Span<float> output, ReadOnlySpan<float> hidden_states, int rows)
    {
        dense.Forward(backend, output, hidden_states, rows);
        backend.Activate(output, intermediate_act_fn);
    }
}

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

    /// <summary>output[rows, hidden] = LayerNorm(dense(hidden_states) + input_tensor).</summary>
    public void Forward(IComputeBackend backend, Span<float> output, ReadOnlySpan<float> hidden_states, ReadOnlySpan<float> input_tensor, int rows)
    {
        dense.Forward(backend, output, hidden_states, rows);
        backend.Add(output, output, input_tensor);
        LayerNorm.Forward(backend, output, output, rows);
    }
}
