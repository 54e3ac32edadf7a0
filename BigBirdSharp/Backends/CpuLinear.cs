using BigBirdSharp.Kernels;

namespace BigBirdSharp.Backends;

/// <summary>The CPU backend's nn.Linear: the weight [out, in] and bias, as views of the checkpoint.</summary>
internal sealed class CpuLinear : BoundLinear
{
    /// <summary>[out_features, in_features]</summary>
    public readonly ReadOnlyMemory<float> Weight;
    /// <summary>[out_features] or empty.</summary>
    public readonly ReadOnlyMemory<float> Bias;

    public CpuLinear(CpuBackend backend, ReadOnlyMemory<float> weight, ReadOnlyMemory<float> bias, int inFeatures, int outFeatures)
        : base(backend, inFeatures, outFeatures, !bias.IsEmpty)
    {
        if (weight.Length != (long)inFeatures * outFeatures)
            throw new ArgumentException($"Linear weight has {weight.Length} elements but [{outFeatures}, {inFeatures}] needs {(long)inFeatures * outFeatures}.", nameof(weight));
        if (!bias.IsEmpty && bias.Length != outFeatures)
            throw new ArgumentException($"Linear bias has {bias.Length} elements but out_features={outFeatures} (pass an empty bias for none).", nameof(bias));
        Weight = weight;
        Bias = bias;
    }

    /// <summary>y = act(x·Wᵀ + b).</summary>
    public void Forward(Span<float> y, ReadOnlySpan<float> x, int rows, ActivationKind activation)
    {
        Gemm.Validate(y.Length, x.Length, Weight.Length, rows, OutFeatures, InFeatures, transposeB: true);
        if (Bias.IsEmpty)
        {
            Gemm.Multiply(y, x, Weight.Span, rows, OutFeatures, InFeatures, transposeB: true);
        }
        else
        {
            Elementwise.BroadcastRows(y, Bias.Span, rows);
            Gemm.Multiply(y, x, Weight.Span, rows, OutFeatures, InFeatures, transposeB: true, accumulate: true);
        }
        if (activation != ActivationKind.Linear) Activations.Apply(y, activation);
    }
}
