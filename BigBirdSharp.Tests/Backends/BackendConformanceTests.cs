using BigBirdSharp.Backends;
using BigBirdSharp.Tests.Kernels;

namespace BigBirdSharp.Tests.Backends;

/// <summary>
/// The conformance suite every <see cref="IComputeBackend"/> runs, as ggml's <c>test-backend-ops</c> runs every backend:
/// memory (allocation, upload, download, views, the work-space pool, ownership, disposal), every operation against a plain
/// scalar reference with double accumulation (<see cref="ScalarReference"/>), argument validation, and the whole model on
/// the PyTorch fixtures through the backend. A backend joins by subclassing this class with its instance (see
/// <see cref="CpuBackendConformanceTests"/>). Each tolerance is stated and justified where it is used.
/// </summary>
public abstract partial class BackendConformanceTests
{
    /// <summary>The backend under test.</summary>
    protected abstract IComputeBackend Backend { get; }

    /// <summary>Lengths around every vector width and its multiples (STYLE.md), so each kernel's tail runs.</summary>
    public static readonly int[] Lengths = KernelTestData.Lengths;

    protected static float[] Normal(int seed, int length, double std = 1) => KernelTestData.Normal(new System.Random(seed), length, 0, std);

    protected static float[] Uniform(int seed, int length, float low = -1f, float high = 1f) =>
        KernelTestData.Uniform(new System.Random(seed), length, low, high);

    /// <summary>A new writable buffer holding a copy of <paramref name="host"/>.</summary>
    protected DeviceBuffer Writable(float[] host)
    {
        var buffer = Backend.Allocate(host.Length);
        Backend.Upload(buffer.All, host);
        return buffer;
    }

    /// <summary>A writable buffer of <paramref name="length"/> copies of <paramref name="value"/> (NaN: stale contents that must not leak).</summary>
    protected DeviceBuffer Filled(int length, float value)
    {
        var host = new float[length];
        Array.Fill(host, value);
        return Writable(host);
    }

    protected float[] Download(DeviceSpan view)
    {
        var host = new float[view.Length];
        Backend.Download(view, host);
        return host;
    }

    protected float[] Download(DeviceBuffer buffer) => Download(buffer.All);

    /// <summary>|actual − expected| ≤ abs + rel·|expected| for every element, NaN only against NaN.</summary>
    protected static void AssertClose(ReadOnlySpan<double> expected, ReadOnlySpan<float> actual, double abs, double rel, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: {actual.Length} values, expected {expected.Length}");
        for (int i = 0; i < expected.Length; i++)
            KernelTestData.AssertClose(expected[i], actual[i], abs, rel, $"{what}[{i}]");
    }

    protected static void AssertBitwise(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what) =>
        KernelTestData.AssertSameFloats(expected, actual, what);

    [Fact]
    public void Describes_itself_and_supports_every_operation_the_model_needs()
    {
        Assert.False(string.IsNullOrWhiteSpace(Backend.Name));
        Assert.All(Enum.GetValues<BackendOp>(), op => Assert.True(Backend.Supports(op), $"{Backend.Name} does not support {op}"));
        Assert.False(Backend.Supports((BackendOp)1234));
        Assert.NotNull(Backend.Workspace);
        Assert.Same(Backend.Workspace, Backend.Workspace);
        Backend.Synchronize();
    }
}
