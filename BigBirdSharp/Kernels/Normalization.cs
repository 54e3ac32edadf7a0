using System.Numerics.Tensors;

namespace BigBirdSharp.Kernels;

/// <summary>
/// Row-wise softmax and layer normalization for row-major [rows, cols] matrices. Both are composed from
/// TensorPrimitives (Max, Subtract, Exp, Sum, SumOfSquares, Multiply, MultiplyAdd), whose float Exp is computed
/// through double internally and is accurate to about an ulp; no hand-written path was needed.
/// </summary>
internal static partial class Normalization
{
    /// <summary>
    /// In-place softmax of each row: exp(x − max) / Σ exp(x − max), multiplying by the reciprocal of the sum
    /// as torch's vectorized CPU kernel does. −∞ entries become 0; a row whose entries are all equal, such as all
    /// <see cref="float.MinValue"/>, becomes uniform. A row of only −∞ yields NaN, as in PyTorch.
    /// </summary>
    /// <param name="x">The matrix, rows·cols elements.</param>
    /// <param name="rows">Number of rows.</param>
    /// <param name="cols">Row length.</param>
    /// <exception cref="ArgumentException">The length of <paramref name="x"/> is not rows·cols, or a size is negative.</exception>
    public static void SoftmaxRows(Span<float> x, int rows, int cols)
    {
        CheckMatrix(x.Length, rows, cols, nameof(x));
        for (int r = 0; r < rows; r++)
        {
            SoftmaxRow(x.Slice(r * cols, cols));
        }
    }

    /// <summary>In-place softmax of one row (see <see cref="SoftmaxRows"/>).</summary>
    /// <param name="row">The row; empty is allowed.</param>
    public static void SoftmaxRow(Span<float> row)
    {
        if (row.IsEmpty)
        {
            return;
        }
        float max = TensorPrimitives.Max(row);
        TensorPrimitives.Subtract(row, max, row);
        TensorPrimitives.Exp(row, row);
        float sum = TensorPrimitives.Sum(row);
        TensorPrimitives.Multiply(row, 1f / sum, row);
    }

    /// <summary>
    /// PyTorch <c>nn.LayerNorm</c> over each row: y = (x − mean)·(1/√(var + eps))·gamma + beta with the biased
    /// variance. Shifted two-pass moments (mean, then the mean of squared deviations) keep mean and variance accurate.
    /// <paramref name="y"/> may be the same span as <paramref name="x"/>.
    /// </summary>
    /// <param name="y">Output, rows·cols.</param>
    /// <param name="x">Input, rows·cols.</param>
    /// <param name="gamma">Scale, cols.</param>
    /// <param name="beta">Shift, cols.</param>
    /// <param name="rows">Number of rows.</param>
    /// <param name="cols">Normalized length.</param>
    /// <param name="eps">Added to the variance inside the square root.</param>
    /// <exception cref="ArgumentException">A span length does not match the shapes.</exception>
    public static void LayerNorm(Span<float> y, ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta,
                                 int rows, int cols, float eps)
    {
        CheckMatrix(x.Length, rows, cols, nameof(x));
        CheckMatrix(y.Length, rows, cols, nameof(y));
        if (gamma.Length != cols)
        {
            throw new ArgumentException($"LayerNorm gamma has {gamma.Length} elements but cols={cols}.", nameof(gamma));
        }
        if (beta.Length != cols)
        {
            throw new ArgumentException($"LayerNorm beta has {beta.Length} elements but cols={cols}.", nameof(beta));
        }
        if (cols == 0)
        {
            return;
        }
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> xr = x.Slice(r * cols, cols);
            Span<float> yr = y.Slice(r * cols, cols);
            // Shifted two-pass moments: subtracting the first element makes the values small relative to
            // their spread, so the float mean and the deviations are accurate even when the row sits far from
            // zero (a plain float mean of values near 100 is already off by an ulp of 100).
            float shift = xr[0];
            TensorPrimitives.Subtract(xr, shift, yr);
            float shiftedMean = TensorPrimitives.Sum(yr) / cols;
            TensorPrimitives.Subtract(yr, shiftedMean, yr);
            float variance = TensorPrimitives.SumOfSquares(yr) / cols;
            float rstd = (float)(1.0 / Math.Sqrt((double)variance + eps));
            TensorPrimitives.Multiply(yr, rstd, yr);
            TensorPrimitives.MultiplyAdd(yr, gamma, beta, yr);
        }
    }

    internal static void CheckMatrix(int length, int rows, int cols, string name)
    {
        if (rows < 0 || cols < 0)
        {
            throw new ArgumentException($"Matrix sizes must be non-negative, got rows={rows}, cols={cols}.", name);
        }
        if (length != (long)rows * cols)
        {
            throw new ArgumentException($"Span has {length} elements but the shape [rows={rows}, cols={cols}] needs {(long)rows * cols}.", name);
        }
    }
}
