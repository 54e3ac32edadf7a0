using BigBirdSharp.Backends;
using BigBirdSharp.Kernels;

namespace BigBirdSharp.Modeling;

/// <summary>
/// torch <c>nn.Linear</c>: weight [out_features, in_features], optional bias [out_features], bound to the model's backend
/// at load. The module keeps no other copy of the weights: the CPU backend's packed panels are the only one, so a loaded
/// model holds its weights once.
/// </summary>
public sealed class Linear
{
    /// <summary>Whether the layer adds a bias.</summary>
    public bool HasBias => Bound.HasBias;
    /// <summary>Input width.</summary>
    public int InFeatures { get; }
    /// <summary>Output width.</summary>
    public int OutFeatures { get; }

    /// <summary>The weights in the backend's own form (packed panels on the CPU).</summary>
    internal BoundLinear Bound { get; }

    internal Linear(WeightLoader w, string path, int inFeatures, int outFeatures, bool bias = true)
        : this(w.Backend, w.GetForBinding($"{path}.weight", outFeatures, inFeatures), bias ? w.Get($"{path}.bias", outFeatures) : ReadOnlyMemory<float>.Empty,
               inFeatures, outFeatures)
    {
    }

    /// <summary>A linear layer over weights read elsewhere (the LM decoder tied to the word embeddings).</summary>
    internal Linear(IComputeBackend backend, ReadOnlyMemory<float> weight, ReadOnlyMemory<float> bias, int inFeatures, int outFeatures)
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Bound = backend.BindLinear(weight, bias, inFeatures, outFeatures);
    }

    /// <summary>y[rows, out] = act(x[rows, in] · Wᵀ + b), the activation fused into the product where the backend can.</summary>
    internal void Forward(DeviceSpan y, DeviceSpan x, int rows, ActivationKind activation = ActivationKind.Linear) =>
        Bound.Backend.Linear(y, x, Bound, rows, activation);

    private const string Advice = "run fewer rows per call or a shorter input.";

    /// <summary>Host form, for the heads: y[rows, out] = x[rows, in] · Wᵀ + b, run on the backend and returned on the host.</summary>
    internal float[] Forward(ReadOnlySpan<float> x, int rows)
    {
        int inputLength = TensorSize.ForInput("x", "[rows, in_features]", Advice, rows, InFeatures);
        int outputLength = TensorSize.ForInput("y", "[rows, out_features]", Advice, rows, OutFeatures);
        using var stage = new Heads.HostStage(Bound.Backend);
        var input = stage.Upload(x[..inputLength]);
        var output = stage.Rent(outputLength);
        Forward(output, input, rows);
        return stage.Download(output);
    }
}
