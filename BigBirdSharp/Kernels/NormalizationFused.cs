using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace BigBirdSharp.Kernels;

/// <summary>Fused row kernels: residual add + LayerNorm, and the scaled, masked softmax of attention rows.</summary>
internal static unsafe partial class Normalization
{
    /// <summary>Rows·cols above which the row kernels fan out over <see cref="ComputePool.Current"/>.</summary>
    internal const long RowParallelThreshold = 1L << 16;

    [ThreadStatic]
    private static RowWork? t_rowWork;

    /// <summary>
    /// y = LayerNorm(x + residual) over each row (PyTorch <c>nn.LayerNorm</c>, biased variance), without a separate
    /// add pass over memory: each row's sum is written to y once and the statistics and the normalization then
    /// read it back while it is in L1. Moments are the shifted two-pass ones of <see cref="LayerNorm"/> (shift = the
    /// row's first sum). Hand-written because TensorPrimitives has no fused add + moments. y may be the same span as
    /// x or residual.
    /// </summary>
    /// <param name="y">Output, rows·cols.</param>
    /// <param name="x">Input, rows·cols.</param>
    /// <param name="residual">Added to x before normalizing, rows·cols.</param>
    /// <param name="gamma">Scale, cols.</param>
    /// <param name="beta">Shift, cols.</param>
    /// <param name="rows">Number of rows.</param>
    /// <param name="cols">Normalized length.</param>
    /// <param name="eps">Added to the variance inside the square root.</param>
    /// <exception cref="ArgumentException">A span length does not match the shapes.</exception>
    public static void AddLayerNorm(Span<float> y, ReadOnlySpan<float> x, ReadOnlySpan<float> residual,
                                    ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, int rows, int cols, float eps)
        => AddLayerNorm(y, x, residual, gamma, beta, rows, cols, eps, KernelPath.Auto, parallel: null);

    /// <summary>As the public overload, with the path forced and threading chosen (null: by size).</summary>
    internal static void AddLayerNorm(Span<float> y, ReadOnlySpan<float> x, ReadOnlySpan<float> residual,
                                      ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, int rows, int cols, float eps,
                                      KernelPath path, bool? parallel)
    {
        CheckMatrix(x.Length, rows, cols, nameof(x));
        CheckMatrix(residual.Length, rows, cols, nameof(residual));
        CheckMatrix(y.Length, rows, cols, nameof(y));
        if (gamma.Length != cols)
        {
            throw new ArgumentException($"LayerNorm gamma has {gamma.Length} elements but cols={cols}.", nameof(gamma));
        }
        if (beta.Length != cols)
        {
            throw new ArgumentException($"LayerNorm beta has {beta.Length} elements but cols={cols}.", nameof(beta));
        }
        if (rows == 0 || cols == 0)
        {
            return;
        }
        fixed (float* py = y)
        fixed (float* px = x)
        fixed (float* pr = residual)
        fixed (float* pg = gamma)
        fixed (float* pb = beta)
        {
            RowWork work = t_rowWork ??= new RowWork();
            work.SetLayerNorm(py, px, pr, pg, pb, rows, cols, eps, KernelPaths.Resolve(path));
            RunRows(work, rows, cols, parallel);
        }
    }

    /// <summary>
    /// In-place softmax(scale·s + mask) of each row of scores [rows, cols], with one additive mask row (cols long,
    /// e.g. 0 for keep and −10000 or −∞ for drop) broadcast over all rows. The scaled, masked logits are formed
    /// with TensorPrimitives.MultiplyAdd (scale·s + mask, rounded once per operation) and then normalized as in
    /// <see cref="SoftmaxRow"/> (max subtracted, exp, multiply by the reciprocal of the sum). A row masked
    /// entirely with −∞ yields NaN, as in PyTorch.
    /// </summary>
    /// <param name="scores">The scores, rows·cols; overwritten with the probabilities.</param>
    /// <param name="rows">Number of rows.</param>
    /// <param name="cols">Row length.</param>
    /// <param name="scale">Multiplies every score (e.g. 1/√head_dim).</param>
    /// <param name="additiveRowMask">Added to every row after scaling, cols long.</param>
    /// <exception cref="ArgumentException">A span length does not match the shapes.</exception>
    public static void MaskedSoftmaxRows(Span<float> scores, int rows, int cols, float scale, ReadOnlySpan<float> additiveRowMask)
        => MaskedSoftmaxRows(scores, rows, cols, scale, additiveRowMask, parallel: null);

    /// <summary>As the public overload, with threading chosen (null: by size).</summary>
    internal static void MaskedSoftmaxRows(Span<float> scores, int rows, int cols, float scale,
                                           ReadOnlySpan<float> additiveRowMask, bool? parallel)
    {
        CheckMatrix(scores.Length, rows, cols, nameof(scores));
        if (additiveRowMask.Length != cols)
        {
            throw new ArgumentException($"Softmax mask has {additiveRowMask.Length} elements but cols={cols}.", nameof(additiveRowMask));
        }
        if (rows == 0 || cols == 0)
        {
            return;
        }
        fixed (float* ps = scores)
        fixed (float* pm = additiveRowMask)
        {
            RowWork work = t_rowWork ??= new RowWork();
            work.SetSoftmax(ps, pm, rows, cols, scale);
            RunRows(work, rows, cols, parallel);
        }
    }

    private static void RunRows(RowWork work, int rows, int cols, bool? parallel)
    {
        bool goParallel = parallel ?? ((long)rows * cols >= RowParallelThreshold && !KernelThreading.InParallelWorker);
        try
        {
            if (goParallel && rows > 1)
            {
                ComputePool pool = ComputePool.Current;
                int chunks = Math.Min(rows, 4 * pool.ThreadCount);
                work.Chunks = chunks;
                pool.Run(work, chunks);
            }
            else
            {
                work.Chunks = 1;
                work.Run(0);
            }
        }
        finally
        {
            work.Clear();
        }
    }

    /// <summary>One call of a row kernel, cut into chunks of rows; reused per calling thread.</summary>
    private sealed class RowWork : IComputeWork
    {
        private float* _y, _x, _r, _g, _b, _mask;
        private int _rows, _cols;
        private float _eps, _scale;
        private KernelPath _path;
        private bool _softmax;

        internal int Chunks { get; set; }

        internal void SetLayerNorm(float* y, float* x, float* r, float* g, float* b, int rows, int cols, float eps, KernelPath path)
        {
            _y = y; _x = x; _r = r; _g = g; _b = b; _rows = rows; _cols = cols; _eps = eps; _path = path;
            _softmax = false;
        }

        internal void SetSoftmax(float* scores, float* mask, int rows, int cols, float scale)
        {
            _y = scores; _mask = mask; _rows = rows; _cols = cols; _scale = scale;
            _softmax = true;
        }

        internal void Clear() => _y = _x = _r = _g = _b = _mask = null;

        public void Run(int chunk)
        {
            int r0 = (int)((long)_rows * chunk / Chunks), r1 = (int)((long)_rows * (chunk + 1) / Chunks);
            int cols = _cols;
            for (int row = r0; row < r1; row++)
            {
                long offset = (long)row * cols;
                if (_softmax)
                {
                    var s = new Span<float>(_y + offset, cols);
                    TensorPrimitives.MultiplyAdd(s, _scale, new ReadOnlySpan<float>(_mask, cols), s);
                    SoftmaxRow(s);
                }
                else
                {
                    AddLayerNormRow(_path, _y + offset, _x + offset, _r + offset, _g, _b, cols, _eps);
                }
            }
        }
    }

    /// <summary>One row of <see cref="AddLayerNorm(Span{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, int, int, float)"/> on the chosen path.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddLayerNormRow(KernelPath path, float* y, float* x, float* r, float* g, float* b, int cols, float eps)
    {
        switch (path)
        {
            case KernelPath.Vector512:
                AddLayerNormRow512(y, x, r, g, b, cols, eps);
                break;
            case KernelPath.Vector256:
                AddLayerNormRow256(y, x, r, g, b, cols, eps);
                break;
            case KernelPath.Vector128:
                AddLayerNormRow128(y, x, r, g, b, cols, eps);
                break;
            default:
                AddLayerNormRowScalar(y, x, r, g, b, cols, eps);
                break;
        }
    }

    /// <summary>The scalar reference path: the vector paths do the same operations, with lane-wise partial sums.</summary>
    private static void AddLayerNormRowScalar(float* y, float* x, float* r, float* g, float* b, int cols, float eps)
    {
        float shift = x[0] + r[0];
        float sum = 0f;
        for (int j = 0; j < cols; j++)
        {
            float s = x[j] + r[j];
            y[j] = s;
            sum += s - shift;
        }
        float shiftedMean = sum / cols;
        float squares = 0f;
        for (int j = 0; j < cols; j++)
        {
            float d = y[j] - shift - shiftedMean;
            squares = MathF.FusedMultiplyAdd(d, d, squares);
        }
        float rstd = (float)(1.0 / Math.Sqrt((double)(squares / cols) + eps));
        for (int j = 0; j < cols; j++)
        {
            float z = (y[j] - shift - shiftedMean) * rstd;
            y[j] = z * g[j] + b[j];
        }
    }

    private static void AddLayerNormRow512(float* y, float* x, float* r, float* g, float* b, int cols, float eps)
    {
        float shift = x[0] + r[0];
        Vector512<float> vs = Vector512.Create(shift);
        Vector512<float> acc = Vector512<float>.Zero;
        int j = 0;
        for (; j <= cols - 16; j += 16)
        {
            Vector512<float> s = Vector512.Load(x + j) + Vector512.Load(r + j);
            s.Store(y + j);
            acc += s - vs;
        }
        float sum = Vector512.Sum(acc);
        for (; j < cols; j++)
        {
            float s = x[j] + r[j];
            y[j] = s;
            sum += s - shift;
        }
        float shiftedMean = sum / cols;
        Vector512<float> vm = Vector512.Create(shiftedMean);
        acc = Vector512<float>.Zero;
        for (j = 0; j <= cols - 16; j += 16)
        {
            Vector512<float> d = Vector512.Load(y + j) - vs - vm;
            acc = Vector512.FusedMultiplyAdd(d, d, acc);
        }
        float squares = Vector512.Sum(acc);
        for (; j < cols; j++)
        {
            float d = y[j] - shift - shiftedMean;
            squares = MathF.FusedMultiplyAdd(d, d, squares);
        }
        float rstd = (float)(1.0 / Math.Sqrt((double)(squares / cols) + eps));
        Vector512<float> vr = Vector512.Create(rstd);
        for (j = 0; j <= cols - 16; j += 16)
        {
            Vector512<float> z = (Vector512.Load(y + j) - vs - vm) * vr;
            (z * Vector512.Load(g + j) + Vector512.Load(b + j)).Store(y + j);
        }
        for (; j < cols; j++)
        {
            float z = (y[j] - shift - shiftedMean) * rstd;
            y[j] = z * g[j] + b[j];
        }
    }

    private static void AddLayerNormRow256(float* y, float* x, float* r, float* g, float* b, int cols, float eps)
    {
        float shift = x[0] + r[0];
        Vector256<float> vs = Vector256.Create(shift);
        Vector256<float> acc = Vector256<float>.Zero;
        int j = 0;
        for (; j <= cols - 8; j += 8)
        {
            Vector256<float> s = Vector256.Load(x + j) + Vector256.Load(r + j);
            s.Store(y + j);
            acc += s - vs;
        }
        float sum = Vector256.Sum(acc);
        for (; j < cols; j++)
        {
            float s = x[j] + r[j];
            y[j] = s;
            sum += s - shift;
        }
        float shiftedMean = sum / cols;
        Vector256<float> vm = Vector256.Create(shiftedMean);
        acc = Vector256<float>.Zero;
        for (j = 0; j <= cols - 8; j += 8)
        {
            Vector256<float> d = Vector256.Load(y + j) - vs - vm;
            acc = Vector256.FusedMultiplyAdd(d, d, acc);
        }
        float squares = Vector256.Sum(acc);
        for (; j < cols; j++)
        {
            float d = y[j] - shift - shiftedMean;
            squares = MathF.FusedMultiplyAdd(d, d, squares);
        }
        float rstd = (float)(1.0 / Math.Sqrt((double)(squares / cols) + eps));
        Vector256<float> vr = Vector256.Create(rstd);
        for (j = 0; j <= cols - 8; j += 8)
        {
            Vector256<float> z = (Vector256.Load(y + j) - vs - vm) * vr;
            (z * Vector256.Load(g + j) + Vector256.Load(b + j)).Store(y + j);
        }
        for (; j < cols; j++)
        {
            float z = (y[j] - shift - shiftedMean) * rstd;
            y[j] = z * g[j] + b[j];
        }
    }

    private static void AddLayerNormRow128(float* y, float* x, float* r, float* g, float* b, int cols, float eps)
    {
        float shift = x[0] + r[0];
        Vector128<float> vs = Vector128.Create(shift);
        Vector128<float> acc = Vector128<float>.Zero;
        int j = 0;
        for (; j <= cols - 4; j += 4)
        {
            Vector128<float> s = Vector128.Load(x + j) + Vector128.Load(r + j);
            s.Store(y + j);
            acc += s - vs;
        }
        float sum = Vector128.Sum(acc);
        for (; j < cols; j++)
        {
            float s = x[j] + r[j];
            y[j] = s;
            sum += s - shift;
        }
        float shiftedMean = sum / cols;
        Vector128<float> vm = Vector128.Create(shiftedMean);
        acc = Vector128<float>.Zero;
        for (j = 0; j <= cols - 4; j += 4)
        {
            Vector128<float> d = Vector128.Load(y + j) - vs - vm;
            acc = Vector128.FusedMultiplyAdd(d, d, acc);
        }
        float squares = Vector128.Sum(acc);
        for (; j < cols; j++)
        {
            float d = y[j] - shift - shiftedMean;
            squares = MathF.FusedMultiplyAdd(d, d, squares);
        }
        float rstd = (float)(1.0 / Math.Sqrt((double)(squares / cols) + eps));
        Vector128<float> vr = Vector128.Create(rstd);
        for (j = 0; j <= cols - 4; j += 4)
        {
            Vector128<float> z = (Vector128.Load(y + j) - vs - vm) * vr;
            (z * Vector128.Load(g + j) + Vector128.Load(b + j)).Store(y + j);
        }
        for (; j < cols; j++)
        {
            float z = (y[j] - shift - shiftedMean) * rstd;
            y[j] = z * g[j] + b[j];
        }
    }

}
