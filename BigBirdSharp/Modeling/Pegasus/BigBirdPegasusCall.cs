using BigBirdSharp.Backends;
using BigBirdSharp.Modeling.Heads;

namespace BigBirdSharp.Modeling.Pegasus;

/// <summary>
/// The work space of one BigBirdPegasus call: buffers rented from the backend's pool (returned when the call ends), the
/// call's cancellation token, and the residual sum <c>residual + hidden_states</c> (the backend's Add).
/// </summary>
internal sealed class BigBirdPegasusCall(IComputeBackend backend, DeviceSpan zeroRow, CancellationToken cancellation) : IDisposable
{
    private readonly HostStage _stage = new(backend);
    private int[] _zeroIds = [];

    public IComputeBackend Backend => backend;
    public CancellationToken Cancellation => cancellation;

    /// <summary>[d_model] zeros on the backend: the "token type" term of every embedding sum.</summary>
    public DeviceSpan ZeroRow => zeroRow;

    /// <summary>A rented view of <paramref name="length"/> floats (contents undefined).</summary>
    public DeviceSpan Rent(int length) => _stage.Rent(length);

    /// <summary>A rented view holding <paramref name="host"/>.</summary>
    public DeviceSpan Upload(ReadOnlySpan<float> host) => _stage.Upload(host);

    /// <summary>The view's contents on the host.</summary>
    public float[] Download(DeviceSpan view) => _stage.Download(view);

    /// <summary>n zeros (the ids of the zero row).</summary>
    public ReadOnlySpan<int> ZeroIds(int n)
    {
        if (_zeroIds.Length < n) _zeroIds = new int[n];
        return _zeroIds.AsSpan(0, n);
    }

    /// <summary>y[rows, width] = a + b (PyTorch's <c>residual + hidden_states</c>) on the backend; y may be a or b.</summary>
    public void Add(DeviceSpan y, DeviceSpan a, DeviceSpan b, int rows, int width)
    {
        int n = rows * width;
        backend.Add(y.Slice(0, n), a.Slice(0, n), b.Slice(0, n));
    }

    /// <summary>HF's <c>_expand_mask</c> as the backend's additive mask: 0 where attended, float.MinValue where
    /// <paramref name="mask"/> is 0; all zeros without a mask.</summary>
    public DeviceSpan AdditiveMask(int[]? mask, int length)
    {
        var host = new float[length];
        if (mask is not null)
            for (int i = 0; i < length; i++) host[i] = mask[i] != 0 ? 0f : float.MinValue;
        return Upload(host);
    }

    public void Dispose() => _stage.Dispose();
}
