using BigBirdSharp.Kernels;

namespace BigBirdSharp.Backends;

/// <summary>
/// The managed CPU backend: every operation runs on the SIMD kernels of <see cref="BigBirdSharp.Kernels"/>.
/// Stateless and therefore thread-safe; the hot paths allocate nothing per call (GEMM packing buffers are
/// per-thread and reused; large GEMMs fan out with <see cref="Parallel.For(int, int, Action{int})"/>).
/// </summary>
public sealed class CpuBackend : IComputeBackend
{
    /// <summary>The shared instance; the backend holds no state, so one is enough.</summary>
    public static CpuBackend Instance { get; } = new();

    /// <inheritdoc />
    public string Name => "cpu";

    /// <inheritdoc />
    public bool Supports(BackendOp op) => op is BackendOp.MatMul or BackendOp.Linear or BackendOp.LayerNorm
        or BackendOp.Softmax or BackendOp.Activation or BackendOp.Add or BackendOp.GatherRows;

    /// <inheritdoc />
    /// <exception cref="ArgumentException">A span length does not match m, n, k.</exception>
    public void MatMul(Span<float> c, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
                       int m, int n, int k, bool transposeB, float alpha = 1f, bool accumulate = false)
        => Gemm.Multiply(c, a, b, m, n, k, transposeB, alpha, accumulate);

    /// <inheritdoc />
    /// <exception cref="ArgumentException">A span length does not match the shapes (bias must be empty or outFeatures long).</exception>
    public void Linear(Span<float> y, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias,
                       int rows, int inFeatures, int outFeatures)
    {
        if (!bias.IsEmpty && bias.Length != outFeatures)
        {
            throw new ArgumentException($"Linear bias has {bias.Length} elements but outFeatures={outFeatures} (pass an empty span for no bias).", nameof(bias));
        }
        // Validate everything before writing the bias into y.
        Gemm.Validate(y.Length, x.Length, weight.Length, rows, outFeatures, inFeatures, transposeB: true);
        if (bias.IsEmpty)
        {
            Gemm.Multiply(y, x, weight, rows, outFeatures, inFeatures, transposeB: true);
        }
        else
        {
            Elementwise.BroadcastRows(y, bias, rows);
            Gemm.Multiply(y, x, weight, rows, outFeatures, inFeatures, transposeB: true, accumulate: true);
        }
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">A span length does not match rows and cols.</exception>
    public void LayerNorm(Span<float> y, ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta,
                          int rows, int cols, float eps)
        => Normalization.LayerNorm(y, x, gamma, beta, rows, cols, eps);

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The length of <paramref name="x"/> is not rows·cols.</exception>
    public void SoftmaxRows(Span<float> x, int rows, int cols) => Normalization.SoftmaxRows(x, rows, cols);

    /// <inheritdoc />
    public void Activate(Span<float> x, ActivationKind kind) => Activations.Apply(x, kind);

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    public void Add(Span<float> y, ReadOnlySpan<float> a, ReadOnlySpan<float> b) => Elementwise.Add(y, a, b);

    /// <inheritdoc />
    /// <exception cref="ArgumentException">A length does not match or an index is out of range.</exception>
    public void GatherRows(Span<float> dst, ReadOnlySpan<float> src, ReadOnlySpan<int> rowIndices, int rowLength)
        => Elementwise.GatherRows(dst, src, rowIndices, rowLength);
}
