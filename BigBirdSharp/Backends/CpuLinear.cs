using BigBirdSharp.Kernels;

namespace BigBirdSharp.Backends;

/// <summary>
/// The CPU backend's nn.Linear: the weight packed once, at load, into the GEMM micro-kernel's panel layout
/// (<see cref="PackedMatrix"/>, the only copy the model keeps), and the bias. A forward is one GEMM with the bias and
/// the activation fused into its epilogue.
/// </summary>
internal sealed class CpuLinear : BoundLinear
{
    /// <summary>Wᵀ in panels.</summary>
    public readonly PackedMatrix Weight;
    /// <summary>[out_features] or empty.</summary>
    public readonly float[] Bias;

    public CpuLinear(CpuBackend backend, ReadOnlyMemory<float> weight, ReadOnlyMemory<float> bias, int inFeatures, int outFeatures)
        : base(backend, inFeatures, outFeatures, !bias.IsEmpty)
    {
        if (weight.Length != (long)inFeatures * outFeatures)
            throw new ArgumentException($"Linear weight has {weight.Length} elements but [{outFeatures}, {inFeatures}] needs {(long)inFeatures * outFeatures}.", nameof(weight));
        if (!bias.IsEmpty && bias.Length != outFeatures)
            throw new ArgumentException($"Linear bias has {bias.Length} elements but out_features={outFeatures} (pass an empty bias for none).", nameof(bias));
        Weight = new PackedMatrix(weight.Span, outFeatures, inFeatures);
        Bias = bias.ToArray();
    }

    /// <summary>y = act(x·Wᵀ + b).</summary>
    public void Forward(Span<float> y, ReadOnlySpan<float> x, int rows, ActivationKind activation) =>
        Gemm.Linear(y, x, Weight, Bias, rows, activation);
}
