using BigBirdSharp.Gpu;

namespace BigBirdSharp.Cli;

/// <summary>
/// The command's GPU backends, one per device kind, started on first use (starting one compiles the kernels) and disposed
/// when the process exits.
/// </summary>
internal static class GpuBackends
{
    private static readonly Dictionary<GpuDevice, GpuBackend> s_started = [];
    private static readonly Lock s_lock = new();

    /// <summary>The backend on <paramref name="device"/>.</summary>
    /// <exception cref="GpuDeviceUnavailableException">The device is missing.</exception>
    public static GpuBackend Get(GpuDevice device)
    {
        lock (s_lock)
        {
            if (!s_started.TryGetValue(device, out var backend))
            {
                if (s_started.Count == 0) AppDomain.CurrentDomain.ProcessExit += (_, _) => DisposeAll();
                s_started[device] = backend = GpuBackend.Create(device);
            }
            return backend;
        }
    }

    private static void DisposeAll()
    {
        lock (s_lock)
        {
            foreach (var backend in s_started.Values) backend.Dispose();
            s_started.Clear();
        }
    }
}
