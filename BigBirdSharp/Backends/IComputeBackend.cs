using BigBirdSharp.Kernels;

namespace BigBirdSharp.Backends;

/// <summary>The coarse operations a backend may implement (ggml-backend style).</summary>
public enum BackendOp
{
    /// <summary><see cref="IComputeBackend.MatMul"/>.</summary>
    MatMul,
    /// <summary><see cref="IComputeBackend.Linear"/>.</summary>
    Linear,
    /// <summary><see cref="IComputeBackend.LayerNorm"/>.</summary>
    LayerNorm,
    /// <summary><see cref="IComputeBackend.SoftmaxRows"/>.</summary>
    Softmax,
    /// <summary><see cref="IComputeBackend.Activate"/>.</summary>
    Activation,
    /// <summary><see cref="IComputeBackend.Add"/>.</summary>
    Add,
    /// <summary><see cref="IComputeBackend.GatherRows"/>.</summary>
    GatherRows,
}

/// <summary>
/// The seam between the model and the arithmetic. The model calls only these coarse operations,
/// so another backend (a GPU one, in its own assembly) can replace the CPU reference op by op.
/// All tensors are dense, row-major float32 in host memory; shapes are passed explicitly and every
/// implementation validates span lengths against them. Implementations are thread-safe: many model
/// calls may run at once on one backend instance.
/// </summary>
public interface IComputeBackend
{
    /// <summary>A short name for logs and benchmarks, such as <c>cpu</c>.</summary>
    string Name { get; }

    /// <summary>Whether this backend implements <paramref name="op"/>.</summary>
    bool Supports(BackendOp op);

    /// <summary>
    /// c[m, n] = alpha · a[m, k] · op(b) (+ c when <paramref name="accumulate"/>), where op(b) is
    /// b[k, n], or b[n, k] transposed when <paramref name="transposeB"/>.
    /// </summary>
    void MatMul(Span<float> c, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
                int m, int n, int k, bool transposeB, float alpha = 1f, bool accumulate = false);

    /// <summary>
    /// PyTorch <c>nn.Linear</c>: y[rows, outFeatures] = x[rows, inFeatures] · weight[outFeatures, inFeatures]ᵀ + bias.
    /// An empty <paramref name="bias"/> means no bias.
    /// </summary>
    void Linear(Span<float> y, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias,
                int rows, int inFeatures, int outFeatures);

    /// <summary>PyTorch <c>nn.LayerNorm</c> over the last dimension: y = (x − mean)/√(var + eps)·gamma + beta, biased variance.</summary>
    void LayerNorm(Span<float> y, ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta,
                   int rows, int cols, float eps);

    /// <summary>In-place softmax of each row of x[rows, cols], subtracting the row maximum first.</summary>
    void SoftmaxRows(Span<float> x, int rows, int cols);

    /// <summary>In-place elementwise activation.</summary>
    void Activate(Span<float> x, ActivationKind kind);

    /// <summary>y = a + b, elementwise (y may alias a or b).</summary>
    void Add(Span<float> y, ReadOnlySpan<float> a, ReadOnlySpan<float> b);

    /// <summary>
    /// dst[i, :] = src[rowIndices[i], :] for rows of <paramref name="rowLength"/> floats:
    /// the gather used to collect key/value blocks for block-sparse attention.
    /// </summary>
    void GatherRows(Span<float> dst, ReadOnlySpan<float> src, ReadOnlySpan<int> rowIndices, int rowLength);
}
