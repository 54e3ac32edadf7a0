using System.Diagnostics;
using BigBirdSharp.Backends;
using BigBirdSharp.Kernels;

namespace BigBirdSharp.Bench;

/// <summary>
/// A backend that forwards every operation to another one and adds up the wall time each kind of operation takes (a
/// Linear also by its shape and activation), so a whole forward pass can be broken down by operation. The CPU backend
/// runs each operation to completion, so the time of a call is the operation's. Diagnostics only: the timing itself
/// costs two timestamps per call.
/// </summary>
public sealed class ProfilingBackend : IComputeBackend
{
    private readonly IComputeBackend _inner;
    private readonly Dictionary<string, (long Ticks, long Calls)> _times = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>Wraps <paramref name="inner"/>.</summary>
    public ProfilingBackend(IComputeBackend inner) => _inner = inner;

    /// <summary>Seconds and calls per operation since the last <see cref="Reset"/>.</summary>
    public IReadOnlyList<(string Operation, double Seconds, long Calls)> Snapshot()
    {
        lock (_lock)
            return _times.Select(p => (p.Key, (double)p.Value.Ticks / Stopwatch.Frequency, p.Value.Calls))
                         .OrderByDescending(p => p.Item2).ToList();
    }

    /// <summary>Forgets the times gathered so far.</summary>
    public void Reset()
    {
        lock (_lock) _times.Clear();
    }

    private void Add(string operation, long start)
    {
        long ticks = Stopwatch.GetTimestamp() - start;
        lock (_lock)
        {
            _times.TryGetValue(operation, out var t);
            _times[operation] = (t.Ticks + ticks, t.Calls + 1);
        }
    }

    /// <inheritdoc />
    public string Name => _inner.Name;
    /// <inheritdoc />
    public bool Supports(BackendOp op) => _inner.Supports(op);
    /// <inheritdoc />
    public WorkspacePool Workspace => _inner.Workspace;
    /// <inheritdoc />
    public DeviceBuffer Allocate(int length) => _inner.Allocate(length);
    /// <inheritdoc />
    public DeviceBuffer Upload(ReadOnlyMemory<float> host) => _inner.Upload(host);
    /// <inheritdoc />
    public void Synchronize() => _inner.Synchronize();

    /// <inheritdoc />
    public BoundLinear BindLinear(ReadOnlyMemory<float> weight, ReadOnlyMemory<float> bias, int inFeatures, int outFeatures) =>
        new ProfiledLinear(this, _inner.BindLinear(weight, bias, inFeatures, outFeatures));

    /// <inheritdoc />
    public void Upload(DeviceSpan dst, ReadOnlySpan<float> src)
    {
        long t = Stopwatch.GetTimestamp();
        _inner.Upload(dst, src);
        Add("Upload", t);
    }

    /// <inheritdoc />
    public void Download(DeviceSpan src, Span<float> dst)
    {
        long t = Stopwatch.GetTimestamp();
        _inner.Download(src, dst);
        Add("Download", t);
    }

    /// <inheritdoc />
    public void Linear(DeviceSpan y, DeviceSpan x, BoundLinear weight, int rows, ActivationKind activation = ActivationKind.Linear)
    {
        long t = Stopwatch.GetTimestamp();
        var linear = (ProfiledLinear)weight;
        _inner.Linear(y, x, linear.Inner, rows, activation);
        Add(activation == ActivationKind.Linear
            ? $"Linear {linear.InFeatures}->{linear.OutFeatures}"
            : $"Linear {linear.InFeatures}->{linear.OutFeatures} + {activation}", t);
    }

    /// <inheritdoc />
    public void LayerNorm(DeviceSpan y, DeviceSpan x, DeviceSpan residual, DeviceSpan gamma, DeviceSpan beta, int rows, int cols, float eps)
    {
        long t = Stopwatch.GetTimestamp();
        _inner.LayerNorm(y, x, residual, gamma, beta, rows, cols, eps);
        Add(residual.IsEmpty ? "LayerNorm" : "residual + LayerNorm", t);
    }

    /// <inheritdoc />
    public void EmbeddingSum(DeviceSpan y, int hidden, DeviceSpan wordTable, ReadOnlySpan<int> inputIds, DeviceSpan inputsEmbeds, float wordScale,
                             DeviceSpan tokenTypeTable, ReadOnlySpan<int> tokenTypeIds, DeviceSpan positionTable, ReadOnlySpan<int> positionIds)
    {
        long t = Stopwatch.GetTimestamp();
        _inner.EmbeddingSum(y, hidden, wordTable, inputIds, inputsEmbeds, wordScale, tokenTypeTable, tokenTypeIds, positionTable, positionIds);
        Add("EmbeddingSum", t);
    }

    /// <inheritdoc />
    public void Activate(DeviceSpan x, ActivationKind kind)
    {
        long t = Stopwatch.GetTimestamp();
        _inner.Activate(x, kind);
        Add($"Activate {kind}", t);
    }

    /// <inheritdoc />
    public void Copy(DeviceSpan dst, int dstStride, DeviceSpan src, int srcStride, int rows, int rowLength)
    {
        long t = Stopwatch.GetTimestamp();
        _inner.Copy(dst, dstStride, src, srcStride, rows, rowLength);
        Add("Copy", t);
    }

    /// <inheritdoc />
    public void SplitHeads(DeviceSpan dst, DeviceSpan src, int batch, int seq, int heads, int headDim)
    {
        long t = Stopwatch.GetTimestamp();
        _inner.SplitHeads(dst, src, batch, seq, heads, headDim);
        Add("SplitHeads", t);
    }

    /// <inheritdoc />
    public void MergeHeads(DeviceSpan dst, DeviceSpan src, int batch, int seq, int heads, int headDim)
    {
        long t = Stopwatch.GetTimestamp();
        _inner.MergeHeads(dst, src, batch, seq, heads, headDim);
        Add("MergeHeads", t);
    }

    /// <inheritdoc />
    public void FullAttention(DeviceSpan context, DeviceSpan query, DeviceSpan key, DeviceSpan value, in FullAttentionArgs args)
    {
        long t = Stopwatch.GetTimestamp();
        _inner.FullAttention(context, query, key, value, args);
        Add("FullAttention", t);
    }

    /// <inheritdoc />
    public void BlockSparseAttention(DeviceSpan context, DeviceSpan query, DeviceSpan key, DeviceSpan value, in BlockSparseAttentionArgs args)
    {
        long t = Stopwatch.GetTimestamp();
        _inner.BlockSparseAttention(context, query, key, value, args);
        Add("BlockSparseAttention", t);
    }

    /// <summary>A weight bound to the wrapped backend, handed out under the profiling one.</summary>
    private sealed class ProfiledLinear(ProfilingBackend owner, BoundLinear inner)
        : BoundLinear(owner, inner.InFeatures, inner.OutFeatures, inner.HasBias)
    {
        public BoundLinear Inner { get; } = inner;
    }
}
