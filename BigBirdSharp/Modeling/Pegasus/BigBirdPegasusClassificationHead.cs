using BigBirdSharp.Backends;
using BigBirdSharp.Kernels;

namespace BigBirdSharp.Modeling.Pegasus;

/// <summary>
/// The sentence-level head of BigBirdPegasusForSequenceClassification. Ports <c>BigBirdPegasusClassificationHead</c>
/// (transformers 4.27.1): dense [d_model, d_model] + bias, tanh, out_proj [num_labels, d_model] + bias; its dropouts are
/// the identity at inference.
/// </summary>
public sealed class BigBirdPegasusClassificationHead
{
    /// <summary>dense: [inner_dim = d_model, input_dim = d_model] + bias.</summary>
    public Linear Dense { get; }
    /// <summary>out_proj: [num_labels, d_model] + bias.</summary>
    public Linear OutProj { get; }

    internal BigBirdPegasusClassificationHead(WeightLoader w, string path, int inputDim, int innerDim, int numClasses)
    {
        Dense = new Linear(w, $"{path}.dense", inputDim, innerDim);
        OutProj = new Linear(w, $"{path}.out_proj", innerDim, numClasses);
    }

    /// <summary>logits [rows, num_labels] ← out_proj(tanh(dense(hidden_states [rows, d_model]))), in the call's work space.</summary>
    internal DeviceSpan Forward(BigBirdPegasusCall call, DeviceSpan hidden_states, int rows)
    {
        var inner = call.Rent(rows * Dense.OutFeatures);
        // hidden_states = torch.tanh(self.dense(hidden_states))
        Dense.Forward(inner, hidden_states, rows, ActivationKind.Tanh);
        var logits = call.Rent(rows * OutProj.OutFeatures);
        OutProj.Forward(logits, inner, rows);
        return logits;
    }
}
