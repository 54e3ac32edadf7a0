namespace BigBirdSharp.Backends;

/// <summary>
/// A torch <c>nn.Linear</c>'s weight [out_features, in_features] and bias, bound to a backend once at load
/// (<see cref="IComputeBackend.BindLinear"/>): packed into the CPU micro-kernel's panel layout, or uploaded to a device.
/// </summary>
public abstract class BoundLinear
{
    /// <summary>Binds a weight of <paramref name="outFeatures"/> × <paramref name="inFeatures"/>.</summary>
    protected BoundLinear(IComputeBackend backend, int inFeatures, int outFeatures, bool hasBias)
    {
        Backend = backend;
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        HasBias = hasBias;
    }

    /// <summary>The backend that holds the weights.</summary>
    public IComputeBackend Backend { get; }
    /// <summary>in_features.</summary>
    public int InFeatures { get; }
    /// <summary>out_features.</summary>
    public int OutFeatures { get; }
    /// <summary>Whether a bias is added.</summary>
    public bool HasBias { get; }
}
