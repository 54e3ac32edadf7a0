using BigBirdSharp.Backends;

namespace BigBirdSharp.Modeling.Heads;

/// <summary>
/// Work space of one head call on the model's backend: the head's host inputs (the encoder's outputs) are uploaded,
/// its modules run on the backend, and its outputs are downloaded; the buffers go back to the backend's pool at the end.
/// </summary>
internal sealed class HostStage(IComputeBackend backend) : IDisposable
{
    private readonly List<DeviceBuffer> _rented = [];

    public IComputeBackend Backend => backend;

    /// <summary>A rented view of <paramref name="length"/> floats.</summary>
    public DeviceSpan Rent(int length)
    {
        var buffer = backend.Workspace.Rent(length);
        _rented.Add(buffer);
        return buffer.Slice(0, length);
    }

    /// <summary>A rented view holding a copy of <paramref name="host"/>.</summary>
    public DeviceSpan Upload(ReadOnlySpan<float> host)
    {
        var view = Rent(host.Length);
        backend.Upload(view, host);
        return view;
    }

    /// <summary>The view's contents on the host.</summary>
    public float[] Download(DeviceSpan view)
    {
        var host = new float[view.Length];
        backend.Download(view, host);
        return host;
    }

    public void Dispose()
    {
        foreach (var buffer in _rented) backend.Workspace.Return(buffer);
        _rented.Clear();
    }
}
