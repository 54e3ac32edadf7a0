using System.Numerics.Tensors;

namespace BigBirdSharp.Kernels;

/// <summary>Validated elementwise helpers: addition, bias broadcast and row gathering.</summary>
internal static class Elementwise
{
    /// <summary>y = a + b (TensorPrimitives.Add). <paramref name="y"/> may be the same span as a or b.</summary>
    /// <param name="y">Output.</param>
    /// <param name="a">First addend.</param>
    /// <param name="b">Second addend.</param>
    /// <exception cref="ArgumentException">The three lengths are not equal.</exception>
    public static void Add(Span<float> y, ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length || y.Length != a.Length)
        {
            throw new ArgumentException($"Add needs equal lengths, got y={y.Length}, a={a.Length}, b={b.Length}.", nameof(y));
        }
        TensorPrimitives.Add(a, b, y);
    }

    /// <summary>Writes <paramref name="bias"/> into every row of y[rows, bias.Length].</summary>
    /// <param name="y">Output, rows·bias.Length.</param>
    /// <param name="bias">The row to broadcast.</param>
    /// <param name="rows">Number of rows.</param>
    /// <exception cref="ArgumentException">The length of <paramref name="y"/> is not rows·bias.Length.</exception>
    public static void BroadcastRows(Span<float> y, ReadOnlySpan<float> bias, int rows)
    {
        Normalization.CheckMatrix(y.Length, rows, bias.Length, nameof(y));
        for (int r = 0; r < rows; r++)
        {
            bias.CopyTo(y.Slice(r * bias.Length, bias.Length));
        }
    }

    /// <summary>dst[i, :] = src[rowIndices[i], :] for rows of <paramref name="rowLength"/> floats.</summary>
    /// <param name="dst">Output, rowIndices.Length·rowLength.</param>
    /// <param name="src">Source rows; its length must be a multiple of <paramref name="rowLength"/>.</param>
    /// <param name="rowIndices">Row numbers into <paramref name="src"/>.</param>
    /// <param name="rowLength">Floats per row.</param>
    /// <exception cref="ArgumentException">A length does not match, or an index is outside the source rows.</exception>
    public static void GatherRows(Span<float> dst, ReadOnlySpan<float> src, ReadOnlySpan<int> rowIndices, int rowLength)
    {
        if (rowLength < 0)
        {
            throw new ArgumentException($"Row length must be non-negative, got {rowLength}.", nameof(rowLength));
        }
        if (dst.Length != (long)rowIndices.Length * rowLength)
        {
            throw new ArgumentException($"GatherRows destination has {dst.Length} elements but {rowIndices.Length} rows of {rowLength} need {(long)rowIndices.Length * rowLength}.", nameof(dst));
        }
        if (rowLength == 0)
        {
            return;
        }
        if (src.Length % rowLength != 0)
        {
            throw new ArgumentException($"GatherRows source has {src.Length} elements, not a whole number of rows of {rowLength}.", nameof(src));
        }
        int srcRows = src.Length / rowLength;
        for (int i = 0; i < rowIndices.Length; i++)
        {
            int row = rowIndices[i];
            if ((uint)row >= (uint)srcRows)
            {
                throw new ArgumentOutOfRangeException(nameof(rowIndices), row, $"Row index {row} at position {i} is outside the {srcRows} source rows.");
            }
            src.Slice(row * rowLength, rowLength).CopyTo(dst.Slice(i * rowLength, rowLength));
        }
    }
}
