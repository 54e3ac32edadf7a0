using BigBirdSharp.Backends;

namespace BigBirdSharp.Modeling;

/// <summary>torch <c>nn.LayerNorm</c> over the last dimension.</summary>
public sealed class LayerNorm
{
    /// <summary>[normalized_shape] (gamma)</summary>
    public ReadOnlyMemory<float> Weight { get; }
    /// <summary>[normalized_shape] (beta)</summary>
    public ReadOnlyMemory<float> Bias { get; }
    /// <summary><c>layer_norm_eps</c>.</summary>
    public float Eps { get; }
    /// <summary>The normalized width.</summary>
    public int Size { get; }

    private readonly IComputeBackend _backend;
    private readonly DeviceBuffer _weight, _bias;

    internal LayerNorm(WeightLoader w, string path, int size, double eps)
    {
        Size = size;
        Eps = (float)eps;
        // old TF-converted checkpoints name these gamma/beta; HF renames them on load, and so do we
        Weight = w.Get($"{path}.weight", [$"{path}.gamma"], size);
        Bias = w.Get($"{path}.bias", [$"{path}.beta"], size);
        _backend = w.Backend;
        _weight = _backend.Upload(Weight);
        _bias = _backend.Upload(Bias);
    }

    /// <summary>y[rows, size] = LayerNorm(x + residual) (residual may be empty); y may alias x.</summary>
    internal void Forward(DeviceSpan y, DeviceSpan x, DeviceSpan residual, int rows) =>
        _backend.LayerNorm(y, x, residual, _weight.All, _bias.All, rows, Size, Eps);
}
