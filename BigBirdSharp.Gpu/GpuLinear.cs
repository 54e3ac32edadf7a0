using BigBirdSharp.Backends;

namespace BigBirdSharp.Gpu;

/// <summary>A <see cref="GpuBackend"/>'s nn.Linear: the weight [out, in] as torch stores it and the bias, uploaded once at bind.</summary>
internal sealed class GpuLinear : BoundLinear
{
    public GpuLinear(GpuBackend backend, GpuBuffer weight, GpuBuffer bias, int inFeatures, int outFeatures, bool hasBias)
        : base(backend, inFeatures, outFeatures, hasBias)
    {
        Weight = weight;
        Bias = bias;
    }

    /// <summary>[out_features, in_features].</summary>
    public GpuBuffer Weight { get; }
    /// <summary>[out_features], or empty for none.</summary>
    public GpuBuffer Bias { get; }
}
