using BigBirdSharp.Backends;
using BigBirdSharp.Kernels;

namespace BigBirdSharp.Tests.Backends;

/// <summary>
/// A backend that computes nothing (every operation throws <see cref="NotSupportedException"/>): it only owns buffers and
/// bound weights, so a conformance test can hand its views to the backend under test, which must refuse them.
/// </summary>
internal sealed class ForeignBackend : IComputeBackend
{
    public static ForeignBackend Instance { get; } = new();

    private ForeignBackend() => Workspace = new WorkspacePool(Allocate);

    public string Name => "foreign";
    public WorkspacePool Workspace { get; }
    public bool Supports(BackendOp op) => false;
    public DeviceBuffer Allocate(int length) => new ForeignBuffer(this, length);
    public DeviceBuffer Upload(ReadOnlyMemory<float> host) => new ForeignBuffer(this, host.Length);
    public BoundLinear BindLinear(ReadOnlyMemory<float> weight, ReadOnlyMemory<float> bias, int inFeatures, int outFeatures) =>
        new ForeignLinear(this, inFeatures, outFeatures, !bias.IsEmpty);

    public void Upload(DeviceSpan dst, ReadOnlySpan<float> src) => throw new NotSupportedException();
    public void Download(DeviceSpan src, Span<float> dst) => throw new NotSupportedException();
    public void Synchronize() => throw new NotSupportedException();
    public void Linear(DeviceSpan y, DeviceSpan x, BoundLinear weight, int rows, ActivationKind activation = ActivationKind.Linear) =>
        throw new NotSupportedException();
    public void LayerNorm(DeviceSpan y, DeviceSpan x, DeviceSpan residual, DeviceSpan gamma, DeviceSpan beta, int rows, int cols, float eps) =>
        throw new NotSupportedException();
    public void EmbeddingSum(DeviceSpan y, int hidden, DeviceSpan wordTable, ReadOnlySpan<int> inputIds, DeviceSpan inputsEmbeds, float wordScale,
                             DeviceSpan tokenTypeTable, ReadOnlySpan<int> tokenTypeIds, DeviceSpan positionTable, ReadOnlySpan<int> positionIds) =>
        throw new NotSupportedException();
    public void Add(DeviceSpan y, DeviceSpan a, DeviceSpan b) => throw new NotSupportedException();
    public void Activate(DeviceSpan x, ActivationKind kind) => throw new NotSupportedException();
    public void Copy(DeviceSpan dst, int dstStride, DeviceSpan src, int srcStride, int rows, int rowLength) => throw new NotSupportedException();
    public void SplitHeads(DeviceSpan dst, DeviceSpan src, int batch, int seq, int heads, int headDim) => throw new NotSupportedException();
    public void MergeHeads(DeviceSpan dst, DeviceSpan src, int batch, int seq, int heads, int headDim) => throw new NotSupportedException();
    public void FullAttention(DeviceSpan context, DeviceSpan query, DeviceSpan key, DeviceSpan value, in FullAttentionArgs args) =>
        throw new NotSupportedException();
    public void BlockSparseAttention(DeviceSpan context, DeviceSpan query, DeviceSpan key, DeviceSpan value, in BlockSparseAttentionArgs args) =>
        throw new NotSupportedException();

    private sealed class ForeignBuffer(IComputeBackend backend, int length) : DeviceBuffer(backend, length)
    {
        protected override void Release() { }
    }

    private sealed class ForeignLinear(IComputeBackend backend, int inFeatures, int outFeatures, bool hasBias)
        : BoundLinear(backend, inFeatures, outFeatures, hasBias);
}

/// <summary>
/// Forwards everything to <paramref name="inner"/> but reports <paramref name="missing"/> as unsupported: a model must refuse
/// it at load and name the operation.
/// </summary>
internal sealed class MissingOpBackend(IComputeBackend inner, BackendOp missing) : IComputeBackend
{
    public string Name => $"{inner.Name}-without-{missing}";
    public WorkspacePool Workspace => inner.Workspace;
    public bool Supports(BackendOp op) => op != missing && inner.Supports(op);
    public DeviceBuffer Allocate(int length) => inner.Allocate(length);
    public DeviceBuffer Upload(ReadOnlyMemory<float> host) => inner.Upload(host);
    public void Upload(DeviceSpan dst, ReadOnlySpan<float> src) => inner.Upload(dst, src);
    public void Download(DeviceSpan src, Span<float> dst) => inner.Download(src, dst);
    public void Synchronize() => inner.Synchronize();
    public BoundLinear BindLinear(ReadOnlyMemory<float> weight, ReadOnlyMemory<float> bias, int inFeatures, int outFeatures) =>
        inner.BindLinear(weight, bias, inFeatures, outFeatures);
    public void Linear(DeviceSpan y, DeviceSpan x, BoundLinear weight, int rows, ActivationKind activation = ActivationKind.Linear) =>
        inner.Linear(y, x, weight, rows, activation);
    public void LayerNorm(DeviceSpan y, DeviceSpan x, DeviceSpan residual, DeviceSpan gamma, DeviceSpan beta, int rows, int cols, float eps) =>
        inner.LayerNorm(y, x, residual, gamma, beta, rows, cols, eps);
    public void EmbeddingSum(DeviceSpan y, int hidden, DeviceSpan wordTable, ReadOnlySpan<int> inputIds, DeviceSpan inputsEmbeds, float wordScale,
                             DeviceSpan tokenTypeTable, ReadOnlySpan<int> tokenTypeIds, DeviceSpan positionTable, ReadOnlySpan<int> positionIds) =>
        inner.EmbeddingSum(y, hidden, wordTable, inputIds, inputsEmbeds, wordScale, tokenTypeTable, tokenTypeIds, positionTable, positionIds);
    public void Add(DeviceSpan y, DeviceSpan a, DeviceSpan b) => inner.Add(y, a, b);
    public void Activate(DeviceSpan x, ActivationKind kind) => inner.Activate(x, kind);
    public void Copy(DeviceSpan dst, int dstStride, DeviceSpan src, int srcStride, int rows, int rowLength) =>
        inner.Copy(dst, dstStride, src, srcStride, rows, rowLength);
    public void SplitHeads(DeviceSpan dst, DeviceSpan src, int batch, int seq, int heads, int headDim) =>
        inner.SplitHeads(dst, src, batch, seq, heads, headDim);
    public void MergeHeads(DeviceSpan dst, DeviceSpan src, int batch, int seq, int heads, int headDim) =>
        inner.MergeHeads(dst, src, batch, seq, heads, headDim);
    public void FullAttention(DeviceSpan context, DeviceSpan query, DeviceSpan key, DeviceSpan value, in FullAttentionArgs args) =>
        inner.FullAttention(context, query, key, value, args);
    public void BlockSparseAttention(DeviceSpan context, DeviceSpan query, DeviceSpan key, DeviceSpan value, in BlockSparseAttentionArgs args) =>
        inner.BlockSparseAttention(context, query, key, value, args);
}

/// <summary>
/// Wraps <paramref name="inner"/> so that every buffer and bound weight it hands out belongs to this wrapper, not to the
/// inner backend: a model run through it fails (the inner backend refuses the views, the wrapper refuses foreign ones) if
/// any module computes on a backend other than the one it was loaded with, or reaches into a buffer behind the seam.
/// That is what a device backend relies on, checked here without a device.
/// </summary>
internal sealed class IsolatingBackend : IComputeBackend
{
    private readonly IComputeBackend _inner;

    public IsolatingBackend(IComputeBackend inner)
    {
        _inner = inner;
        Workspace = new WorkspacePool(Allocate);
    }

    /// <summary>Operations run so far, per op (each call counts once).</summary>
    public int[] Calls { get; } = new int[Enum.GetValues<BackendOp>().Length];

    public string Name => "isolated-" + _inner.Name;
    public WorkspacePool Workspace { get; }
    public bool Supports(BackendOp op) => _inner.Supports(op);
    public DeviceBuffer Allocate(int length) => new IsolatedBuffer(this, _inner.Allocate(length));
    public DeviceBuffer Upload(ReadOnlyMemory<float> host) => new IsolatedBuffer(this, _inner.Upload(host));
    public void Upload(DeviceSpan dst, ReadOnlySpan<float> src) => _inner.Upload(Inner(dst), src);
    public void Download(DeviceSpan src, Span<float> dst) => _inner.Download(Inner(src), dst);
    public void Synchronize() => _inner.Synchronize();

    public BoundLinear BindLinear(ReadOnlyMemory<float> weight, ReadOnlyMemory<float> bias, int inFeatures, int outFeatures) =>
        new IsolatedLinear(this, _inner.BindLinear(weight, bias, inFeatures, outFeatures));

    public void Linear(DeviceSpan y, DeviceSpan x, BoundLinear weight, int rows, ActivationKind activation = ActivationKind.Linear)
    {
        Count(BackendOp.Linear);
        if (weight is not IsolatedLinear linear || !ReferenceEquals(linear.Backend, this))
            throw new ArgumentException($"a Linear bound to '{weight.Backend.Name}' reached '{Name}'.", nameof(weight));
        _inner.Linear(Inner(y), Inner(x), linear.Inner, rows, activation);
    }

    public void LayerNorm(DeviceSpan y, DeviceSpan x, DeviceSpan residual, DeviceSpan gamma, DeviceSpan beta, int rows, int cols, float eps)
    {
        Count(BackendOp.LayerNorm);
        _inner.LayerNorm(Inner(y), Inner(x), Inner(residual), Inner(gamma), Inner(beta), rows, cols, eps);
    }

    public void EmbeddingSum(DeviceSpan y, int hidden, DeviceSpan wordTable, ReadOnlySpan<int> inputIds, DeviceSpan inputsEmbeds, float wordScale,
                             DeviceSpan tokenTypeTable, ReadOnlySpan<int> tokenTypeIds, DeviceSpan positionTable, ReadOnlySpan<int> positionIds)
    {
        Count(BackendOp.EmbeddingSum);
        _inner.EmbeddingSum(Inner(y), hidden, Inner(wordTable), inputIds, Inner(inputsEmbeds), wordScale, Inner(tokenTypeTable), tokenTypeIds,
                            Inner(positionTable), positionIds);
    }

    public void Add(DeviceSpan y, DeviceSpan a, DeviceSpan b)
    {
        Count(BackendOp.Add);
        _inner.Add(Inner(y), Inner(a), Inner(b));
    }

    public void Activate(DeviceSpan x, ActivationKind kind)
    {
        Count(BackendOp.Activation);
        _inner.Activate(Inner(x), kind);
    }

    public void Copy(DeviceSpan dst, int dstStride, DeviceSpan src, int srcStride, int rows, int rowLength)
    {
        Count(BackendOp.Copy);
        _inner.Copy(Inner(dst), dstStride, Inner(src), srcStride, rows, rowLength);
    }

    public void SplitHeads(DeviceSpan dst, DeviceSpan src, int batch, int seq, int heads, int headDim)
    {
        Count(BackendOp.Heads);
        _inner.SplitHeads(Inner(dst), Inner(src), batch, seq, heads, headDim);
    }

    public void MergeHeads(DeviceSpan dst, DeviceSpan src, int batch, int seq, int heads, int headDim)
    {
        Count(BackendOp.Heads);
        _inner.MergeHeads(Inner(dst), Inner(src), batch, seq, heads, headDim);
    }

    public void FullAttention(DeviceSpan context, DeviceSpan query, DeviceSpan key, DeviceSpan value, in FullAttentionArgs args)
    {
        Count(BackendOp.FullAttention);
        _inner.FullAttention(Inner(context), Inner(query), Inner(key), Inner(value), args with { Mask = Inner(args.Mask), Probs = Inner(args.Probs) });
    }

    public void BlockSparseAttention(DeviceSpan context, DeviceSpan query, DeviceSpan key, DeviceSpan value, in BlockSparseAttentionArgs args)
    {
        Count(BackendOp.BlockSparseAttention);
        _inner.BlockSparseAttention(Inner(context), Inner(query), Inner(key), Inner(value),
                                    args with { Mask = Inner(args.Mask), Probs = Inner(args.Probs) });
    }

    private void Count(BackendOp op) => Interlocked.Increment(ref Calls[(int)op]);

    /// <summary>The inner backend's view behind one of ours; a view of anyone else's buffer is refused.</summary>
    private DeviceSpan Inner(DeviceSpan view)
    {
        if (view.Buffer is null) return view;
        if (view.Buffer is not IsolatedBuffer buffer || !ReferenceEquals(buffer.Backend, this))
            throw new ArgumentException($"a view of a buffer of '{view.Buffer.Backend.Name}' reached '{Name}'.", nameof(view));
        ObjectDisposedException.ThrowIf(buffer.IsDisposed, buffer);
        return new DeviceSpan(buffer.Inner, view.Offset, view.Length);
    }

    private sealed class IsolatedBuffer(IsolatingBackend backend, DeviceBuffer inner) : DeviceBuffer(backend, inner.Length)
    {
        public DeviceBuffer Inner { get; } = inner;
        protected override void Release() => Inner.Dispose();
    }

    private sealed class IsolatedLinear(IsolatingBackend backend, BoundLinear inner)
        : BoundLinear(backend, inner.InFeatures, inner.OutFeatures, inner.HasBias)
    {
        public BoundLinear Inner { get; } = inner;
    }
}
