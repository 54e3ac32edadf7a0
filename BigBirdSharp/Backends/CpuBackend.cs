using BigBirdSharp.Kernels;

namespace BigBirdSharp.Backends;

/// <summary>
/// The managed CPU backend, default and reference: every operation runs on the SIMD kernels of
/// <see cref="BigBirdSharp.Kernels"/> (AVX-512, AVX2/FMA or scalar, whichever the processor has). Buffers are managed
/// arrays, or views of host memory for uploaded weights, so memory-mapped F32 checkpoints are never copied. Thread-safe.
/// </summary>
public sealed class CpuBackend : IComputeBackend
{
    /// <summary>The shared instance: its operations run on <see cref="ComputePool.Shared"/> (one thread per processor).</summary>
    public static CpuBackend Instance { get; } = new(null);

    private static readonly Dictionary<int, CpuBackend> s_byThreads = [];
    private static readonly Lock s_byThreadsLock = new();

    /// <summary>This backend's own pool, or null for the shared one.</summary>
    private readonly ComputePool? _pool;

    private CpuBackend(ComputePool? pool)
    {
        _pool = pool;
        Workspace = new WorkspacePool(Allocate);
    }

    /// <summary>
    /// The CPU backend whose operations run on <paramref name="threads"/> threads (the calling thread included), for
    /// <c>BigBirdModelOptions.Backend</c>. There is one such backend per thread count in the process, created on first
    /// use; its pool's threads live as long as the process and block when idle, so asking again costs nothing.
    /// </summary>
    /// <param name="threads">Threads per operation, at least 1.</param>
    /// <returns>The backend for that thread count.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="threads"/> is less than 1.</exception>
    public static CpuBackend Create(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        lock (s_byThreadsLock)
        {
            if (!s_byThreads.TryGetValue(threads, out var backend))
                s_byThreads[threads] = backend = new CpuBackend(new ComputePool(threads));
            return backend;
        }
    }

    /// <summary>Threads each operation runs on, the calling thread included.</summary>
    public int Threads => Pool.ThreadCount;

    /// <summary>The pool this backend's operations dispatch to.</summary>
    internal ComputePool Pool => _pool ?? ComputePool.Shared;

    /// <inheritdoc />
    public string Name => "cpu";

    /// <inheritdoc />
    public WorkspacePool Workspace { get; }

    /// <inheritdoc />
    public bool Supports(BackendOp op) => Enum.IsDefined(op);

    /// <inheritdoc />
    public DeviceBuffer Allocate(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        return new CpuBuffer(this, new float[length]);
    }

    /// <inheritdoc />
    public DeviceBuffer Upload(ReadOnlyMemory<float> host) => new CpuBuffer(this, host);

    /// <inheritdoc />
    public void Upload(DeviceSpan dst, ReadOnlySpan<float> src)
    {
        var d = Writable(dst, nameof(dst));
        if (src.Length != d.Length)
            throw new ArgumentException($"Upload of {src.Length} floats into a view of {d.Length}.", nameof(src));
        src.CopyTo(d);
    }

    /// <inheritdoc />
    public void Download(DeviceSpan src, Span<float> dst)
    {
        var s = Read(src, nameof(src));
        if (s.Length != dst.Length)
            throw new ArgumentException($"Download of a view of {s.Length} floats into {dst.Length}.", nameof(dst));
        s.CopyTo(dst);
    }

    /// <inheritdoc />
    public void Synchronize() { }

    /// <inheritdoc />
    public BoundLinear BindLinear(ReadOnlyMemory<float> weight, ReadOnlyMemory<float> bias, int inFeatures, int outFeatures) =>
        new CpuLinear(this, weight, bias, inFeatures, outFeatures);

    /// <inheritdoc />
    public void Linear(DeviceSpan y, DeviceSpan x, BoundLinear weight, int rows, ActivationKind activation = ActivationKind.Linear)
    {
        if (weight is not CpuLinear linear || !ReferenceEquals(weight.Backend, this))
            throw new ArgumentException($"a Linear bound to backend '{weight.Backend.Name}' cannot run on '{Name}'; bind it to this backend at load.", nameof(weight));
        using var pool = ComputePool.Use(_pool);
        linear.Forward(Writable(y, nameof(y)), Read(x, nameof(x)), rows, activation);
    }

    /// <inheritdoc />
    public void LayerNorm(DeviceSpan y, DeviceSpan x, DeviceSpan residual, DeviceSpan gamma, DeviceSpan beta, int rows, int cols, float eps)
    {
        var output = Writable(y, nameof(y));
        var input = Read(x, nameof(x));
        using var pool = ComputePool.Use(_pool);
        if (residual.IsEmpty)
            Normalization.LayerNorm(output, input, Read(gamma, nameof(gamma)), Read(beta, nameof(beta)), rows, cols, eps);
        else
            // one pass: each row's sum x + residual is formed, normalised and written while it is in L1
            Normalization.AddLayerNorm(output, input, Read(residual, nameof(residual)), Read(gamma, nameof(gamma)), Read(beta, nameof(beta)),
                                       rows, cols, eps);
    }

    /// <inheritdoc />
    public void EmbeddingSum(DeviceSpan y, int hidden, DeviceSpan wordTable, ReadOnlySpan<int> inputIds, DeviceSpan inputsEmbeds, float wordScale,
                             DeviceSpan tokenTypeTable, ReadOnlySpan<int> tokenTypeIds, DeviceSpan positionTable, ReadOnlySpan<int> positionIds)
    {
        var output = Writable(y, nameof(y));
        int rows = tokenTypeIds.Length;
        if (hidden <= 0) throw new ArgumentOutOfRangeException(nameof(hidden), hidden, "EmbeddingSum needs a positive hidden size.");
        if (positionIds.Length != rows || (inputIds.IsEmpty ? inputsEmbeds.Length != (long)rows * hidden : inputIds.Length != rows)
            || output.Length != (long)rows * hidden)
            throw new ArgumentException($"EmbeddingSum: {rows} token types, {positionIds.Length} positions, {inputIds.Length} ids / " +
                                        $"{inputsEmbeds.Length} embedding floats and {output.Length} output floats do not agree for hidden {hidden}.");
        ReadOnlySpan<float> words = inputIds.IsEmpty ? Read(inputsEmbeds, nameof(inputsEmbeds)) : Read(wordTable, nameof(wordTable));
        ReadOnlySpan<float> types = Read(tokenTypeTable, nameof(tokenTypeTable)), positions = Read(positionTable, nameof(positionTable));
        for (int i = 0; i < rows; i++)
        {
            var word = inputIds.IsEmpty ? words.Slice(i * hidden, hidden) : TableRow(words, inputIds[i], hidden, "input_ids");
            var type = TableRow(types, tokenTypeIds[i], hidden, "token_type_ids");
            var pos = TableRow(positions, positionIds[i], hidden, "position_ids");
            var e = output.Slice(i * hidden, hidden);
            for (int j = 0; j < hidden; j++)
            {
                float x = wordScale == 1f ? word[j] : word[j] * wordScale;
                e[j] = (x + type[j]) + pos[j];
            }
        }
    }

    private static ReadOnlySpan<float> TableRow(ReadOnlySpan<float> table, int id, int hidden, string name)
    {
        if ((uint)id >= (uint)(table.Length / hidden))
            throw new ArgumentOutOfRangeException(name, id, $"{name} value {id} is outside a table of {table.Length / hidden} rows.");
        return table.Slice(id * hidden, hidden);
    }

    /// <inheritdoc />
    public void Add(DeviceSpan y, DeviceSpan a, DeviceSpan b)
    {
        var output = Writable(y, nameof(y));
        var left = Read(a, nameof(a));
        var right = Read(b, nameof(b));
        if (left.Length != output.Length || right.Length != output.Length)
            throw new ArgumentException($"Add of views of {left.Length} and {right.Length} floats into {output.Length}.");
        System.Numerics.Tensors.TensorPrimitives.Add(left, right, output);
    }

    /// <inheritdoc />
    public void Activate(DeviceSpan x, ActivationKind kind) => Activations.Apply(Writable(x, nameof(x)), kind);

    /// <inheritdoc />
    public void Copy(DeviceSpan dst, int dstStride, DeviceSpan src, int srcStride, int rows, int rowLength)
    {
        var d = Writable(dst, nameof(dst));
        var s = Read(src, nameof(src));
        if (rows < 0 || rowLength < 0 || dstStride < rowLength || (srcStride < rowLength && srcStride != 0))
            throw new ArgumentException($"Copy of {rows} rows of {rowLength} with strides {dstStride} and {srcStride}.");
        if (rows == 0) return;
        if ((long)(rows - 1) * dstStride + rowLength > d.Length || (long)(rows - 1) * srcStride + rowLength > s.Length)
            throw new ArgumentException($"Copy of {rows} rows of {rowLength} (strides {dstStride}, {srcStride}) overruns views of {d.Length} and {s.Length} floats.");
        for (int r = 0; r < rows; r++)
            s.Slice(r * srcStride, rowLength).CopyTo(d.Slice(r * dstStride, rowLength));
    }

    /// <inheritdoc />
    public void SplitHeads(DeviceSpan dst, DeviceSpan src, int batch, int seq, int heads, int headDim)
    {
        var d = Writable(dst, nameof(dst));
        var s = Read(src, nameof(src));
        CheckHeads(d.Length, s.Length, batch, seq, heads, headDim);
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < seq; t++)
                for (int h = 0; h < heads; h++)
                    s.Slice(((b * seq + t) * heads + h) * headDim, headDim).CopyTo(d.Slice(((b * heads + h) * seq + t) * headDim, headDim));
    }

    /// <inheritdoc />
    public void MergeHeads(DeviceSpan dst, DeviceSpan src, int batch, int seq, int heads, int headDim)
    {
        var d = Writable(dst, nameof(dst));
        var s = Read(src, nameof(src));
        CheckHeads(d.Length, s.Length, batch, seq, heads, headDim);
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int t = 0; t < seq; t++)
                    s.Slice(((b * heads + h) * seq + t) * headDim, headDim).CopyTo(d.Slice(((b * seq + t) * heads + h) * headDim, headDim));
    }

    private static void CheckHeads(int dst, int src, int batch, int seq, int heads, int headDim)
    {
        long n = (long)batch * seq * heads * headDim;
        if (batch < 0 || seq < 0 || heads < 0 || headDim < 0 || dst != n || src != n)
            throw new ArgumentException($"head permute of [{batch}, {seq}, {heads}, {headDim}] needs {n} floats, got views of {src} and {dst}.");
    }

    /// <inheritdoc />
    public void FullAttention(DeviceSpan context, DeviceSpan query, DeviceSpan key, DeviceSpan value, in FullAttentionArgs args)
    {
        args.Validate(context, query, key, value);
        using var pool = ComputePool.Use(_pool);
        CpuAttention.Full(WritableMemory(context, nameof(context)), ReadMemory(query, nameof(query)), ReadMemory(key, nameof(key)),
                          ReadMemory(value, nameof(value)), ReadMemory(args.Mask, "mask"),
                          args.Probs.IsEmpty ? default : WritableMemory(args.Probs, "probs"), args);
    }

    /// <inheritdoc />
    public void BlockSparseAttention(DeviceSpan context, DeviceSpan query, DeviceSpan key, DeviceSpan value, in BlockSparseAttentionArgs args)
    {
        args.Validate(context, query, key, value);
        using var pool = ComputePool.Use(_pool);
        CpuAttention.BlockSparse(WritableMemory(context, nameof(context)), ReadMemory(query, nameof(query)), ReadMemory(key, nameof(key)),
                                 ReadMemory(value, nameof(value)), ReadMemory(args.Mask, "mask"),
                                 args.Probs.IsEmpty ? default : WritableMemory(args.Probs, "probs"), args);
    }

    private CpuBuffer Own(DeviceSpan view, string name)
    {
        if (view.Buffer is null) throw new ArgumentException($"{name} is an empty view.", name);
        if (view.Buffer is not CpuBuffer buffer || !ReferenceEquals(buffer.Backend, this))
            throw new ArgumentException($"{name} belongs to backend '{view.Buffer.Backend.Name}', not '{Name}'.", name);
        return buffer;
    }

    private ReadOnlySpan<float> Read(DeviceSpan view, string name) =>
        view.IsEmpty ? default : Own(view, name).Span.Slice(view.Offset, view.Length);

    private Span<float> Writable(DeviceSpan view, string name)
    {
        if (view.IsEmpty) return default;
        var buffer = Own(view, name);
        if (buffer.ReadOnly) throw new ArgumentException($"{name} is an uploaded read-only view (weights or inputs); write into an allocated buffer.", name);
        return buffer.Span.Slice(view.Offset, view.Length);
    }

    private Memory<float> ReadMemory(DeviceSpan view, string name) => view.IsEmpty ? default : Own(view, name).Memory.Slice(view.Offset, view.Length);

    private Memory<float> WritableMemory(DeviceSpan view, string name)
    {
        if (view.IsEmpty) return default;
        var buffer = Own(view, name);
        if (buffer.ReadOnly) throw new ArgumentException($"{name} is an uploaded read-only view (weights or inputs); write into an allocated buffer.", name);
        return buffer.Memory.Slice(view.Offset, view.Length);
    }
}
